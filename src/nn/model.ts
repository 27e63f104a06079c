import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import type { Arch } from '../arch';
import { type Graph, type NetGraphs, buildInferenceModelOf, buildModelOf, extractWeightsFor, setWeightsFor } from './network';
import { type Weights, plainWeightSpecs } from './weights';

/**
 * Defaults:
 * - bnEpsilon 1e-5: the paper's reference TensorFlow code (han-cai/EAS, tf_utils.batch_normalization) uses 1e-5.
 *   Net2Deeper sets gamma = √(var + ε), so transformations must use the same ε as the model (DEFAULT_BN_EPSILON).
 * - bnMomentum 0.9: the authors' `bn_decay` (han-cai/EAS start_nets/…/net.config and run_simple_convnet.py: 0.9,
 *   passed as `decay` to tf.contrib.layers.batch_norm, which keeps moving statistics for inference, is_training false).
 *   moving = 0.9·moving + 0.1·batch, so the statistics follow a network that changes under fine-tuning within ~10
 *   steps, where the Keras default 0.99 needs ~100.
 * - no dropout: the paper uses dropout only on SVHN (0.2 after every conv except the first), so callers opt in.
 */
export const DEFAULT_BN_EPSILON = 1e-5;
export const DEFAULT_BN_MOMENTUM = 0.9;

export const ModelOptionsSchema = z
  .object({
    dropout: z
      .object({
        conv: z.number().min(0).max(1).optional(),
        fc: z.number().min(0).max(1).optional(),
        /** Default true: the paper adds dropout "after each convolutional layer (except the first layer)". */
        skipFirstConv: z.boolean().optional(),
      })
      .strict()
      .optional(),
    bnEpsilon: z.number().positive().optional(),
    bnMomentum: z.number().min(0).max(1).optional(),
  })
  .strict();
export type ModelOptions = z.infer<typeof ModelOptionsSchema>;

/** tfjs layer names, derived from the stable layer ids so that they survive transformations. */
export const layerNames = {
  main: (id: string): string => id,
  bn: (id: string): string => `${id}_bn`,
  relu: (id: string): string => `${id}_relu`,
  dropout: (id: string): string => `${id}_dropout`,
  flatten: (beforeId: string): string => `${beforeId}_flatten`,
  classifier: 'classifier',
  input: 'input',
} as const;

/** Which tfjs layer holds each of our weights, and its position in that layer's `weights` list. */
export function weightLocations(arch: Arch): Map<string, { layer: string; index: number }> {
  return new Map(plainWeightSpecs(arch).map((w) => [w.name, { layer: w.layer, index: w.index }]));
}

function buildGraph(arch: Arch, opts: ModelOptions, inputNormalization?: boolean): Graph {
  const epsilon = opts.bnEpsilon ?? DEFAULT_BN_EPSILON;
  const momentum = opts.bnMomentum ?? DEFAULT_BN_MOMENTUM;
  const skipFirst = opts.dropout?.skipFirstConv ?? true;
  const input = tf.input({ shape: [...arch.input], name: layerNames.input });
  let x: tf.SymbolicTensor = input;
  if (inputNormalization) x = inputNormalizationLayer(x);
  let flat = false;
  let seenConv = false;
  const flatten = (beforeId: string) => {
    if (!flat) x = tf.layers.flatten({ name: layerNames.flatten(beforeId) }).apply(x) as tf.SymbolicTensor;
    flat = true;
  };
  for (const l of arch.layers) {
    if (l.type === 'pool') {
      const cfg = { name: layerNames.main(l.id), poolSize: l.size, strides: l.stride, padding: 'same' as const };
      x = (l.op === 'max' ? tf.layers.maxPooling2d(cfg) : tf.layers.averagePooling2d(cfg)).apply(x) as tf.SymbolicTensor;
      continue;
    }
    let rate: number | undefined;
    if (l.type === 'conv') {
      x = tf.layers
        .conv2d({ name: layerNames.main(l.id), filters: l.filters, kernelSize: l.kernel, strides: l.stride, padding: 'same', useBias: false, kernelInitializer: 'zeros' })
        .apply(x) as tf.SymbolicTensor;
      rate = seenConv || !skipFirst ? opts.dropout?.conv : undefined;
      seenConv = true;
    } else {
      flatten(l.id);
      x = tf.layers.dense({ name: layerNames.main(l.id), units: l.units, useBias: false, kernelInitializer: 'zeros' }).apply(x) as tf.SymbolicTensor;
      rate = opts.dropout?.fc;
    }
    x = tf.layers.batchNormalization({ name: layerNames.bn(l.id), axis: -1, epsilon, momentum }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: layerNames.relu(l.id) }).apply(x) as tf.SymbolicTensor;
    if (rate) x = tf.layers.dropout({ name: layerNames.dropout(l.id), rate }).apply(x) as tf.SymbolicTensor;
  }
  flatten(layerNames.classifier);
  const logits = tf.layers.dense({ name: layerNames.classifier, units: arch.classes, useBias: true, kernelInitializer: 'zeros' }).apply(x) as tf.SymbolicTensor;
  return { input, logits };
}

/** The plain space's weight layout and graph, for the generic model, checkpoint and training code (src/nn/network.ts). */
export const PLAIN_GRAPHS: NetGraphs<Arch> = { weightSpecs: plainWeightSpecs, graph: (arch, opts, norm) => buildGraph(arch, opts, norm), inputShape: (arch) => arch.input };

/** Copy our weights into the model's variables (by layer name and position, never by variable name). */
export function setModelWeights(model: tf.LayersModel, arch: Arch, weights: Weights, onlyLayers?: ReadonlySet<string>): void {
  setWeightsFor(model, plainWeightSpecs(arch), weights, onlyLayers);
}

/** A trainable tfjs model for `arch` holding `weights`; it outputs logits (src/nn/network.ts buildModelOf). */
export function buildModel(arch: Arch, weights: Weights, opts: ModelOptions = {}): tf.LayersModel {
  return buildModelOf(PLAIN_GRAPHS, arch, weights, opts);
}

export const INPUT_NORMALIZATION_LAYER = 'input_normalization';
/** ε of the input normalisation: negligible against pixel variances (≥ 1 in 0–255 units), and > 0 as tfjs wants. */
export const INPUT_NORMALIZATION_EPSILON = 1e-6;

export interface InputNormalization {
  mean: readonly number[];
  std: readonly number[];
}

/** The raw-pixel normalisation layer of an inference model (either space's): a frozen BatchNormalization. */
export function inputNormalizationLayer(x: tf.SymbolicTensor): tf.SymbolicTensor {
  return tf.layers
    .batchNormalization({ name: INPUT_NORMALIZATION_LAYER, axis: -1, epsilon: INPUT_NORMALIZATION_EPSILON, center: false, scale: false, trainable: false })
    .apply(x) as tf.SymbolicTensor;
}

export function checkInputNormalization(norm: InputNormalization, channels: number): void {
  if (norm.mean.length !== channels || norm.std.length !== channels) throw new Error(`input normalisation has ${norm.mean.length} means and ${norm.std.length} stds, the network has ${channels} input channels`);
  if (norm.std.some((v) => !(v > 0))) throw new Error(`input normalisation: every std must be positive, got [${norm.std.join(', ')}]`);
}

/** Sets the normalisation layer's statistics: with center/scale off it holds [moving_mean, moving_variance]. */
export function setInputNormalization(model: tf.LayersModel, norm: InputNormalization): void {
  const stats = [tf.tensor1d(norm.mean.map(Number)), tf.tensor1d(norm.std.map((s) => s * s - INPUT_NORMALIZATION_EPSILON))];
  try {
    model.getLayer(INPUT_NORMALIZATION_LAYER).setWeights(stats);
  } finally {
    tf.dispose(stats);
  }
}

/** Raw pixels (0–255) in, logits out (src/nn/network.ts buildInferenceModelOf). */
export function buildInferenceModel(arch: Arch, weights: Weights, norm: InputNormalization, opts: Pick<ModelOptions, 'bnEpsilon'> = {}): tf.LayersModel {
  return buildInferenceModelOf(PLAIN_GRAPHS, arch, weights, norm, opts);
}

/** Read every weight (including BatchNorm moving statistics) back out of a model built by buildModel. */
export function extractWeights(model: tf.LayersModel, arch: Arch): Weights {
  return extractWeightsFor(model, plainWeightSpecs(arch));
}
