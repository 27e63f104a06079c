import { z } from 'zod';
import { type Arch, isWeighted, shapes, validateArch } from '../arch';
import type { Rng } from '../util/rng';

/**
 * Network weights as plain typed arrays, so that transformations are pure math with no tensors.
 * Conv kernels are [kh, kw, cin, cout] and fc kernels [in, out], both row-major (the tfjs/TensorFlow layout).
 */
export interface WeightArray {
  shape: number[];
  data: Float32Array;
}

export type Weights = Record<string, WeightArray>;

export const WeightArraySchema = z
  .object({ shape: z.array(z.number().int().nonnegative()), data: z.instanceof(Float32Array) })
  .strict()
  .refine((w) => w.data.length === w.shape.reduce((a, b) => a * b, 1), { message: 'data length does not match the shape' });

export const WeightsSchema = z.record(z.string(), WeightArraySchema);

/** The BatchNorm parameters of a conv/fc layer, in the order tfjs-layers creates them. */
export const BN_PARAMS = ['gamma', 'beta', 'moving_mean', 'moving_variance'] as const;
export type BnParam = (typeof BN_PARAMS)[number];

export const kernelName = (layerId: string): string => `${layerId}/kernel`;
export const bnName = (layerId: string, param: BnParam): string => `${layerId}/bn/${param}`;
export const CLASSIFIER_KERNEL = 'classifier/kernel';
export const CLASSIFIER_BIAS = 'classifier/bias';

/** A weights object does not fit an architecture; `weight` is the offending name. */
export class WeightsError extends Error {
  constructor(
    readonly weight: string,
    detail: string,
  ) {
    super(`weight "${weight}": ${detail}`);
    this.name = 'WeightsError';
  }
}

const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RESERVED_IDS = new Set(['classifier', 'input']);

/** Layer ids become tfjs layer names and weight-name prefixes, so they must be plain names. */
export function checkLayerIds(arch: Arch): void {
  for (const l of arch.layers) {
    if (!VALID_ID.test(l.id)) throw new WeightsError(l.id, `layer id "${l.id}" must match ${VALID_ID} to name layers and weights`);
    if (RESERVED_IDS.has(l.id)) throw new WeightsError(l.id, `layer id "${l.id}" is reserved`);
  }
}

/** Every weight an architecture needs, with its shape, in a stable order (layer order, then the classifier). */
export function expectedWeightShapes(arch: Arch): Map<string, number[]> {
  validateArch(arch);
  checkLayerIds(arch);
  const { layers, classifierIn } = shapes(arch);
  const out = new Map<string, number[]>();
  arch.layers.forEach((l, i) => {
    if (!isWeighted(l)) return;
    const width = l.type === 'conv' ? l.filters : l.units;
    out.set(kernelName(l.id), l.type === 'conv' ? [l.kernel, l.kernel, layers[i].inFeatures, l.filters] : [layers[i].inFeatures, l.units]);
    for (const p of BN_PARAMS) out.set(bnName(l.id, p), [width]);
  });
  out.set(CLASSIFIER_KERNEL, [classifierIn, arch.classes]);
  out.set(CLASSIFIER_BIAS, [arch.classes]);
  return out;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Throw a WeightsError naming the weight unless `weights` holds exactly the arch's weights with the right shapes. */
export function validateWeights(arch: Arch, weights: Weights): void {
  const expected = expectedWeightShapes(arch);
  for (const [name, shape] of expected) {
    const w = weights[name];
    if (!w) throw new WeightsError(name, `missing (expected shape [${shape.join(', ')}])`);
    const parsed = WeightArraySchema.safeParse(w);
    if (!parsed.success) throw new WeightsError(name, parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '));
    if (!sameShape(w.shape, shape)) throw new WeightsError(name, `shape [${w.shape.join(', ')}] does not match the architecture's [${shape.join(', ')}]`);
  }
  for (const name of Object.keys(weights)) {
    if (!expected.has(name)) throw new WeightsError(name, 'unexpected: the architecture has no such weight');
  }
}

export function cloneWeights(weights: Weights): Weights {
  const out: Weights = {};
  for (const [name, w] of Object.entries(weights)) out[name] = { shape: [...w.shape], data: new Float32Array(w.data) };
  return out;
}

/** Fill with N(0, std²), using both Box-Muller outputs (half the draws of Rng.normal). */
function fillNormal(data: Float32Array, std: number, rng: Rng): void {
  for (let i = 0; i < data.length; i += 2) {
    let u = 0;
    while (u === 0) u = rng.float();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    const theta = 2 * Math.PI * rng.float();
    data[i] = r * Math.cos(theta);
    if (i + 1 < data.length) data[i + 1] = r * Math.sin(theta);
  }
}

function fillUniform(data: Float32Array, limit: number, rng: Rng): void {
  for (let i = 0; i < data.length; i++) data[i] = (2 * rng.float() - 1) * limit;
}

/**
 * Fresh weights: He-normal conv/fc kernels (std √(2/fan_in), the gain for a ReLU that follows), BatchNorm as the
 * identity (gamma 1, beta 0, mean 0, var 1), a Glorot-uniform classifier kernel (it feeds softmax, not a ReLU, so the
 * ReLU gain does not apply) and a zero classifier bias.
 */
export function initWeights(arch: Arch, rng: Rng): Weights {
  const out: Weights = {};
  for (const [name, shape] of expectedWeightShapes(arch)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name === CLASSIFIER_KERNEL) {
      fillUniform(data, Math.sqrt(6 / (shape[0] + shape[1])), rng);
    } else if (name.endsWith('/kernel')) {
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      fillNormal(data, Math.sqrt(2 / fanIn), rng);
    } else if (name.endsWith('/gamma') || name.endsWith('/moving_variance')) {
      data.fill(1);
    }
    out[name] = { shape, data };
  }
  return out;
}
