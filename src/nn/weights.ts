import { z } from 'zod';
import { type Arch, isWeighted, shapes, validateArch } from '../arch';
import type { Rng } from '../util/rng';
import { type WeightSpec, initWeightsFor, validateWeightsFor } from './network';

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

/** Throw a WeightsError naming the weight unless `weights` holds exactly the arch's weights with the right shapes. */
export function validateWeights(arch: Arch, weights: Weights): void {
  validateWeightsFor(plainWeightSpecs(arch), weights);
}

export function cloneWeights(weights: Weights): Weights {
  const out: Weights = {};
  for (const [name, w] of Object.entries(weights)) out[name] = { shape: [...w.shape], data: new Float32Array(w.data) };
  return out;
}

/** Fresh weights (src/nn/network.ts initWeightsFor: He-normal kernels, identity BatchNorm, Glorot classifier). */
export function initWeights(arch: Arch, rng: Rng): Weights {
  return initWeightsFor(plainWeightSpecs(arch), rng);
}

/** Every weight of a plain network with its tfjs location, in expectedWeightShapes order (the layout checkpoints and training follow). */
export function plainWeightSpecs(arch: Arch): WeightSpec[] {
  const out: WeightSpec[] = [];
  for (const [name, shape] of expectedWeightShapes(arch)) {
    const [id, ...rest] = name.split('/');
    if (id === 'classifier') out.push({ name, shape, layer: 'classifier', index: rest[0] === 'kernel' ? 0 : 1 });
    else if (rest[0] === 'kernel') out.push({ name, shape, layer: id, index: 0 });
    else out.push({ name, shape, layer: `${id}_bn`, index: BN_PARAMS.indexOf(rest[1] as BnParam) });
  }
  return out;
}
