import * as tf from '@tensorflow/tfjs';
import { type Arch, type DeeperAction, type SearchSpace, applyActionToArch, isWeighted, resolveDeeper } from '../arch';
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
  // An indexed loop (for…of over a typed array is several times slower, and kernels have millions of entries) with two
  // independent pairs of sums, so consecutive additions do not wait for each other.
  let s = 0;
  let s2 = 0;
  let t = 0;
  let t2 = 0;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) {
    const v = data[i];
    const w = data[i + 1];
    s += v;
    s2 += v * v;
    t += w;
    t2 += w * w;
  }
  if (even < data.length) {
    const v = data[even];
    s += v;
    s2 += v * v;
  }
  s += t;
  s2 += t2;
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

/** Mean and variance per unit of one activation. */
export interface Moments {
  mean: Float32Array;
  variance: Float32Array;
}

/**
 * The parent network's activation moments on a batch, from one forward pass: per channel for every layer, and per
 * flattened unit for the last layer before the fc block (what an fc inserted at the block's start reads). A search
 * transforms one parent into a whole episode of children, so the control child keeps these per parent and no child
 * needs a forward pass of its own for Net2Deeper's statistics (MomentTracker maps them onto the child).
 */
export class ParentMoments {
  private constructor(
    readonly byId: ReadonlyMap<string, Moments>,
    /** Layer id → its flattened moments (index (h·W + w)·C + c); only the layer that feeds the fc block. */
    readonly flatById: ReadonlyMap<string, Moments>,
    /** Ids of the layers with a spatial (conv or pool) activation. */
    readonly spatial: ReadonlySet<string>,
  ) {}

  static compute(arch: Arch, weights: Weights, batch: tf.Tensor, bnEpsilon: number = DEFAULT_BN_EPSILON): ParentMoments {
    checkBatch(arch, batch);
    const acts = inferenceActivations(arch, weights, batch, { bnEpsilon });
    try {
      const byId = new Map<string, Moments>();
      const flatById = new Map<string, Moments>();
      const spatial = new Set<string>();
      const firstFc = arch.layers.findIndex((l) => l.type === 'fc');
      const feedsFc = firstFc > 0 ? firstFc - 1 : arch.layers.length - 1;
      arch.layers.forEach((l, i) => {
        byId.set(l.id, unitMoments(acts[i], false));
        if (acts[i].rank > 2) spatial.add(l.id);
        if (i === feedsFc && acts[i].rank > 2) flatById.set(l.id, unitMoments(acts[i], true));
      });
      return new ParentMoments(byId, flatById, spatial);
    } finally {
      tf.dispose(acts);
    }
  }
}

/**
 * Where each layer of a network being transformed finds its activation moments among the parent's: an exact
 * Net2Wider step gives the widened layer (and the pools after it, which act per channel) the parent's units gathered
 * through its remapping G (Eq. 1: unit j computes what unit G(j) did) and leaves every later activation as it was; an
 * exact identity layer's output is its input's tensor. The steps build an exact child (up to float rounding), so the
 * gathered moments are the ones a forward pass of it would give, without the pass: the paper's five Net2Deeper steps
 * and a whole episode of children share the parent's one.
 */
export class MomentTracker {
  /**
   * Layer id → the parent layer whose activation it carries and, per unit, the parent unit it equals (null: the same
   * units). `flat`: the activation is the parent's spatial one flattened ((h·W + w)·C + c), as an identity fc inserted
   * on it carries it, and `units` index that flattened vector; otherwise they index channels.
   */
  private readonly views = new Map<string, View>();

  constructor(
    private readonly parent: ParentMoments,
    arch: Arch,
  ) {
    for (const l of arch.layers) {
      if (!parent.byId.has(l.id)) throw new Error(`moment tracker: the parent's moments have no layer ${l.id}`);
      this.views.set(l.id, { source: l.id, flat: false, units: null });
    }
  }

  /** Layer `index` of `arch` (the network before the step) was widened with remapping `g`. */
  widened(arch: Arch, index: number, g: Int32Array): void {
    for (let i = index; i < arch.layers.length && (i === index || !isWeighted(arch.layers[i])); i++) {
      const v = this.view(arch.layers[i].id);
      const units = v.units;
      this.views.set(arch.layers[i].id, { ...v, units: units ? g.map((u) => units[u]) : new Int32Array(g) });
    }
  }

  /** An identity layer `newId` went in after `afterId`: its output is that activation (flattened when it is an fc). */
  inserted(afterId: string, newId: string, fc: boolean): void {
    const v = this.view(afterId);
    if (!fc || v.flat || !this.parent.flatById.has(v.source)) {
      this.views.set(newId, v);
      return;
    }
    this.views.set(newId, { source: v.source, flat: true, units: v.units && this.expand(v.source, v.units) });
  }

  /** The moments of layer `index`'s activation (flattened to units when `flatten`), as the exact child has them. */
  moments(arch: Arch, index: number, flatten: boolean): Moments {
    const v = this.view(arch.layers[index].id);
    const spatial = this.parent.spatial.has(v.source);
    let units = v.units;
    let base: Moments | undefined;
    if (v.flat || (flatten && spatial)) {
      base = this.parent.flatById.get(v.source);
      if (!base) throw new Error(`moment tracker: no flattened moments for layer ${arch.layers[index].id} (only the layer that feeds the fc block has them)`);
      if (!v.flat && units) units = this.expand(v.source, units);
    } else {
      base = this.parent.byId.get(v.source)!;
    }
    if (!units) return { mean: new Float32Array(base.mean), variance: new Float32Array(base.variance) };
    const mean = new Float32Array(units.length);
    const variance = new Float32Array(units.length);
    for (let j = 0; j < units.length; j++) {
      mean[j] = base.mean[units[j]];
      variance[j] = base.variance[units[j]];
    }
    return { mean, variance };
  }

  /** A channel map of a spatial parent layer as a map of its flattened units: (p, j) ← (p, channels[j]). */
  private expand(source: string, channels: Int32Array): Int32Array {
    const parentChannels = this.parent.byId.get(source)!.mean.length;
    const positions = this.parent.flatById.get(source)!.mean.length / parentChannels;
    const width = channels.length;
    const out = new Int32Array(positions * width);
    for (let p = 0; p < positions; p++) for (let j = 0; j < width; j++) out[p * width + j] = p * parentChannels + channels[j];
    return out;
  }

  private view(id: string): View {
    const v = this.views.get(id);
    if (!v) throw new Error(`moment tracker: layer ${id} is not tracked`);
    return v;
  }
}

interface View {
  source: string;
  flat: boolean;
  units: Int32Array | null;
}

/** What Net2Deeper needs besides the network: real images and the model's ε (and, in applyActions, the statistics). */
export interface DeeperContext {
  /** Real images [n, h, w, c] for the new BatchNorm's statistics. */
  batch?: tf.Tensor;
  bnEpsilon?: number;
  /** The statistics mapped from the parent's forward pass (applyActions); without it, a forward pass of `weights`. */
  moments?: MomentTracker;
}

/**
 * Net2Deeper: insert the layer chosen by `resolveDeeper` as an identity. A conv gets identity filters (centre tap 1 on
 * the matching channel), an fc the identity matrix. Its BatchNorm is made the identity in inference mode from the
 * statistics of its input on `batch`: moving mean/var = batch mean/var, beta = mean, gamma = √(var + ε), so
 * BN(x) = (x − mean)·gamma/√(var + ε) + beta = x, and the ReLU after it passes the non-negative x it receives (the
 * output of a ReLU, or of a pool over ReLU outputs). Training-mode BN on similar batches is then close to identity too.
 * The authors' noise on the identity kernel is added by applyActions. Returns the new arch; `weights` (owned by the
 * caller) is updated in place.
 */
export function net2deeper(arch: Arch, weights: Weights, action: DeeperAction, space: SearchSpace, ctx: DeeperContext): Arch {
  const bnEpsilon = ctx.bnEpsilon ?? DEFAULT_BN_EPSILON;
  const { after, layer } = resolveDeeper(arch, action, space);
  const child = applyActionToArch(arch, action, space);
  const batch = ctx.batch;
  if (!batch) throw new Error('net2deeper needs a batch of real images (options.batch) to set the new BatchNorm statistics');
  checkBatch(arch, batch);
  if (layer.type === 'pool') throw new Error('net2deeper: resolveDeeper returned a pool layer');
  const width = layer.type === 'conv' ? layer.filters : layer.units;
  const flatten = layer.type === 'fc';
  const { mean, variance } = ctx.moments ? ctx.moments.moments(arch, after, flatten) : activationMoments(arch, weights, after, flatten, batch, bnEpsilon);
  if (mean.length !== width) throw new Error(`net2deeper: the input of the new layer has ${mean.length} units, expected ${width}`);
  insertIdentity(weights, layer, mean, variance, bnEpsilon);
  ctx.moments?.inserted(arch.layers[after].id, layer.id, layer.type === 'fc');
  return child;
}

/** The identity layer's kernel and the BatchNorm that passes statistics (mean, variance) through. */
function insertIdentity(weights: Weights, layer: { id: string } & ({ type: 'conv'; kernel: number; filters: number } | { type: 'fc'; units: number }), mean: Float32Array, variance: Float32Array, bnEpsilon: number): void {
  const width = layer.type === 'conv' ? layer.filters : layer.units;
  if (layer.type === 'conv') {
    const k = layer.kernel;
    const centre = (k - 1) / 2;
    const data = new Float32Array(k * k * width * width);
    for (let c = 0; c < width; c++) data[((centre * k + centre) * width + c) * width + c] = 1;
    weights[kernelName(layer.id)] = { shape: [k, k, width, width], data };
  } else {
    const data = new Float32Array(width * width);
    for (let u = 0; u < width; u++) data[u * width + u] = 1;
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
