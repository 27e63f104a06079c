import * as tf from '@tensorflow/tfjs';
import { type Arch, type DeeperAction, type SearchSpace, applyActionToArch, resolveDeeper } from '../arch';
import { DEFAULT_BN_EPSILON } from '../nn/model';
import { inferenceActivations, inferenceForward } from '../nn/forward';
import { type Weights, bnName, kernelName } from '../nn/weights';
import type { Rng } from '../util/rng';
import { z } from 'zod';

/**
 * Net2Deeper options. `noise` adds Gaussian noise to the new identity layer's kernel, std = noise × that kernel's
 * standard deviation, as the authors' code does (apply_noise with ratio 1e-3 on the identity kernel, code/models/
 * layers.py). An exact identity layer starts with gradients that only reach its diagonal taps' neighbourhood through
 * the identity; the noise gives every tap a non-zero start. It changes the function slightly (≈ noise × the
 * activations' scale), so it is 0 unless asked for; the search's default (TransformOptions) is 1e-3.
 */
export const DeeperOptionsSchema = z.object({ noise: z.number().min(0).optional() }).strict();
export type DeeperOptions = z.infer<typeof DeeperOptionsSchema>;

/** Population standard deviation of an array (float64 accumulation). */
export function arrayStd(data: Float32Array): number {
  let s = 0;
  let s2 = 0;
  // An indexed loop: for…of over a typed array is several times slower, and kernels have millions of entries.
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    s += v;
    s2 += v * v;
  }
  const n = data.length || 1;
  return Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2));
}

/** Add N(0, (ratio·std(data))²) to every entry, in place (the authors' apply_noise, type 'normal'). */
export function addRelativeNoise(data: Float32Array, ratio: number, rng: Rng): void {
  if (!(ratio > 0)) return;
  rng.addNormals(data, ratio * arrayStd(data));
}

/** Check that a batch of images fits the network's input: [n, h, w, c] with n ≥ 1. */
export function checkBatch(arch: Arch, batch: tf.Tensor): void {
  const [h, w, c] = arch.input;
  const s = batch.shape;
  if (s.length !== 4 || s[0] < 1 || s[1] !== h || s[2] !== w || s[3] !== c) {
    throw new Error(`batch: expected shape [n, ${h}, ${w}, ${c}] (n ≥ 1) for this network, got [${s.join(', ')}]`);
  }
  if (batch.dtype !== 'float32') throw new Error(`batch: expected dtype float32, got ${batch.dtype}`);
}

/** Per-unit mean and (population) variance of the activation after layer `index`, flattened when `flatten`. */
export function activationMoments(arch: Arch, weights: Weights, index: number, flatten: boolean, batch: tf.Tensor, bnEpsilon: number): { mean: Float32Array; variance: Float32Array } {
  const feats = inferenceForward(arch, weights, batch, { bnEpsilon, upTo: index, flatten });
  try {
    return unitMoments(feats, false);
  } finally {
    feats.dispose();
  }
}

/** Mean and variance per unit (last axis) over every other axis, after flattening to [n, units] when `flatten`. */
function unitMoments(feats: tf.Tensor, flatten: boolean): { mean: Float32Array; variance: Float32Array } {
  const [mean, variance] = tf.tidy(() => {
    const f = flatten && feats.rank > 2 ? feats.reshape([feats.shape[0], -1]) : feats;
    const m = tf.moments(f, f.shape.slice(0, -1).map((_, i) => i));
    return [m.mean, m.variance];
  });
  try {
    return { mean: new Float32Array(mean.dataSync()), variance: new Float32Array(variance.dataSync()) };
  } finally {
    tf.dispose([mean, variance]);
  }
}

/**
 * Net2Deeper's statistics for a sequence of insertions from one forward pass. An exact identity layer leaves every
 * activation of the network as it was (its output is its input, up to float rounding), so the activations of the
 * network before the first insertion serve the later ones too, the new layer's output being its input's tensor. That
 * turns the paper's five Net2Deeper steps from five forward passes into one. A Net2Wider step changes the widths, so
 * it clears the cache. Only valid on the exact network (no noise): applyActions keeps it on the noise-free twin.
 */
export class ActivationCache {
  private byId: Map<string, tf.Tensor> | null = null;
  private owned: tf.Tensor[] = [];

  constructor(
    private readonly batch: tf.Tensor,
    private readonly bnEpsilon: number,
  ) {}

  moments(arch: Arch, weights: Weights, index: number, flatten: boolean): { mean: Float32Array; variance: Float32Array } {
    if (!this.byId) {
      this.owned = inferenceActivations(arch, weights, this.batch, { bnEpsilon: this.bnEpsilon });
      this.byId = new Map(arch.layers.map((l, i) => [l.id, this.owned[i]]));
    }
    const feats = this.byId.get(arch.layers[index].id);
    if (!feats) throw new Error(`activation cache: no activation for layer ${arch.layers[index].id}`);
    return unitMoments(feats, flatten);
  }

  /** An identity layer `newId` went in after `afterId`: its output is that activation. */
  inserted(afterId: string, newId: string): void {
    const t = this.byId?.get(afterId);
    if (t) this.byId!.set(newId, t);
  }

  clear(): void {
    tf.dispose(this.owned);
    this.owned = [];
    this.byId = null;
  }
}

/** What Net2Deeper needs besides the network: real images, the model's ε, and the symmetry-breaking options. */
export interface DeeperContext {
  /** Real images [n, h, w, c] for the new BatchNorm's statistics. */
  batch?: tf.Tensor;
  bnEpsilon?: number;
  opts?: DeeperOptions;
  /** Draws the noise (required when opts.noise > 0). */
  rng?: Rng;
  /** The noise-free twin of `weights` (see net2deeper). */
  exact?: Weights;
  /** Activations shared across the insertions of one sequence (applyActions). */
  cache?: ActivationCache;
}

/**
 * Net2Deeper: insert the layer chosen by `resolveDeeper` as an identity. A conv gets identity filters (centre tap 1 on
 * the matching channel), an fc the identity matrix. Its BatchNorm is made the identity in inference mode from the
 * statistics of its input on `batch`: moving mean/var = batch mean/var, beta = mean, gamma = √(var + ε), so
 * BN(x) = (x − mean)·gamma/√(var + ε) + beta = x, and the ReLU after it passes the non-negative x it receives (the
 * output of a ReLU, or of a pool over ReLU outputs). Training-mode BN on similar batches is then close to identity too.
 * With `opts.noise` > 0 the identity kernel gets the authors' relative noise (drawn from `rng`, required then).
 * `exact`, when given, is the noise-free twin of `weights` (same network up to noise): it gets the same layer without
 * the noise, and the statistics come from it, so both share one forward pass and the twin preserves the function
 * exactly. Returns the new arch; `weights` (and `exact`; owned by the caller) are updated in place.
 */
export function net2deeper(arch: Arch, weights: Weights, action: DeeperAction, space: SearchSpace, ctx: DeeperContext): Arch {
  const noise = ctx.opts?.noise ?? 0;
  const bnEpsilon = ctx.bnEpsilon ?? DEFAULT_BN_EPSILON;
  if (noise > 0 && !ctx.rng) throw new Error('net2deeper: noise > 0 needs an rng');
  const { after, layer } = resolveDeeper(arch, action, space);
  const child = applyActionToArch(arch, action, space);
  const batch = ctx.batch;
  if (!batch) throw new Error('net2deeper needs a batch of real images (options.batch) to set the new BatchNorm statistics');
  checkBatch(arch, batch);
  if (layer.type === 'pool') throw new Error('net2deeper: resolveDeeper returned a pool layer');
  const width = layer.type === 'conv' ? layer.filters : layer.units;
  const exactWeights = ctx.exact ?? weights;
  const flatten = layer.type === 'fc';
  const { mean, variance } = ctx.cache ? ctx.cache.moments(arch, exactWeights, after, flatten) : activationMoments(arch, exactWeights, after, flatten, batch, bnEpsilon);
  if (mean.length !== width) throw new Error(`net2deeper: the input of the new layer has ${mean.length} units, expected ${width}`);
  insertIdentity(weights, layer, mean, variance, bnEpsilon, noise, ctx.rng);
  if (ctx.exact) insertIdentity(ctx.exact, layer, mean, variance, bnEpsilon, 0);
  ctx.cache?.inserted(arch.layers[after].id, layer.id);
  return child;
}

/** The identity layer's kernel (plus relative noise) and the BatchNorm that passes statistics (mean, variance) through. */
function insertIdentity(weights: Weights, layer: { id: string } & ({ type: 'conv'; kernel: number; filters: number } | { type: 'fc'; units: number }), mean: Float32Array, variance: Float32Array, bnEpsilon: number, noise: number, rng?: Rng): void {
  const width = layer.type === 'conv' ? layer.filters : layer.units;
  if (layer.type === 'conv') {
    const k = layer.kernel;
    const centre = (k - 1) / 2;
    const data = new Float32Array(k * k * width * width);
    for (let c = 0; c < width; c++) data[((centre * k + centre) * width + c) * width + c] = 1;
    if (rng) addRelativeNoise(data, noise, rng);
    weights[kernelName(layer.id)] = { shape: [k, k, width, width], data };
  } else {
    const data = new Float32Array(width * width);
    for (let u = 0; u < width; u++) data[u * width + u] = 1;
    if (rng) addRelativeNoise(data, noise, rng);
    weights[kernelName(layer.id)] = { shape: [width, width], data };
  }
  const gamma = new Float32Array(width);
  // gamma from the stored (float32) variance, so the model's √(var + ε) matches it to the last bit we can control.
  for (let u = 0; u < width; u++) gamma[u] = Math.sqrt(variance[u] + bnEpsilon);
  weights[bnName(layer.id, 'gamma')] = { shape: [width], data: gamma };
  weights[bnName(layer.id, 'beta')] = { shape: [width], data: new Float32Array(mean) };
  weights[bnName(layer.id, 'moving_mean')] = { shape: [width], data: new Float32Array(mean) };
  weights[bnName(layer.id, 'moving_variance')] = { shape: [width], data: new Float32Array(variance) };
}
