import { z } from 'zod';
import { type Arch, type SearchSpace, type WiderAction, applyActionToArch, isWeighted, widthOf } from '../arch';
import { BN_PARAMS, CLASSIFIER_KERNEL, type Weights, bnName, kernelName } from '../nn/weights';
import type { Rng } from '../util/rng';
import { type NativeAddon, loadAddon } from '../backend/native/addon';

/**
 * Net2Wider options.
 *
 * Without options Net2Wider follows the paper's Eq. 1–3 exactly: replicas copy their source unit and the next layer
 * divides the replicated inputs' weights equally, so the child computes exactly the parent's function. That leaves a
 * symmetry: replicas have equal incoming weights and equal outgoing weights, so they receive equal gradients and stay
 * equal under SGD (only dropout can separate them): widening then adds no capacity. Two ways to break it (the search
 * turns both on by default, see TransformOptions in ./options.ts):
 * - `split: 'random'` divides a replica group's outgoing weights by random positive fractions summing to 1 instead of
 *   1/|group|. Replicas carry identical values, so Σ p_z·w·x = w·x: still function-preserving (up to float rounding of
 *   the fractions), and the replicas' gradients now differ (they scale with p_z).
 * - `noise` adds Gaussian noise to the replicas' incoming weights (std = noise × the kernel's std; applyActions adds it
 *   after the steps), as the authors' code does (ratio 1e-2). This changes the function slightly, so the exact mode
 *   is split 'random' with noise 0.
 */
export const WiderOptionsSchema = z
  .object({
    split: z.enum(['equal', 'random']).optional(),
    noise: z.number().min(0).optional(),
  })
  .strict();
export type WiderOptions = z.infer<typeof WiderOptionsSchema>;

/**
 * Copy `src` viewed as [outer, mid, inner] into [outer, map.length, inner], taking middle index map[j] for new index j
 * and multiplying by scale[j] when given. The native addon does it when it loads: the same values (a copy, or the one
 * float product per value that the loop below stores), about 5× faster on the multi-million-value kernels of grown
 * networks, where these copies were a third of a transform's time.
 */
export function remapMiddleAxis(src: Float32Array, outer: number, mid: number, inner: number, map: Int32Array, scale?: Float32Array): Float32Array {
  if (src.length !== outer * mid * inner) throw new RangeError(`remap: ${src.length} values do not form [${outer}, ${mid}, ${inner}]`);
  const native = nativeRemap();
  if (!native) return remapMiddleAxisJs(src, outer, mid, inner, map, scale);
  const out = new Float32Array(outer * map.length * inner);
  native(src, out, outer, mid, inner, map, scale ?? null);
  return out;
}

let nativeRemapFn: NativeAddon['remapMiddle'] | null | undefined;
/** The addon's remap, or null without the addon (or with one built before it had remapMiddle): then the loop below. */
function nativeRemap(): NativeAddon['remapMiddle'] | null {
  if (nativeRemapFn === undefined) {
    try {
      const addon = loadAddon();
      nativeRemapFn = typeof addon.remapMiddle === 'function' ? addon.remapMiddle.bind(addon) : null;
    } catch {
      nativeRemapFn = null;
    }
  }
  return nativeRemapFn;
}

/** remapMiddleAxis in plain JavaScript (exported for the test that holds the native path to it). */
export function remapMiddleAxisJs(src: Float32Array, outer: number, mid: number, inner: number, map: Int32Array, scale?: Float32Array): Float32Array {
  if (src.length !== outer * mid * inner) throw new RangeError(`remap: ${src.length} values do not form [${outer}, ${mid}, ${inner}]`);
  const newMid = map.length;
  const out = new Float32Array(outer * newMid * inner);
  if (inner === 1 && !scale) {
    // A kernel's own output axis: Net2Wider's map keeps the old units in place (G(j) = j for j < old width), so each
    // row is one block copy of that prefix and a gather of the replicas.
    let prefix = 0;
    while (prefix < newMid && prefix < mid && map[prefix] === prefix) prefix++;
    for (let o = 0; o < outer; o++) {
      const from = o * mid;
      const to = o * newMid;
      if (prefix > 0) out.set(src.subarray(from, from + prefix), to);
      for (let j = prefix; j < newMid; j++) out[to + j] = src[from + map[j]];
    }
    return out;
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < newMid; j++) {
      const from = (o * mid + map[j]) * inner;
      const to = (o * newMid + j) * inner;
      // A subarray view per (o, j) costs more than a plain loop when inner is small; units whose whole outgoing weight
      // they keep (factor 1) are copied, not multiplied.
      if (scale && scale[j] !== 1) {
        const s = scale[j];
        for (let k = 0; k < inner; k++) out[to + k] = src[from + k] * s;
      } else if (inner >= 64) {
        out.set(src.subarray(from, from + inner), to);
      } else {
        for (let k = 0; k < inner; k++) out[to + k] = src[from + k];
      }
    }
  }
  return out;
}

/** The paper's random remapping G: identity on the first `oldWidth` units, then uniform draws from them. */
export function randomRemapping(oldWidth: number, newWidth: number, rng: Rng): Int32Array {
  if (newWidth < oldWidth) throw new RangeError(`cannot widen from ${oldWidth} to ${newWidth} units`);
  const g = new Int32Array(newWidth);
  for (let j = 0; j < newWidth; j++) g[j] = j < oldWidth ? j : rng.int(0, oldWidth - 1);
  return g;
}

/** Factors for the next layer's incoming weights: 1/|{z: G(z)=G(j)}| (Eq. 3), or random positive fractions per group. */
export function splitFactors(g: Int32Array, oldWidth: number, split: 'equal' | 'random', rng: Rng): Float32Array {
  const count = new Float64Array(oldWidth);
  for (const u of g) count[u]++;
  const out = new Float32Array(g.length);
  if (split === 'equal') {
    for (let j = 0; j < g.length; j++) out[j] = 1 / count[g[j]];
    return out;
  }
  const raw = new Float64Array(g.length);
  const total = new Float64Array(oldWidth);
  for (let j = 0; j < g.length; j++) {
    // Bounded away from 0 so no replica is silenced; a group of one gets exactly 1.
    raw[j] = count[g[j]] === 1 ? 1 : 0.5 + rng.float();
    total[g[j]] += raw[j];
  }
  for (let j = 0; j < g.length; j++) out[j] = raw[j] / total[g[j]];
  return out;
}

/** Name of the kernel that consumes layer `index`'s output: the next conv/fc, or the classifier. */
export function nextKernelName(arch: Arch, index: number): string {
  for (let i = index + 1; i < arch.layers.length; i++) {
    const l = arch.layers[i];
    if (isWeighted(l)) return kernelName(l.id);
  }
  return CLASSIFIER_KERNEL;
}

/**
 * Widen one conv/fc layer (in place on `weights`, which the caller owns) from its current width to `newWidth`.
 * The consumer's kernel is viewed as [outer, width, inner] with the widened axis in the middle: [kh·kw, C, cout] for a
 * conv, [H·W, C, units] for an fc on a flattened conv output (index (h·W + w)·C + c: replication is per channel), and
 * [1, units, next] for an fc on an fc. Pools in between act per channel, so they commute with the replication.
 */
function widenLayer(arch: Arch, weights: Weights, index: number, newWidth: number, rng: Rng, split: 'equal' | 'random', onRemap?: (index: number, g: Int32Array) => void): void {
  const layer = arch.layers[index];
  if (!isWeighted(layer)) throw new Error(`layer ${layer.id} has no width`);
  const oldWidth = weights[bnName(layer.id, 'gamma')].shape[0];
  const g = randomRemapping(oldWidth, newWidth, rng);
  const factors = splitFactors(g, oldWidth, split, rng);
  onRemap?.(index, g);
  const kName = kernelName(layer.id);
  const k = weights[kName];
  weights[kName] = { shape: [...k.shape.slice(0, -1), newWidth], data: remapMiddleAxis(k.data, k.data.length / oldWidth, oldWidth, 1, g) };
  for (const p of BN_PARAMS) {
    const name = bnName(layer.id, p);
    weights[name] = { shape: [newWidth], data: remapMiddleAxis(weights[name].data, 1, oldWidth, 1, g) };
  }
  const nName = nextKernelName(arch, index);
  const next = weights[nName];
  const inner = next.shape[next.shape.length - 1];
  const outer = next.data.length / (oldWidth * inner);
  if (!Number.isInteger(outer)) throw new Error(`${nName} of shape [${next.shape.join(', ')}] does not consume ${oldWidth} units of ${layer.id}`);
  const shape = next.shape.length === 4 ? [next.shape[0], next.shape[1], newWidth, inner] : [outer * newWidth, inner];
  weights[nName] = { shape, data: remapMiddleAxis(next.data, outer, oldWidth, inner, g, factors) };
}

/**
 * Net2Wider (Eq. 1–3): every listed layer grows to the next width of the space. Returns the new arch; `weights`
 * (owned by the caller) is updated in place (arrays are replaced, never modified). Layers are widened in network
 * order, each step preserving the function, so consecutive widened layers compose correctly. `split` as in
 * WiderOptions; the symmetry-breaking noise is applyActions' business (added to copies once the exact child is built).
 * `onRemap` hears each layer's remapping G (layer index in `arch`), in network order.
 */
export function net2wider(arch: Arch, weights: Weights, action: WiderAction, space: SearchSpace, rng: Rng, split: 'equal' | 'random' = 'equal', onRemap?: (index: number, g: Int32Array) => void): Arch {
  const child = applyActionToArch(arch, action, space);
  const want = new Set(action.layers);
  arch.layers.forEach((l, i) => {
    const c = child.layers[i];
    if (want.has(l.id) && isWeighted(l) && isWeighted(c)) widenLayer(arch, weights, i, widthOf(c), rng, split, onRemap);
  });
  return child;
}
