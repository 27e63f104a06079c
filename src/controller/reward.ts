import type { AnySearchSpace } from '../space';
import type { ControllerConfig } from './config';
import type { Sample } from './types';

/** Accuracy as the reward sees it: a failed/diverged network (null, NaN, ±∞) counts as 0; otherwise it must be in [0, 1]. */
export function cleanAccuracy(acc: number | null, index: number): number {
  if (acc === null || !Number.isFinite(acc)) return 0;
  if (acc < 0 || acc > 1) throw new Error(`accuracy ${index} is ${acc}; accuracies must be fractions in [0, 1]`);
  return acc;
}

/**
 * The reward of one network. 'tan' is the paper's tan(acc·π/2) (a gain from 90% to 91% is worth more than from 60% to
 * 61%); the accuracy is first clipped to accClip because tan goes to infinity at 1. The optional second objective
 * subtracts paramPenalty per million parameters of the final network (`params`: the space's `params(net)`).
 */
export function rewardOf(acc: number, params: number, config: ControllerConfig): number {
  const a = Math.min(Math.max(acc, 0), config.accClip);
  const base = config.reward === 'tan' ? Math.tan((a * Math.PI) / 2) : a;
  return config.paramPenalty > 0 ? base - (config.paramPenalty * params) / 1e6 : base;
}

/**
 * Exponential-moving-average baseline; returns the new baseline and the advantages (ControllerConfig `baselineUpdate`):
 * - 'paper' (default, alias 'classic'): A = R − b_prev, then b ← decay·b_prev + (1 − decay)·mean(R); with no previous
 *   rewards (prev null) b_prev is the first batch's mean.
 * - 'released-code' (alias 'reference'), han-cai/EAS arch_manager.py `reward()`: b ← b + decay·(mean(R) − b), then
 *   A = R − b (b starts at 0, so the new batch weighs decay = 0.95 in its own baseline).
 * `prev` is null for a search's first batch, and for the first batch of every later stage (UpdateOptions.stageStart):
 * a new stage's start network moves the rewards, and a baseline from the previous stage would give one sign to all.
 */
export function baselineStep(prev: number | null, rewards: readonly number[], config: ControllerConfig): { baseline: number; advantages: number[] } {
  const mean = rewards.reduce((s, r) => s + r, 0) / rewards.length;
  const decay = config.baselineDecay;
  if (config.baselineUpdate === 'released-code' || config.baselineUpdate === 'reference') {
    const b = prev ?? 0;
    const baseline = b + decay * (mean - b);
    return { baseline, advantages: rewards.map((r) => r - baseline) };
  }
  const b = prev ?? mean;
  return { baseline: decay * b + (1 - decay) * mean, advantages: rewards.map((r) => r - b) };
}

/** One reward per sample of an episode (the space counts the final network's parameters when they are penalised). */
export function episodeRewards(samples: readonly Sample[], accuracies: readonly (number | null)[], space: AnySearchSpace, config: ControllerConfig): number[] {
  if (samples.length === 0 || samples.length !== accuracies.length) throw new Error(`update needs one accuracy per sample, got ${samples.length} samples and ${accuracies.length} accuracies`);
  return samples.map((s, i) => rewardOf(cleanAccuracy(accuracies[i], i), config.paramPenalty > 0 ? space.params(s.net) : 0, config));
}
