import { z } from 'zod';
import { nextWidth } from '../arch/space';
import { freshDenseId, locateLayer, validateDenseNet } from './analysis';
import { DENSE_COMPRESSION, DENSE_STEM_RATIO, type DenseNet, DenseNetError, type DenseSpace } from './schema';

/**
 * Widen every listed dense layer (by id) to the next growth rate of the space: its 3×3 conv to the new growth rate k'
 * and its bottleneck (1×1 conv) to bottleneckFactor·k' (never narrower than it was), as the authors' code does
 * (han-cai/EAS, arch_search_densenet_net2net.py `apply_wider_decision`: `in_bottle` to bc_ratio·new_gr, then the branch
 * to new_gr). After every action the stem and the transitions are re-widened (`rewidenDenseNet`).
 */
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

/**
 * The authors' `widen_transition` (han-cai/EAS, arch_search_densenet_net2net.py), as a rule on the structure: the stem
 * grows to ⌊stemRatio · mean growth rate⌋ and then, block by block, each transition to ⌊compression · its input
 * channels⌋, each only when that is wider than it is (never narrowed). Idempotent. Their code applies it once after a
 * sample's wider and deeper steps; here it follows every action, which gives the same transitions (channel counts only
 * grow, so the last application decides) and the same stem unless a later Net2Deeper step lowers the mean growth rate.
 */
export function rewidenDenseNet(net: DenseNet, space: DenseSpace): DenseNet {
  const compression = space.compression ?? DENSE_COMPRESSION;
  const stemRatio = space.stemRatio ?? DENSE_STEM_RATIO;
  const layers = net.blocks.flatMap((b) => b.layers);
  const total = layers.reduce((a, l) => a + l.growth, 0);
  const stemTarget = layers.length && stemRatio > 0 ? Math.floor((total / layers.length) * stemRatio) : 0;
  const stem = stemTarget > net.stem.filters ? { ...net.stem, filters: stemTarget } : net.stem;
  let c = stem.filters;
  let changed = stem !== net.stem;
  const blocks = net.blocks.map((b) => {
    c += b.layers.reduce((a, l) => a + l.growth, 0);
    if (b.transition === undefined) return b;
    const target = Math.floor(c * compression);
    c = Math.max(b.transition, target);
    if (c === b.transition) return b;
    changed = true;
    return { ...b, transition: c };
  });
  return changed ? validateDenseNet({ ...net, stem, blocks }) : net;
}

/** The network after one action, before `rewidenDenseNet`: the transform applies the two parts one after the other. */
export function applyDenseActionStructure(net: DenseNet, action: DenseAction, space: DenseSpace): DenseNet {
  if (action.type === 'wider') {
    const want = new Set(action.layers);
    for (const id of want) locateLayer(net, id);
    const blocks = net.blocks.map((b, bi) => ({
      ...b,
      layers: b.layers.map((l) => {
        if (!want.has(l.id)) return l;
        const next = nextWidth(space.growthRates, l.growth);
        if (next === undefined) throw new DenseNetError(`block ${bi + 1} layer ${l.id}`, 'wider-max', `growth ${l.growth} is already at the space's maximum {${space.growthRates.join(', ')}}`);
        return { ...l, growth: next, bottleneck: Math.max(l.bottleneck, space.bottleneckFactor * next) };
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

/** The network after one action (then the stem and transitions re-widened); weights are the transform's business. Throws DenseNetError when invalid. */
export function applyDenseActionToNet(net: DenseNet, action: DenseAction, space: DenseSpace): DenseNet {
  return rewidenDenseNet(applyDenseActionStructure(net, action, space), space);
}
