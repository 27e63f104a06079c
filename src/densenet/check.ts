import * as tf from '@tensorflow/tfjs';
import { randomStepSequence } from '../util/random-steps';
import type { InputShape } from '../arch/schema';
import type { Weights } from '../nn/weights';
import { randomBatch, randomSubset, randomizeBatchNormOf } from '../transform/random';
import { Rng, deriveSeed } from '../util/rng';
import { type DenseAction, applyDenseActionToNet, denseDeeperMask, denseWidenable } from './actions';
import { validateDenseNet } from './analysis';
import { predictDenseLogits } from './model';
import { toDenseNotation } from './notation';
import { type DenseNet, type DenseSpace, DenseSpaceSchema } from './schema';
import { type DenseTransformOptions, applyDenseActions } from './transform';
import { initDenseWeights } from './weights';

/**
 * Small growth rates so that random check networks stay cheap; the transformations do not depend on the values. The
 * space's re-widening rule is the default one (compression 0.5, stem 2 · mean growth), so the checks cover the whole
 * transform: growth widening with its bottleneck (4·k_new), layer insertion, and the stem and transition re-widening.
 */
export const CHECK_DENSE_SPACE: DenseSpace = DenseSpaceSchema.parse({ growthRates: [4, 6, 8, 10, 12], maxLayersPerBlock: 8 });
const CHECK_INPUTS: readonly InputShape[] = [
  [32, 32, 3],
  [28, 28, 1],
];

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length - 1)];

/** A small random DenseNet-BC: 2–3 blocks of 1–3 layers with growth from the space's two smallest rates. */
export function randomDenseNet(rng: Rng, input: InputShape, space: DenseSpace): DenseNet {
  const rates = space.growthRates.slice(0, 2);
  const nBlocks = rng.int(2, 3);
  let c = 2 * pick(rng, rates);
  const stem = { filters: c, kernel: 3 };
  let id = 0;
  const blocks = Array.from({ length: nBlocks }, (_, b) => {
    const layers = Array.from({ length: rng.int(1, 3) }, () => {
      const growth = pick(rng, rates);
      c += growth;
      return { id: `L${id++}`, growth, bottleneck: space.bottleneckFactor * growth };
    });
    if (b === nBlocks - 1) return { layers };
    c = Math.floor(c / 2);
    return { layers, transition: c };
  });
  return validateDenseNet({ space: 'densenet', input: [...input], stem, blocks, classes: rng.int(2, 10) });
}

/** Non-trivial BatchNorm parameters and statistics and classifier bias, so checks exercise the BN arithmetic. */
export function randomizeDenseBatchNorm(weights: Weights, rng: Rng): Weights {
  return randomizeBatchNormOf(weights, Object.keys(weights).sort(), rng);
}

/** A random valid wider action (a random non-empty subset of the widenable layers), or undefined. */
export function randomDenseWiderAction(net: DenseNet, space: DenseSpace, rng: Rng): DenseAction | undefined {
  const mask = denseWidenable(net, space);
  const layers = randomSubset(rng, net.blocks.flatMap((b, bi) => b.layers.filter((_, li) => mask[bi][li]).map((l) => l.id)));
  return layers && { type: 'wider', layers };
}

/** A random valid deeper action from the mask, or undefined. */
export function randomDenseDeeperAction(net: DenseNet, space: DenseSpace, rng: Rng): DenseAction | undefined {
  const valid: [number, number][] = [];
  denseDeeperMask(net, space).forEach((row, b) => row.forEach((ok, p) => ok && valid.push([b, p])));
  if (!valid.length) return undefined;
  const [block, position] = pick(rng, valid);
  return { type: 'deeper', block, position };
}

/** 1–5 random valid steps, wider and deeper interleaved. */
export function randomDenseActions(net: DenseNet, space: DenseSpace, rng: Rng): DenseAction[] {
  return randomStepSequence(net, rng, { wider: (n, r) => randomDenseWiderAction(n, space, r), deeper: (n, r) => randomDenseDeeperAction(n, space, r), apply: (n, a) => applyDenseActionToNet(n, a, space) });
}

/** max |logits(parent) − logits(child)| in inference mode (NaN counts as the worst). */
export function denseMaxAbsDiff(parent: { net: DenseNet; weights: Weights }, child: { net: DenseNet; weights: Weights }, batch: tf.Tensor): number {
  const a = predictDenseLogits(parent.net, parent.weights, batch);
  const b = predictDenseLogits(child.net, child.weights, batch);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}

export interface DenseTrialResult {
  trial: number;
  net: string;
  input: InputShape;
  actions: DenseAction[];
  child: string;
  maxAbsDiff: number;
}

/** One random (DenseNet, action sequence) case; depends only on (seed, trial). */
export function runDenseTrial(seed: number, trial: number, space: DenseSpace = CHECK_DENSE_SPACE, batchSize = 4, options: DenseTransformOptions = {}): DenseTrialResult {
  const rng = Rng.fromSeed(deriveSeed(seed, 'check-transform-densenet', trial));
  const input = CHECK_INPUTS[trial % CHECK_INPUTS.length];
  const net = randomDenseNet(rng, input, space);
  const weights = randomizeDenseBatchNorm(initDenseWeights(net, rng), rng);
  const actions = randomDenseActions(net, space, rng);
  const batch = randomBatch(rng, input, batchSize);
  try {
    const child = applyDenseActions(net, weights, actions, space, rng, options);
    const maxAbsDiff = denseMaxAbsDiff({ net, weights }, child, batch);
    return { trial, net: toDenseNotation(net), input, actions, child: toDenseNotation(child.net), maxAbsDiff };
  } finally {
    tf.dispose(batch);
  }
}

export function runDenseTransformChecks(opts: { trials: number; seed: number; batchSize?: number; onTrial?: (r: DenseTrialResult) => void }): { trials: number; maxAbsDiff: number; worst?: DenseTrialResult } {
  let worst: DenseTrialResult | undefined;
  for (let i = 0; i < opts.trials; i++) {
    const r = runDenseTrial(opts.seed, i, CHECK_DENSE_SPACE, opts.batchSize);
    opts.onTrial?.(r);
    if (!worst || !(r.maxAbsDiff <= worst.maxAbsDiff)) worst = r;
  }
  return { trials: opts.trials, maxAbsDiff: worst?.maxAbsDiff ?? 0, worst };
}
