import { z } from 'zod';
import { InputShapeSchema } from '../arch/schema';

/**
 * DenseNet-BC (Huang et al. 2017) as the paper's second search space. Pre-activation throughout, as in DenseNet and
 * the authors' code (han-cai/EAS, models/dense_net.py):
 * - stem: a conv (3×3, stride 1 on CIFAR-sized inputs) with no BN/ReLU after it; the first dense layer's BN does that;
 * - dense layer: BN-ReLU-Conv1×1 (`bottleneck` filters, 4·growth in DenseNet-BC), BN-ReLU-Conv3×3 (`growth` filters),
 *   its output concatenated to its input, so layer m of a block sees [O0, O1, …, Om−1] (O0 is the block's input);
 * - transition (between blocks): BN-ReLU-Conv1×1 (`filters`), 2×2 average pool. Its width is stored, not derived, so
 *   any width loads (arch.json files written before the re-widening rule included); built and re-widened as the
 *   authors' code does it (arch_search_densenet_net2net.py, `widen_transition`): after every transformation each
 *   transition is widened, function-preservingly, to ⌊compression · its input channels⌋ when that is larger (never
 *   narrowed), and the stem to ⌊stemRatio · mean growth rate⌋ (see DenseSpace, `rewidenDenseNet` in actions.ts);
 * - classifier: BN-ReLU, global average pool, fully-connected with bias (logits).
 * Every dense layer has its own growth rate and a stable `id` (weights are named after it), so a layer can be widened
 * and layers inserted while names survive. Transitions are named after their block (T1 after block 1): blocks are
 * never added or removed, so those names are stable too.
 */
export const DenseLayerSchema = z
  .object({ id: z.string().min(1), growth: z.number().int().positive(), bottleneck: z.number().int().positive() })
  .strict();

export const DenseBlockSchema = z
  .object({
    layers: z.array(DenseLayerSchema).min(1),
    /** Output channels of the transition after this block; absent on the last block (the classifier follows it). */
    transition: z.number().int().positive().optional(),
  })
  .strict();

export const DenseNetSchema = z
  .object({
    space: z.literal('densenet'),
    /** [height, width, channels] */
    input: InputShapeSchema,
    stem: z.object({ filters: z.number().int().positive(), kernel: z.number().int().positive() }).strict(),
    blocks: z.array(DenseBlockSchema).min(1),
    classes: z.number().int().min(2),
  })
  .strict();

export type DenseLayer = z.infer<typeof DenseLayerSchema>;
export type DenseBlock = z.infer<typeof DenseBlockSchema>;
export type DenseNet = z.infer<typeof DenseNetSchema>;

/** The DenseNet search space: growth rates the wider actor may choose (the paper's {40, 44, …, 64}). */
export const DenseSpaceSchema = z
  .object({
    growthRates: z.array(z.number().int().positive()).nonempty().default([40, 44, 48, 52, 56, 60, 64]),
    /** Bottleneck width of a layer as a multiple of its growth rate (DenseNet-BC: 4). */
    bottleneckFactor: z.number().int().positive().default(4),
    /** Net2Deeper stops adding layers to a block at this size. */
    maxLayersPerBlock: z.number().int().positive().default(64),
    /**
     * Transitions are re-widened after every transformation to ⌊compression · their input channels⌋ when that is larger
     * (DenseNet-BC's 0.5: the authors' `reduction`). Optional so that spaces and policy checkpoints written before the
     * rule parse unchanged; absent means DENSE_COMPRESSION.
     */
    compression: z.number().gt(0).lte(1).optional(),
    /**
     * The stem is re-widened after every transformation to ⌊stemRatio · the mean growth rate of all dense layers⌋ when
     * that is larger (the authors' `first_ratio`, 2: a standard DenseNet-BC's stem has 2k filters); 0 never re-widens it.
     * Absent means DENSE_STEM_RATIO.
     */
    stemRatio: z.number().nonnegative().optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (let i = 1; i < s.growthRates.length; i++) {
      if (s.growthRates[i] <= s.growthRates[i - 1]) {
        ctx.addIssue({ code: 'custom', path: ['growthRates', i], message: 'growthRates must be strictly increasing' });
        break;
      }
    }
  });
export type DenseSpace = z.infer<typeof DenseSpaceSchema>;
/** DenseNet-BC's compression (the authors' `reduction` in run_dense_net.py) when the space does not say. */
export const DENSE_COMPRESSION = 0.5;
/** The stem's width as a multiple of the growth rate (the authors' `first_ratio`) when the space does not say. */
export const DENSE_STEM_RATIO = 2;
export const DEFAULT_DENSE_SPACE: DenseSpace = DenseSpaceSchema.parse({});

/** A DenseNet breaks a structural rule; `where` names the part (e.g. "block 2 layer L7", "stem"). */
export class DenseNetError extends Error {
  constructor(
    readonly where: string,
    readonly rule: string,
    detail: string,
  ) {
    super(`${where}: ${detail} (rule: ${rule})`);
    this.name = 'DenseNetError';
  }
}
