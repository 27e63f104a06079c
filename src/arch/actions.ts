import { z } from 'zod';
import { ArchError } from './errors';
import { blocks, shapes, validateArch } from './analysis';
import { type Arch, type Layer, isWeighted, widthOf } from './schema';
import { type SearchSpace, nextWidth } from './space';

/** One Net2Wider step: every listed layer (by id) grows to the next width of the search space. */
export const WiderActionSchema = z.object({ type: z.literal('wider'), layers: z.array(z.string()) }).strict();
/**
 * One Net2Deeper step, in the decoder's terms: a block of `blocks(arch)`, a position in its `insertAfter`
 * list, and the kernel size for a new conv (absent for an fc).
 */
export const DeeperActionSchema = z
  .object({ type: z.literal('deeper'), block: z.number().int().nonnegative(), position: z.number().int().nonnegative(), kernel: z.number().int().positive().optional() })
  .strict();
export const ActionSchema = z.discriminatedUnion('type', [WiderActionSchema, DeeperActionSchema]);
export type WiderAction = z.infer<typeof WiderActionSchema>;
export type DeeperAction = z.infer<typeof DeeperActionSchema>;
export type Action = z.infer<typeof ActionSchema>;

/** Layers a Net2Wider step may widen: conv and fc layers below the space's maximum width. */
export function widenable(arch: Arch, space: SearchSpace): boolean[] {
  return arch.layers.map((l) => (l.type === 'conv' ? nextWidth(space.convFilters, l.filters) !== undefined : l.type === 'fc' ? nextWidth(space.fcUnits, l.units) !== undefined : false));
}

/** A fresh layer id: one past the largest numeric suffix in use, so ids never collide after insertions. */
export function freshId(arch: Arch): string {
  let max = -1;
  for (const l of arch.layers) {
    const m = /(\d+)$/.exec(l.id);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return `L${max + 1}`;
}

export interface ResolvedDeeper {
  /** Index in arch.layers after which the new layer is inserted. */
  after: number;
  layer: Layer;
}

/** Width of the input that a layer inserted after `after` receives (channels, or flattened size for an fc). */
function widthBelow(arch: Arch, after: number, asFc: boolean): number {
  const { layers } = shapes(arch);
  const below = arch.layers[after];
  if (below.type === 'fc') return below.units;
  const out = layers[after].out;
  return asFc ? out[0] * out[1] * out[2] : out[2];
}

/** Turn the decoder's (block, position, kernel) into a concrete insertion; throws ArchError when invalid. */
export function resolveDeeper(arch: Arch, action: DeeperAction, space: SearchSpace): ResolvedDeeper {
  const bs = blocks(arch);
  const block = bs[action.block];
  if (!block) throw new ArchError(-1, 'deeper-block', `block ${action.block} does not exist (network has ${bs.length} blocks)`);
  const after = block.insertAfter[action.position];
  if (after === undefined || after < 0) throw new ArchError(-1, 'deeper-position', `position ${action.position} does not exist in block ${action.block}`);
  const id = freshId(arch);
  if (block.kind === 'fc') {
    if (action.kernel !== undefined) throw new ArchError(after, 'deeper-fc-kernel', 'a new fc layer takes no kernel size');
    const units = widthBelow(arch, after, true);
    if (!space.fcUnits.includes(units)) throw new ArchError(after, 'fc-units-in-space', `an identity fc here would need ${units} units, not in the search space`);
    return { after, layer: { id, type: 'fc', units } };
  }
  if (action.kernel === undefined || !space.convKernels.includes(action.kernel)) {
    throw new ArchError(after, 'deeper-conv-kernel', `a new conv needs a kernel size from {${space.convKernels.join(', ')}}, got ${action.kernel}`);
  }
  const filters = widthBelow(arch, after, false);
  return { after, layer: { id, type: 'conv', filters, kernel: action.kernel, stride: 1 } };
}

/** Valid positions per block for a Net2Deeper step (false where the identity layer would leave the space). */
export function deeperPositionMask(arch: Arch, space: SearchSpace): boolean[][] {
  return blocks(arch).map((b) =>
    b.insertAfter.map((after) => {
      if (after < 0) return false;
      if (b.kind === 'conv') return true;
      return space.fcUnits.includes(widthBelow(arch, after, true));
    }),
  );
}

/** The architecture after one action; weights are the transform module's business. */
export function applyActionToArch(arch: Arch, action: Action, space: SearchSpace): Arch {
  if (action.type === 'wider') {
    const want = new Set(action.layers);
    for (const id of want) {
      const i = arch.layers.findIndex((l) => l.id === id);
      if (i < 0) throw new ArchError(-1, 'wider-layer', `no layer with id "${id}"`);
      if (!isWeighted(arch.layers[i])) throw new ArchError(i, 'wider-layer', `${arch.layers[i].type} layers have no width to grow`);
    }
    const layers = arch.layers.map((l, i): Layer => {
      if (!want.has(l.id) || !isWeighted(l)) return l;
      const levels = l.type === 'conv' ? space.convFilters : space.fcUnits;
      const next = nextWidth(levels, widthOf(l));
      if (next === undefined) throw new ArchError(i, 'wider-max', `${l.type} ${l.id} is already at the space's maximum width ${widthOf(l)}`);
      return l.type === 'conv' ? { ...l, filters: next } : { ...l, units: next };
    });
    const out = { ...arch, layers };
    validateArch(out, space);
    return out;
  }
  const { after, layer } = resolveDeeper(arch, action, space);
  const layers = [...arch.layers.slice(0, after + 1), layer, ...arch.layers.slice(after + 1)];
  const out = { ...arch, layers };
  validateArch(out, space);
  return out;
}

export function applyActionsToArch(arch: Arch, actions: readonly Action[], space: SearchSpace): Arch {
  return actions.reduce((a, act) => applyActionToArch(a, act, space), arch);
}
