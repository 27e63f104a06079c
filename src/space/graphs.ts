import { DENSE_GRAPHS } from '../densenet/model';
import { PLAIN_GRAPHS } from '../nn/model';
import type { NetGraphs } from '../nn/network';
import type { SearchSpaceConfig } from './config';
import { memoByKind, spaceKindOfNet, spaceOfNet } from './index';
import type { AnySearchSpace } from './types';

/**
 * A stored network's space with its weight layout and graph, but without the transforms: what checkpoints, training
 * and exports need (the training worker's own process never loads the Net2Net code). The control tasks use the whole
 * NetworkSpace (src/space/networks.ts).
 */
export interface StoredNetSpace extends AnySearchSpace, NetGraphs<unknown> {}

/** Each space's weight layout and graph, by kind. */
export const GRAPHS: { [K in SearchSpaceConfig['kind']]: NetGraphs<unknown> } = {
  plain: PLAIN_GRAPHS as NetGraphs<unknown>,
  densenet: DENSE_GRAPHS as NetGraphs<unknown>,
};

/** The space a stored network belongs to (told by arch.json), unbounded, with its weight layout and graph. */
export function storedSpaceOfNet(raw: unknown): StoredNetSpace {
  return memoByKind(STORED, spaceKindOfNet(raw), (kind) => {
    const { weightSpecs, graph, inputShape } = GRAPHS[kind];
    return Object.assign(Object.create(spaceOfNet(raw)) as AnySearchSpace, { weightSpecs, graph, inputShape });
  });
}

const STORED = new Map<SearchSpaceConfig['kind'], StoredNetSpace>();
