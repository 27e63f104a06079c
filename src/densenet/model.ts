import * as tf from '@tensorflow/tfjs';
import { DEFAULT_BN_EPSILON, type ModelOptions, inputNormalizationLayer } from '../nn/model';
import { type NetGraphs, buildModelOf, predictLogitsOf } from '../nn/network';
import type { Weights } from '../nn/weights';
import { validateDenseNet } from './analysis';
import type { DenseNet } from './schema';
import { denseNames, denseWeightSpecs, tBn, tConv, tPool, tRelu } from './weights';

type Sym = tf.SymbolicTensor;

/**
 * BatchNorm moving-average momentum of DenseNets unless the options set one: 0.9, the authors' DenseNet setting
 * (han-cai/EAS, DenseNetConfig.set_standard_dense_net: bn_decay=0.9, with moving statistics at test time). The plain
 * nets' 0.99 leaves a DenseNet's many BatchNorms far from their data after short trainings (test accuracy lags).
 */
export const DENSE_BN_MOMENTUM = 0.9;

/**
 * The functional graph of a DenseNet-BC. Dense layers concatenate their output to their input (Concatenate on the
 * channel axis), so the model is a DAG, saved and reloaded as a standard TF.js Layers functional model.
 * Dropout is applied after each conv of a dense layer and transition when `opts.dropout.conv` is set (DenseNet's
 * recipe without augmentation); the paper's C10+ runs use none.
 */
function buildGraph(net: DenseNet, opts: ModelOptions, inputNormalization = false): { input: Sym; logits: Sym } {
  const epsilon = opts.bnEpsilon ?? DEFAULT_BN_EPSILON;
  const momentum = opts.bnMomentum ?? DENSE_BN_MOMENTUM;
  const rate = opts.dropout?.conv;
  const bnRelu = (x: Sym, bn: string, relu: string): Sym =>
    tf.layers.reLU({ name: relu }).apply(tf.layers.batchNormalization({ name: bn, axis: -1, epsilon, momentum }).apply(x)) as Sym;
  const conv = (x: Sym, name: string, filters: number, kernel: number): Sym => {
    const y = tf.layers.conv2d({ name, filters, kernelSize: kernel, strides: 1, padding: 'same', useBias: false, kernelInitializer: 'zeros' }).apply(x) as Sym;
    return rate ? (tf.layers.dropout({ name: `${name}_dropout`, rate }).apply(y) as Sym) : y;
  };
  const input = tf.input({ shape: [...net.input], name: denseNames.input });
  // The same raw-pixel normalisation layer as plain nets' inference models (src/nn/model.ts buildInferenceModel).
  const pixels = inputNormalization ? inputNormalizationLayer(input) : input;
  let x = tf.layers
    .conv2d({ name: denseNames.stem, filters: net.stem.filters, kernelSize: net.stem.kernel, padding: 'same', useBias: false, kernelInitializer: 'zeros' })
    .apply(pixels) as Sym;
  net.blocks.forEach((b, bi) => {
    for (const l of b.layers) {
      let y = conv(bnRelu(x, denseNames.bn1(l.id), denseNames.relu1(l.id)), denseNames.conv1(l.id), l.bottleneck, 1);
      y = conv(bnRelu(y, denseNames.bn2(l.id), denseNames.relu2(l.id)), denseNames.conv2(l.id), l.growth, 3);
      x = tf.layers.concatenate({ name: denseNames.concat(l.id), axis: -1 }).apply([x, y]) as Sym;
    }
    if (b.transition !== undefined) {
      x = conv(bnRelu(x, tBn(bi), tRelu(bi)), tConv(bi), b.transition, 1);
      x = tf.layers.averagePooling2d({ name: tPool(bi), poolSize: 2, strides: 2, padding: 'valid' }).apply(x) as Sym;
    }
  });
  x = bnRelu(x, denseNames.finalBn, denseNames.finalRelu);
  x = tf.layers.globalAveragePooling2d({ name: denseNames.finalPool }).apply(x) as Sym;
  const logits = tf.layers.dense({ name: denseNames.classifier, units: net.classes, useBias: true, kernelInitializer: 'zeros' }).apply(x) as Sym;
  return { input, logits };
}

/** The DenseNet space's weight layout and graph, for the generic model, checkpoint and training code (src/nn/network.ts). */
export const DENSE_GRAPHS: NetGraphs<DenseNet> = { weightSpecs: (net) => denseWeightSpecs(validateDenseNet(net)), graph: (net, opts, norm) => buildGraph(net, opts, norm), inputShape: (net) => net.input };

/** A trainable functional tfjs model of `net` holding `weights`; it outputs logits. */
export function buildDenseModel(net: DenseNet, weights: Weights, opts: ModelOptions = {}): tf.LayersModel {
  return buildModelOf(DENSE_GRAPHS, net, weights, opts);
}

/** Logits on a batch in inference mode (BatchNorm moving statistics, no dropout). */
export function predictDenseLogits(net: DenseNet, weights: Weights, batch: tf.Tensor, opts: ModelOptions = {}): Float32Array {
  return predictLogitsOf(DENSE_GRAPHS, net, weights, batch, opts);
}
