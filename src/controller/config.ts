import { z } from 'zod';

/**
 * Meta-controller configuration. Defaults are the paper's ("Training Details") and the reference code's
 * (han-cai/EAS, code/arch_search/arch_search_convnet_net2net.py).
 */
export const ControllerConfigSchema = z
  .object({
    embeddingSize: z.number().int().positive().default(16),
    /** Units of each direction of the bidirectional LSTM encoder. */
    encoderUnits: z.number().int().positive().default(50),
    /** Net2Deeper decoder LSTM units; 2 × encoderUnits lets it start from the concatenated encoder state as-is. */
    decoderUnits: z.number().int().positive().default(100),
    learningRate: z.number().positive().default(2e-3),
    entropyBonus: z.number().nonnegative().default(1e-5),
    baselineDecay: z.number().min(0).max(1).default(0.95),
    /**
     * How the EMA baseline b is updated (see reward.ts `baselineStep`):
     * - 'paper' (default): the paper's "exponential moving average of previous rewards": A = R − b with b from the
     *   previous batches only, then b ← decay·b + (1 − decay)·mean(R); the first batch, having no previous rewards, is
     *   centred on its own mean.
     * - 'released-code': what han-cai/EAS arch_manager.py `reward()` does: b ← b + decay·(mean(R) − b) *before*
     *   A = R − b, so the current batch has weight `decay` in its own baseline (b starts at 0).
     * 'classic' and 'reference' are the earlier names of 'paper' and 'released-code' (old configs and checkpoints).
     */
    baselineUpdate: z.enum(['paper', 'released-code', 'classic', 'reference']).default('paper'),
    reward: z.enum(['tan', 'acc']).default('tan'),
    /** Accuracies are clipped to [0, accClip] before tan(acc·π/2): tan(0.99·π/2) ≈ 63.7 instead of ∞ at 1. */
    accClip: z.number().gt(0).lt(1).default(0.99),
    widerSteps: z.number().int().nonnegative().default(4),
    deeperSteps: z.number().int().nonnegative().default(5),
    /** Optional second objective: reward −= paramPenalty · paramCount(final arch) / 1e6. Off (0) by default. */
    paramPenalty: z.number().nonnegative().default(0),
    /** Size of the Net2Deeper block head; blocks beyond it cannot be chosen. */
    maxBlocks: z.number().int().positive().default(8),
    /** Size of the Net2Deeper position head; positions beyond it cannot be chosen. */
    maxPositions: z.number().int().positive().default(32),
    /** Pool tokens exist for both ops, every size ≤ poolMaxSize and stride ≤ size; other pools encode as UNK. */
    poolMaxSize: z.number().int().positive().default(8),
  })
  .strict();

export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;
export type ControllerConfigInput = z.input<typeof ControllerConfigSchema>;

export const DEFAULT_CONTROLLER_CONFIG: ControllerConfig = ControllerConfigSchema.parse({});

export function parseControllerConfig(raw: unknown): ControllerConfig {
  const r = ControllerConfigSchema.safeParse(raw ?? {});
  if (!r.success) throw new Error(`invalid controller config: ${z.prettifyError(r.error)}`);
  return r.data;
}
