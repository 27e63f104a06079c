import * as fs from 'node:fs';
import { z } from 'zod';
import type { ControllerConfig } from '../controller/config';
import { baselineStep, cleanAccuracy } from '../controller/reward';
import { writeJsonAtomic } from '../util/atomic';
import { denseParamCount } from './analysis';
import { type DenseSample, randomDenseChooser, sampleDense } from './controller';
import type { DenseNet, DenseSpace } from './schema';

/**
 * The DenseNet search's controller state between episodes. The random twin (src/densenet/controller.ts) never learns,
 * but, as the plain RandomController does, it tracks the reward baseline and the number of updates for the reports;
 * this file is its policy checkpoint (the workflow passes it from update to update).
 */
export const DENSE_POLICY_FORMAT = 'eas-dense-controller';
export const DensePolicySchema = z
  .object({ format: z.literal(DENSE_POLICY_FORMAT), version: z.literal(1), kind: z.literal('random'), space: z.unknown(), updates: z.number().int().nonnegative(), baseline: z.number().nullable() })
  .strict();
export type DensePolicy = z.infer<typeof DensePolicySchema>;

export function readDensePolicy(file: string): DensePolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the DenseNet controller checkpoint (${(err as Error).message})`, { cause: err });
  }
  const r = DensePolicySchema.safeParse(raw);
  if (!r.success) throw new Error(`${file}: not a DenseNet controller checkpoint: ${r.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** n networks from `start` with the random twin (network i from deriveSeed(seed, 'sample', i)). */
export function sampleDenseRandom(start: DenseNet, n: number, seed: number, steps: { widerSteps: number; deeperSteps: number }, space: DenseSpace): DenseSample[] {
  return sampleDense(randomDenseChooser, start, n, seed, steps, space);
}

/** The plain space's reward (src/controller/reward.ts) with the DenseNet's parameter count for the optional penalty. */
export function denseReward(acc: number, net: DenseNet, config: ControllerConfig): number {
  const a = Math.min(Math.max(acc, 0), config.accClip);
  const base = config.reward === 'tan' ? Math.tan((a * Math.PI) / 2) : a;
  return config.paramPenalty > 0 ? base - (config.paramPenalty * denseParamCount(net)) / 1e6 : base;
}

export interface DenseUpdateStats {
  policy: DensePolicy;
  rewards: number[];
  advantages: number[];
  meanReward: number;
}

/** One episode's bookkeeping for the random twin: rewards, the baseline step and the update count. */
export function denseRandomUpdate(prev: DensePolicy | null, samples: readonly DenseSample[], accuracies: readonly (number | null)[], config: ControllerConfig, space: DenseSpace): DenseUpdateStats {
  if (samples.length === 0 || samples.length !== accuracies.length) throw new Error(`update needs one accuracy per sample, got ${samples.length} samples and ${accuracies.length} accuracies`);
  const rewards = samples.map((s, i) => denseReward(cleanAccuracy(accuracies[i], i), s.net, config));
  const { baseline, advantages } = baselineStep(prev?.baseline ?? null, rewards, config);
  const meanReward = rewards.reduce((a, b) => a + b, 0) / rewards.length;
  const policy: DensePolicy = { format: DENSE_POLICY_FORMAT, version: 1, kind: 'random', space, updates: (prev?.updates ?? 0) + 1, baseline };
  return { policy, rewards, advantages, meanReward };
}

export function saveDensePolicy(file: string, policy: DensePolicy): void {
  writeJsonAtomic(file, policy);
}
