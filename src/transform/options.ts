import { z } from 'zod';

/**
 * How the search's transformations break replica symmetry (issue 12). Exact Net2Wider copies a unit's incoming
 * weights and splits its outgoing weights equally, so the replicas get identical gradients and stay copies forever:
 * widening then adds no capacity. A random split of the outgoing weights (still exactly function-preserving) and/or the
 * authors' noise (1e-2 of the weights' scale when widening, 1e-3 when deepening) breaks that symmetry.
 */
export const TransformOptionsSchema = z
  .object({
    wider: z
      .object({
        /** 'random': outgoing weights of the replicas split with random shares summing to 1 (exact); 'equal': 1/n each. */
        split: z.enum(['equal', 'random']).default('random'),
        /** Gaussian noise on the replicas' incoming weights, as a fraction of those weights' standard deviation. */
        noise: z.number().min(0).max(1).default(1e-2),
      })
      .strict()
      .default({ split: 'random', noise: 1e-2 }),
    deeper: z
      .object({
        /** Gaussian noise on the identity layer's kernel, as a fraction of its scale (the authors: 1e-3). */
        noise: z.number().min(0).max(1).default(1e-3),
      })
      .strict()
      .default({ noise: 1e-3 }),
  })
  .strict();
export type TransformOptions = z.infer<typeof TransformOptionsSchema>;
export type TransformOptionsInput = z.input<typeof TransformOptionsSchema>;
export const DEFAULT_TRANSFORM_OPTIONS: TransformOptions = TransformOptionsSchema.parse({});
