import { z } from 'zod';
import { nextWidth } from '../arch/space';
import { freshDenseId, locateLayer, validateDenseNet } from './analysis';
import { type DenseNet, DenseNetError, type DenseSpace } from './schema';

/** Widen every listed dense layer (by id) to the next growth rate of the space (the non-bottleneck conv's width). */
export const DenseWiderActionSchema = z.object({ type: z.literal('wider'), layers: z.array(z.string()) }).strict();
/**
 * Insert a dense layer into block `block` right after its layer `position` (0-based). The new layer replicates
 * entries of that layer's output (see net2deeperDense), so it takes its growth rate and bottleneck width.
 */
export const DenseDeeperActionSchema = z.object({ type: z.literal('deeper'), block: z.number().int().nonnegative(), position: z.number().int().nonnegative() }).strict();
export const DenseActionSchema = z.discriminatedUnion('type', [DenseWiderActionSchema, DenseDeeperActionSchema]);
export type DenseWiderAction = z.infer<typeof DenseWiderActionSchema>;
export type DenseDeeperAction = z.infer<typeof DenseDeeperActionSchema>;
export type DenseAction = z.infer<typeof DenseActionSchema>;

/** Per block, per layer: whether the layer can still grow (its growth is below the space's largest rate). */
export function denseWidenable(net: DenseNet, space: DenseSpace): boolean[][] {
  return net.blocks.map((b) => b.layers.map((l) => nextWidth(space.growthRates, l.growth) !== undefined));
}

/** Per block, per position: whether a layer may be inserted after that layer (the block is below its size limit). */
export function denseDeeperMask(net: DenseNet, space: DenseSpace): boolean[][] {
  return net.blocks.map((b) => b.layers.map(() => b.layers.length < space.maxLayersPerBlock));
}

/** The network after one action; weights are the transform's business. Throws DenseNetError when invalid. */
export function applyDenseActionToNet(net: DenseNet, action: DenseAction, space: DenseSpace): DenseNet {
  if (action.type === 'wider') {
    const want = new Set(action.layers);
    for (const id of want) locateLayer(net, id);
    const blocks = net.blocks.map((b, bi) => ({
      ...b,
      layers: b.layers.map((l) => {
        if (!want.has(l.id)) return l;
        const next = nextWidth(space.growthRates, l.growth);
        if (next === undefined) throw new DenseNetError(`block ${bi + 1} layer ${l.id}`, 'wider-max', `growth ${l.growth} is already at the space's maximum {${space.growthRates.join(', ')}}`);
        return { ...l, growth: next };
      }),
    }));
    return validateDenseNet({ ...net, blocks });
  }
  const block = net.blocks[action.block];
  if (!block) throw new DenseNetError('deeper', 'deeper-block', `block ${action.block} does not exist (network has ${net.blocks.length} blocks)`);
  const copied = block.layers[action.position];
  if (!copied) throw new DenseNetError('deeper', 'deeper-position', `position ${action.position} does not exist in block ${action.block} (it has ${block.layers.length} layers)`);
  if (block.layers.length >= space.maxLayersPerBlock) throw new DenseNetError('deeper', 'deeper-block-size', `block ${action.block} already has the space's maximum of ${space.maxLayersPerBlock} layers`);
  const layer = { id: freshDenseId(net), growth: copied.growth, bottleneck: copied.bottleneck };
  const layers = [...block.layers.slice(0, action.position + 1), layer, ...block.layers.slice(action.position + 1)];
  return validateDenseNet({ ...net, blocks: net.blocks.map((b, bi) => (bi === action.block ? { ...b, layers } : b)) });
}
