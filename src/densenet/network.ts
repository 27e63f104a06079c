import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { type Arch, ArchSchema, canonicalKey, paramCount, toNotation } from '../arch';
import { type LoadedNetwork, type NetworkMeta, type SaveOptions, loadNetwork, saveNetwork } from '../checkpoint/network';
import { type InputNormalization, type ModelOptions, buildInferenceModel, buildModel, extractWeights, weightLocations } from '../nn/model';
import type { Weights } from '../nn/weights';
import { denseCanonicalKey, denseParamCount } from './analysis';
import { isDenseCheckpoint, loadDenseNetwork, saveDenseNetwork } from './checkpoint';
import { buildDenseInferenceModel, buildDenseModel, extractDenseWeights } from './model';
import { toDenseNotation } from './notation';
import { type DenseNet, DenseNetSchema } from './schema';
import { denseWeightSpecs } from './weights';

/**
 * Either space's network, for code that trains, saves or loads a network without caring which space it is from
 * (the training loop, epoch checkpoints, `eas train`). A DenseNet is told apart by its `space: "densenet"` field;
 * plain architectures have none (their schema is strict), so existing plain artifacts parse unchanged.
 */
export type AnyNet = Arch | DenseNet;
export const AnyNetSchema = z.union([ArchSchema, DenseNetSchema]);

export const isDenseNet = (net: AnyNet): net is DenseNet => 'space' in net && net.space === 'densenet';

export function buildAnyModel(net: AnyNet, weights: Weights, opts: ModelOptions = {}): tf.LayersModel {
  return isDenseNet(net) ? buildDenseModel(net, weights, opts) : buildModel(net, weights, opts);
}

/** Raw pixels in, logits out (the export's model), for either space. */
export function buildAnyInferenceModel(net: AnyNet, weights: Weights, norm: InputNormalization, opts: Pick<ModelOptions, 'bnEpsilon'> = {}): tf.LayersModel {
  return isDenseNet(net) ? buildDenseInferenceModel(net, weights, norm, opts) : buildInferenceModel(net, weights, norm, opts);
}

export function extractAnyWeights(model: tf.LayersModel, net: AnyNet): Weights {
  return isDenseNet(net) ? extractDenseWeights(model, net) : extractWeights(model, net);
}

/** Which tfjs layer holds each weight and its index in that layer's weights, in the network's weight order. */
export function anyWeightLocations(net: AnyNet): Map<string, { layer: string; index: number }> {
  return isDenseNet(net) ? new Map(denseWeightSpecs(net).map((w) => [w.name, { layer: w.layer, index: w.index }])) : weightLocations(net);
}

export const anyParamCount = (net: AnyNet): number => (isDenseNet(net) ? denseParamCount(net) : paramCount(net));
/** The space's notation (the paper's for plain nets, src/densenet/notation.ts for DenseNets). */
export const anyNotation = (net: AnyNet): string => (isDenseNet(net) ? toDenseNotation(net) : toNotation(net));
export const anyCanonicalKey = (net: AnyNet): string => (isDenseNet(net) ? denseCanonicalKey(net) : canonicalKey(net));

export function saveAnyNetwork(dir: string, net: AnyNet, weights: Weights, meta: NetworkMeta = {}, opts: SaveOptions = {}): Promise<boolean> {
  return isDenseNet(net) ? saveDenseNetwork(dir, net, weights, meta, opts) : saveNetwork(dir, net, weights, meta, opts);
}

export interface LoadedAnyNetwork extends Omit<LoadedNetwork, 'arch'> {
  arch: AnyNet;
}

/** Load a checkpoint of either space (CheckpointError naming the file on any problem). */
export function loadAnyNetwork(dir: string): LoadedAnyNetwork {
  if (isDenseCheckpoint(dir)) {
    const d = loadDenseNetwork(dir);
    return { arch: d.net, weights: d.weights, meta: d.meta, modelOptions: d.modelOptions };
  }
  return loadNetwork(dir);
}
