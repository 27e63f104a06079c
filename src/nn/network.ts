import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng';
import { type InputNormalization, type ModelOptions, ModelOptionsSchema, checkInputNormalization, setInputNormalization } from './model';
import { CLASSIFIER_KERNEL, type Weights, WeightArraySchema, WeightsError } from './weights';

/**
 * The weight layout and tfjs graph of a network of any search space, and everything built on them alone: models,
 * weight validation, initialisation, extraction, and (src/checkpoint/network.ts) checkpoints. A space provides the
 * two functions of `NetGraphs` (src/space/network.ts); nothing here knows which space a network is from.
 */

/** One weight of a network: our name, its shape, and where it lives (tfjs layer, index in that layer's weights). */
export interface WeightSpec {
  name: string;
  shape: number[];
  layer: string;
  index: number;
}

export interface Graph {
  input: tf.SymbolicTensor;
  logits: tf.SymbolicTensor;
}

export interface NetGraphs<N> {
  /** Every weight the network needs, in a stable order (what training and checkpoints follow); validates the net. */
  weightSpecs(net: N): WeightSpec[];
  /** The symbolic graph, layers named as in weightSpecs, with zero-initialised variables; logits out. */
  graph(net: N, opts: ModelOptions, inputNormalization: boolean): Graph;
  /** Input shape [h, w, c]. */
  inputShape(net: N): readonly [number, number, number];
}

/** tfjs variable name of a weight: our `L3/bn/gamma` in layer `L3_bn` is `L3_bn/gamma`. */
export const tfjsWeightName = (spec: WeightSpec): string => `${spec.layer}/${spec.name.split('/').pop()}`;

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** Throw a WeightsError naming the weight unless `weights` holds exactly the specs' weights with their shapes. */
export function validateWeightsFor(specs: readonly WeightSpec[], weights: Weights): void {
  const expected = new Map(specs.map((s) => [s.name, s.shape]));
  for (const [name, shape] of expected) {
    const w = weights[name];
    if (!w) throw new WeightsError(name, `missing (expected shape [${shape.join(', ')}])`);
    const parsed = WeightArraySchema.safeParse(w);
    if (!parsed.success) throw new WeightsError(name, parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '));
    if (!sameShape(w.shape, shape)) throw new WeightsError(name, `shape [${w.shape.join(', ')}] does not match the network's [${shape.join(', ')}]`);
  }
  for (const name of Object.keys(weights)) if (!expected.has(name)) throw new WeightsError(name, 'unexpected: the network has no such weight');
}

/** Fill with N(0, std²), using both Box-Muller outputs. */
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

/**
 * Fresh weights, seeded, in spec order: He-normal conv/fc kernels (std √(2/fan_in), the gain for the ReLU that follows),
 * BatchNorm as the identity (gamma 1, beta 0, mean 0, var 1), a Glorot-uniform classifier kernel (it feeds softmax,
 * not a ReLU) and a zero classifier bias.
 */
export function initWeightsFor(specs: readonly WeightSpec[], rng: Rng): Weights {
  const out: Weights = {};
  for (const { name, shape } of specs) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name === CLASSIFIER_KERNEL) {
      const limit = Math.sqrt(6 / (shape[0] + shape[1]));
      for (let i = 0; i < size; i++) data[i] = (2 * rng.float() - 1) * limit;
    } else if (name.endsWith('/kernel')) {
      fillNormal(data, Math.sqrt(2 / shape.slice(0, -1).reduce((a, b) => a * b, 1)), rng);
    } else if (name.endsWith('/gamma') || name.endsWith('/moving_variance')) {
      data.fill(1);
    }
    out[name] = { shape: [...shape], data };
  }
  return out;
}

/** Copy our weights into the model's variables, by layer name and position (never by variable name). */
export function setWeightsFor(model: tf.LayersModel, specs: readonly WeightSpec[], weights: Weights, onlyLayers?: ReadonlySet<string>): void {
  const byLayer = new Map<string, WeightSpec[]>();
  for (const s of specs) {
    if (onlyLayers && !onlyLayers.has(s.layer)) continue;
    byLayer.set(s.layer, [...(byLayer.get(s.layer) ?? []), s]);
  }
  for (const [layerName, list] of byLayer) {
    const layer = model.getLayer(layerName);
    if (layer.weights.length !== list.length) throw new Error(`model layer ${layerName} has ${layer.weights.length} weights, expected ${list.length}`);
    list.sort((a, b) => a.index - b.index);
    const values = list.map(({ name }) => tf.tensor(weights[name].data, weights[name].shape, 'float32'));
    try {
      layer.setWeights(values);
    } finally {
      tf.dispose(values);
    }
  }
}

/** The Layers model with its zero-initialised variables: topology and variable names (for saving without uploading weights). */
export function buildTopologyModelOf<N>(def: NetGraphs<N>, net: N, opts: ModelOptions = {}): tf.LayersModel {
  ModelOptionsSchema.parse(opts);
  const g = def.graph(net, opts, false);
  return tf.model({ inputs: g.input, outputs: g.logits, name: 'eas' });
}

/**
 * A trainable tfjs model of `net` holding `weights`. It outputs LOGITS: apply softmax in the loss and compare logits
 * when verifying transformations. Layer names derive from stable layer ids, so they survive transformations.
 */
export function buildModelOf<N>(def: NetGraphs<N>, net: N, weights: Weights, opts: ModelOptions = {}): tf.LayersModel {
  ModelOptionsSchema.parse(opts);
  const specs = def.weightSpecs(net);
  validateWeightsFor(specs, weights);
  const g = def.graph(net, opts, false);
  const model = tf.model({ inputs: g.input, outputs: g.logits, name: 'eas' });
  try {
    setWeightsFor(model, specs, weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/**
 * A self-contained inference model: raw pixels (0–255, float32) in, logits out. Its first layer is the dataset's
 * per-channel normalisation (x − mean) / std, a frozen BatchNormalization (src/nn/model.ts inputNormalizationLayer), so
 * the model loads with plain tf.loadLayersModel, with no eas code around it. No dropout (inference only).
 */
export function buildInferenceModelOf<N>(def: NetGraphs<N>, net: N, weights: Weights, norm: InputNormalization, opts: Pick<ModelOptions, 'bnEpsilon'> = {}): tf.LayersModel {
  checkInputNormalization(norm, def.inputShape(net)[2]);
  const specs = def.weightSpecs(net);
  validateWeightsFor(specs, weights);
  const g = def.graph(net, { bnEpsilon: opts.bnEpsilon }, true);
  const model = tf.model({ inputs: g.input, outputs: g.logits, name: 'eas' });
  try {
    setWeightsFor(model, specs, weights);
    setInputNormalization(model, norm);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/** Read every weight (BatchNorm moving statistics included) back out of a model built by buildModelOf. */
export function extractWeightsFor(model: tf.LayersModel, specs: readonly WeightSpec[]): Weights {
  const out: Weights = {};
  for (const w of specs) {
    const variable = model.getLayer(w.layer).weights[w.index];
    if (!variable) throw new WeightsError(w.name, `model layer ${w.layer} has no weight #${w.index}`);
    const got = variable.shape as number[];
    if (!sameShape(got, w.shape)) throw new WeightsError(w.name, `model variable has shape [${got.join(', ')}], the network needs [${w.shape.join(', ')}]`);
    // Copy: on the cpu backend dataSync returns the variable's own buffer.
    out[w.name] = { shape: [...w.shape], data: new Float32Array(variable.read().dataSync() as Float32Array) };
  }
  return out;
}

/** Logits on a batch in inference mode (BatchNorm moving statistics, no dropout), through the Layers model. */
export function predictLogitsOf<N>(def: NetGraphs<N>, net: N, weights: Weights, batch: tf.Tensor, opts: ModelOptions = {}): Float32Array {
  const [h, w, c] = def.inputShape(net);
  const s = batch.shape;
  if (s.length !== 4 || s[1] !== h || s[2] !== w || s[3] !== c) throw new Error(`batch: expected shape [n, ${h}, ${w}, ${c}], got [${s.join(', ')}]`);
  const model = buildModelOf(def, net, weights, opts);
  try {
    return tf.tidy(() => new Float32Array((model.predict(batch) as tf.Tensor).dataSync()));
  } finally {
    model.dispose();
  }
}
