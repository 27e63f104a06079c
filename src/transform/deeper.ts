import * as tf from '@tensorflow/tfjs';
import { type Arch, type DeeperAction, type SearchSpace, applyActionToArch, resolveDeeper } from '../arch';
import { DEFAULT_BN_EPSILON, buildFeatureModel } from '../nn/model';
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
  for (const v of data) {
    s += v;
    s2 += v * v;
  }
  const n = data.length || 1;
  return Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2));
}

/** Add N(0, (ratio·std(data))²) to every entry, in place (the authors' apply_noise, type 'normal'). */
export function addRelativeNoise(data: Float32Array, ratio: number, rng: Rng): void {
  if (!(ratio > 0)) return;
  const sigma = ratio * arrayStd(data);
  for (let i = 0; i < data.length; i++) data[i] += sigma * rng.normal();
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
  const model = buildFeatureModel(arch, weights, index, flatten, { bnEpsilon });
  try {
    const [mean, variance] = tf.tidy(() => {
      const feats = model.predict(batch) as tf.Tensor;
      const axes = feats.shape.slice(0, -1).map((_, i) => i);
      const m = tf.moments(feats, axes);
      return [m.mean, m.variance];
    });
    try {
      return { mean: new Float32Array(mean.dataSync()), variance: new Float32Array(variance.dataSync()) };
    } finally {
      tf.dispose([mean, variance]);
    }
  } finally {
    model.dispose();
  }
}

/**
 * Net2Deeper: insert the layer chosen by `resolveDeeper` as an identity. A conv gets identity filters (centre tap 1 on
 * the matching channel), an fc the identity matrix. Its BatchNorm is made the identity in inference mode from the
 * statistics of its input on `batch`: moving mean/var = batch mean/var, beta = mean, gamma = √(var + ε), so
 * BN(x) = (x − mean)·gamma/√(var + ε) + beta = x, and the ReLU after it passes the non-negative x it receives (the
 * output of a ReLU, or of a pool over ReLU outputs). Training-mode BN on similar batches is then close to identity too.
 * With `opts.noise` > 0 the identity kernel gets the authors' relative noise (drawn from `rng`, required then).
 * Returns the new arch; `weights` (owned by the caller) is updated in place.
 */
export function net2deeper(
  arch: Arch,
  weights: Weights,
  action: DeeperAction,
  space: SearchSpace,
  batch: tf.Tensor | undefined,
  bnEpsilon = DEFAULT_BN_EPSILON,
  opts: DeeperOptions = {},
  rng?: Rng,
): Arch {
  const noise = opts.noise ?? 0;
  if (noise > 0 && !rng) throw new Error('net2deeper: noise > 0 needs an rng');
  const { after, layer } = resolveDeeper(arch, action, space);
  const child = applyActionToArch(arch, action, space);
  if (!batch) throw new Error('net2deeper needs a batch of real images (options.batch) to set the new BatchNorm statistics');
  checkBatch(arch, batch);
  if (layer.type === 'pool') throw new Error('net2deeper: resolveDeeper returned a pool layer');
  const width = layer.type === 'conv' ? layer.filters : layer.units;
  const { mean, variance } = activationMoments(arch, weights, after, layer.type === 'fc', batch, bnEpsilon);
  if (mean.length !== width) throw new Error(`net2deeper: the input of the new layer has ${mean.length} units, expected ${width}`);

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
  weights[bnName(layer.id, 'moving_mean')] = { shape: [width], data: mean };
  weights[bnName(layer.id, 'moving_variance')] = { shape: [width], data: variance };
  return child;
}
