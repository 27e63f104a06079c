import { z } from 'zod';
import { ActionSchema, type Arch, ArchSchema, type SearchSpace } from '../arch';
import type { ControllerCheckpoint } from './checkpoint';
import type { ControllerConfig } from './config';

/** A Net2Wider decision: one Bernoulli per layer of `arch`, taken only where `mask` is true. */
export const WiderDecisionSchema = z
  .object({ type: z.literal('wider'), arch: ArchSchema, mask: z.array(z.boolean()), widen: z.array(z.boolean()) })
  .strict();

/**
 * A Net2Deeper decision on `arch`: a block (valid where blockMask), a position in it (valid where positionMask), and
 * for a conv block a kernel index into the space's convKernels (valid where kernelMask); both null for the fc block.
 */
export const DeeperDecisionSchema = z
  .object({
    type: z.literal('deeper'),
    arch: ArchSchema,
    blockMask: z.array(z.boolean()),
    block: z.number().int().nonnegative(),
    positionMask: z.array(z.boolean()),
    position: z.number().int().nonnegative(),
    kernelMask: z.array(z.boolean()).nullable(),
    kernelIndex: z.number().int().nonnegative().nullable(),
  })
  .strict();

export const DecisionSchema = z.discriminatedUnion('type', [WiderDecisionSchema, DeeperDecisionSchema]);

/** One sampled network: the actions from the start net, the final architecture, and every decision with its mask. */
export const SampleSchema = z.object({ actions: z.array(ActionSchema), arch: ArchSchema, decisions: z.array(DecisionSchema) }).strict();

export type WiderDecision = z.infer<typeof WiderDecisionSchema>;
export type DeeperDecision = z.infer<typeof DeeperDecisionSchema>;
export type Decision = z.infer<typeof DecisionSchema>;
export type Sample = z.infer<typeof SampleSchema>;

export interface UpdateStats {
  /** Reward per network (after the accuracy transform and the optional parameter penalty). */
  rewards: number[];
  /** Reward − baseline per network, shared by all of its decisions. */
  advantages: number[];
  meanReward: number;
  /** Baseline after this update. */
  baseline: number;
  /** Updates applied so far (the random controller counts calls but learns nothing). */
  updates: number;
  /** Policy-gradient loss and mean decision entropy before the step (NaN for the random controller). */
  loss: number;
  entropy: number;
}

export type ControllerKind = 'rl' | 'random';

/** What the search loop needs from a controller, RL or random, so both can run side by side on the same budget. */
export interface Controller {
  readonly kind: ControllerKind;
  readonly config: ControllerConfig;
  readonly space: SearchSpace;
  /** n networks from `start` (widerSteps Net2Wider then deeperSteps Net2Deeper steps); same state + seed → same samples. */
  sample(start: Arch, n: number, seed: number): Sample[];
  /**
   * One update from an episode: accuracies in [0, 1], one per sample; a failed or diverged network
   * (NaN/Infinity/null accuracy) counts as accuracy 0.
   */
  update(samples: Sample[], accuracies: readonly (number | null)[]): UpdateStats;
  /** The whole state as one JSON-serialisable object (what `save` writes atomically). */
  toCheckpoint(): ControllerCheckpoint;
  save(path: string): void;
  dispose(): void;
}
