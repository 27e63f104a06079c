import { z } from 'zod';
import { ActionSchema } from '../arch/actions';
import { type Arch, ArchSchema } from '../arch/schema';
import { DenseActionSchema } from '../densenet/actions';
import { type DenseNet, DenseNetSchema } from '../densenet/schema';
import type { SearchSpaceConfig } from './config';
import { DenseNetSpace } from './densenet';
import { PlainSpace } from './plain';
import type { AnySearchSpace } from './types';

export * from './types';
export * from './config';
export { PlainSpace } from './plain';
export { DenseNetSpace } from './densenet';

/** Options that shape a space's controller view (the plain vocabulary's pool tokens: ControllerConfig.poolMaxSize). */
export interface SpaceOptions {
  poolMaxSize?: number;
  /**
   * Networks are not held to the settings' limits (a space built for a stored network, whose search's limits are not
   * at hand: checkpoints, `eas train`, reports): validate and parse check structure only.
   */
  unbounded?: boolean;
}

/** One constructor per space kind: the pure spaces here, their tensor halves in src/space/networks.ts. */
export type SpaceConstructors<T> = { [K in SearchSpaceConfig['kind']]: (settings: unknown) => T };

/** Build the space `config` names with `make` (an unknown kind is refused, naming it). */
export function buildSpace<T>(config: SearchSpaceConfig, make: SpaceConstructors<T>): T {
  const { kind, ...settings } = config;
  const ctor = make[kind];
  if (!ctor) throw new Error(`unknown searchSpace.kind "${String(kind)}" (expected ${Object.keys(make).join(' or ')})`);
  return ctor(settings);
}

/** The search space a config's `searchSpace` names. Pure: the workflow may call it. */
export function spaceOf(config: SearchSpaceConfig, opts: SpaceOptions = {}): AnySearchSpace {
  return buildSpace<AnySearchSpace>(config, { plain: (s) => new PlainSpace(s, opts) as AnySearchSpace, densenet: (s) => new DenseNetSpace(s) as AnySearchSpace });
}

/** The space a stored network (arch.json, a sample's network) belongs to (its kind; see spaceOfNet). */
export function spaceKindOfNet(raw: unknown): SearchSpaceConfig['kind'] {
  return new DenseNetSpace().owns(raw) ? 'densenet' : 'plain';
}

/** A network of either shipped space (what arch.json, an epoch checkpoint or a sample holds). */
export type AnyNet = Arch | DenseNet;
export const AnyNetSchema = z.union([ArchSchema, DenseNetSchema]);

/** The (pure) space a stored network belongs to, with default settings and unbounded (structure only): notation, key, parameter count. */
export function spaceOfNet(raw: unknown): AnySearchSpace {
  return memoByKind(STORED_SPACES, spaceKindOfNet(raw), (kind) => spaceOf({ kind } as SearchSpaceConfig, { unbounded: true }));
}

/** Spaces are immutable: one default, unbounded space per kind serves every stored network of that kind. */
const STORED_SPACES = new Map<SearchSpaceConfig['kind'], AnySearchSpace>();

/** The value `make` gives for `kind`, made once and kept in `memo`. */
export function memoByKind<T>(memo: Map<SearchSpaceConfig['kind'], T>, kind: SearchSpaceConfig['kind'], make: (kind: SearchSpaceConfig['kind']) => T): T {
  let value = memo.get(kind);
  if (value === undefined) memo.set(kind, (value = make(kind)));
  return value;
}

/** An action of either shipped space, where records hold actions of any search (candidate records, results). */
export const AnyActionSchema = z.union([ActionSchema, DenseActionSchema]);
