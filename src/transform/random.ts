import * as tf from '@tensorflow/tfjs';
import { randomStepSequence } from '../util/random-steps';
import {
  type Action,
  type Arch,
  ArchSchema,
  type InputShape,
  type Layer,
  type SearchSpace,
  applyActionToArch,
  deeperPositionMask,
  outSize,
  validateArch,
  widenable,
} from '../arch';
import { BN_PARAMS, CLASSIFIER_BIAS, type Weights, bnName, cloneWeights } from '../nn/weights';
import type { Rng } from '../util/rng';

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length - 1)];

export interface RandomArchOptions {
  /** How many of the smallest widths of the space to draw from (keeps nets small). Default 2. */
  widthLevels?: number;
  maxFc?: number;
}

/**
 * A small random valid plain CNN from the space: 2–3 conv blocks of 1–2 convs, each block followed by a stride-2 pool
 * (max or avg, window 2 or 3), then with even odds a global average pool, then 0–`maxFc` fc layers.
 */
export function randomArch(rng: Rng, input: InputShape, space: SearchSpace, opts: RandomArchOptions = {}): Arch {
  const levels = opts.widthLevels ?? 2;
  const filters = space.convFilters.slice(0, levels);
  const units = space.fcUnits.slice(0, levels);
  const layers: Layer[] = [];
  const id = () => `L${layers.length}`;
  let size = Math.min(input[0], input[1]);
  const nBlocks = rng.int(2, 3);
  for (let b = 0; b < nBlocks; b++) {
    const nConvs = b === 0 ? 1 : rng.int(1, 2);
    for (let c = 0; c < nConvs; c++) {
      const stride = pick(rng, space.convStrides);
      layers.push({ id: id(), type: 'conv', filters: pick(rng, filters), kernel: pick(rng, space.convKernels), stride });
      size = outSize(size, stride);
    }
    if (size >= 2) {
      layers.push({ id: id(), type: 'pool', op: rng.bernoulli(0.5) ? 'max' : 'avg', size: Math.min(size, rng.int(2, 3)), stride: 2 });
      size = outSize(size, 2);
    }
  }
  if (size > 1 && input[0] === input[1] && rng.bernoulli(0.5)) layers.push({ id: id(), type: 'pool', op: 'avg', size, stride: size });
  const nFc = rng.int(0, opts.maxFc ?? 2);
  for (let f = 0; f < nFc; f++) layers.push({ id: id(), type: 'fc', units: pick(rng, units) });
  const arch = ArchSchema.parse({ input: [...input], layers, classes: rng.int(2, 10) });
  validateArch(arch, space);
  return arch;
}

/**
 * Non-trivial BatchNorm parameters and statistics (gamma, beta, moving mean and variance) of the BatchNorm weights in
 * `names` (drawn in that order) and the classifier bias, so that checks exercise the BN arithmetic rather than an
 * identity BN. Either space's checks use it.
 */
export function randomizeBatchNormOf(weights: Weights, names: readonly string[], rng: Rng): Weights {
  const out = cloneWeights(weights);
  const draw: Record<(typeof BN_PARAMS)[number], () => number> = {
    gamma: () => 0.5 + rng.float(),
    beta: () => 0.3 * rng.normal(),
    moving_mean: () => 0.5 * rng.normal(),
    moving_variance: () => 0.5 + 1.5 * rng.float(),
  };
  for (const name of names) {
    const p = BN_PARAMS.find((q) => name.endsWith(`/${q}`));
    if (!p) continue;
    const w = out[name];
    for (let i = 0; i < w.data.length; i++) w.data[i] = draw[p]();
  }
  const bias = out[CLASSIFIER_BIAS];
  for (let i = 0; i < bias.data.length; i++) bias.data[i] = 0.1 * rng.normal();
  return out;
}

/** randomizeBatchNormOf a plain network, layer by layer. */
export function randomizeBatchNorm(arch: Arch, weights: Weights, rng: Rng): Weights {
  return randomizeBatchNormOf(weights, arch.layers.flatMap((l) => (l.type === 'pool' ? [] : BN_PARAMS.map((p) => bnName(l.id, p)))), rng);
}

/** A random non-empty subset of `items` (each with probability 1/2; one at random if none was drawn), or undefined when empty. */
export function randomSubset<T>(rng: Rng, items: readonly T[]): T[] | undefined {
  if (!items.length) return undefined;
  const chosen = items.filter(() => rng.bernoulli(0.5));
  return chosen.length ? chosen : [pick(rng, items)];
}

/** A random Net2Wider action: a random non-empty subset of the widenable layers, or undefined if none can grow. */
export function randomWiderAction(arch: Arch, space: SearchSpace, rng: Rng): Action | undefined {
  const mask = widenable(arch, space);
  const layers = randomSubset(rng, arch.layers.filter((_, i) => mask[i]).map((l) => l.id));
  return layers && { type: 'wider', layers };
}

/** A random valid Net2Deeper action (block, position from deeperPositionMask; kernel for a conv), or undefined. */
export function randomDeeperAction(arch: Arch, space: SearchSpace, rng: Rng): Action | undefined {
  const mask = deeperPositionMask(arch, space);
  const valid: [number, number][] = [];
  mask.forEach((row, b) => row.forEach((ok, p) => ok && valid.push([b, p])));
  if (!valid.length) return undefined;
  const [block, position] = pick(rng, valid);
  const isFcBlock = block === mask.length - 1;
  return isFcBlock ? { type: 'deeper', block, position } : { type: 'deeper', block, position, kernel: pick(rng, space.convKernels) };
}

/** A random valid sequence of 1..(maxWider + maxDeeper) steps, wider and deeper interleaved in random order. */
export function randomActions(arch: Arch, space: SearchSpace, rng: Rng, opts: { maxWider?: number; maxDeeper?: number } = {}): Action[] {
  return randomStepSequence(arch, rng, { wider: (a, r) => randomWiderAction(a, space, r), deeper: (a, r) => randomDeeperAction(a, space, r), apply: (a, action) => applyActionToArch(a, action, space) }, opts);
}

/** A seeded batch of standard-normal images [n, h, w, c] (the caller disposes it). */
export function randomBatch(rng: Rng, input: InputShape, n: number): tf.Tensor4D {
  const data = new Float32Array(n * input[0] * input[1] * input[2]);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return tf.tensor4d(data, [n, ...input]);
}
