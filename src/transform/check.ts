import * as tf from '@tensorflow/tfjs';
import { type Action, type Arch, DEFAULT_SPACE, type InputShape, type SearchSpace, toNotation } from '../arch';
import { initWeights } from '../nn/weights';
import { Rng, deriveSeed } from '../util/rng';
import { applyActions } from './apply';
import type { DeeperOptions } from './deeper';
import { DEFAULT_TRANSFORM_OPTIONS } from './options';
import type { WiderOptions } from './wider';
import { randomActions, randomArch, randomBatch, randomizeBatchNorm } from './random';
import { verifyPreservation } from './verify';

export const CHECK_INPUTS: readonly InputShape[] = [
  [32, 32, 3],
  [28, 28, 1],
];

/** How the checked transformations break symmetry. */
export interface CheckTransform {
  wider: WiderOptions;
  deeper: DeeperOptions;
}

/**
 * The exact mode the tolerance applies to: the search's random split (function-preserving up to float rounding of
 * the split fractions) without noise.
 */
export const EXACT_TRANSFORM: CheckTransform = { wider: { split: 'random', noise: 0 }, deeper: { noise: 0 } };
/** The search's defaults (TransformOptions): random split plus the authors' noise, which changes the function by design. */
export const SEARCH_TRANSFORM: CheckTransform = DEFAULT_TRANSFORM_OPTIONS;

export interface TrialResult {
  trial: number;
  arch: string;
  input: InputShape;
  actions: Action[];
  child: string;
  maxAbsDiff: number;
}

export interface CheckOptions {
  trials: number;
  seed: number;
  space?: SearchSpace;
  batchSize?: number;
  /** Default EXACT_TRANSFORM. */
  transform?: CheckTransform;
  onTrial?: (r: TrialResult) => void;
}

export interface CheckSummary {
  trials: number;
  maxAbsDiff: number;
  worst?: TrialResult;
}

/** One random (network, action sequence) case: random net and BN statistics, random valid actions, max |Δlogits|. */
export function runTrial(seed: number, trial: number, space: SearchSpace = DEFAULT_SPACE, batchSize = 4, transform: CheckTransform = EXACT_TRANSFORM): TrialResult {
  const rng = Rng.fromSeed(deriveSeed(seed, 'check-transform', trial));
  const input = CHECK_INPUTS[trial % CHECK_INPUTS.length];
  const arch: Arch = randomArch(rng, input, space);
  const weights = randomizeBatchNorm(arch, initWeights(arch, rng), rng);
  const actions = randomActions(arch, space, rng);
  const batch = randomBatch(rng, input, batchSize);
  try {
    const child = applyActions(arch, weights, actions, { space, rng, batch, wider: transform.wider, deeper: transform.deeper });
    const maxAbsDiff = verifyPreservation({ arch, weights }, child, batch);
    return { trial, arch: toNotation(arch), input, actions, child: toNotation(child.arch), maxAbsDiff };
  } finally {
    tf.dispose(batch);
  }
}

/** Run `trials` random cases and report the worst difference. Trial i depends only on (seed, i). */
export function runTransformChecks(opts: CheckOptions): CheckSummary {
  let worst: TrialResult | undefined;
  for (let i = 0; i < opts.trials; i++) {
    const r = runTrial(opts.seed, i, opts.space, opts.batchSize, opts.transform);
    opts.onTrial?.(r);
    if (!worst || !(r.maxAbsDiff <= worst.maxAbsDiff)) worst = r;
  }
  return { trials: opts.trials, maxAbsDiff: worst?.maxAbsDiff ?? 0, worst };
}
