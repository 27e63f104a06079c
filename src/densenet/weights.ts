import { type WeightSpec, initWeightsFor, validateWeightsFor } from '../nn/network';
import { BN_PARAMS, type BnParam, type Weights } from '../nn/weights';
import type { Rng } from '../util/rng';
import { denseShapes, validateDenseNet } from './analysis';
import type { DenseNet } from './schema';

/**
 * tfjs layer names of a DenseNet's parts. Our weight names are exactly tfjs's variable names (`<layer>/<param>`), so a
 * checkpoint's manifest needs no translation. Dense layer ids never contain `_`, so these names cannot collide.
 */
export const denseNames = {
  input: 'input',
  stem: 'stem',
  bn1: (id: string) => `${id}_bn1`,
  relu1: (id: string) => `${id}_relu1`,
  conv1: (id: string) => `${id}_conv1`,
  bn2: (id: string) => `${id}_bn2`,
  relu2: (id: string) => `${id}_relu2`,
  conv2: (id: string) => `${id}_conv2`,
  concat: (id: string) => `${id}_concat`,
  transition: (block: number) => `T${block + 1}`,
  finalBn: 'final_bn',
  finalRelu: 'final_relu',
  finalPool: 'final_pool',
  classifier: 'classifier',
} as const;

export const tBn = (block: number): string => `${denseNames.transition(block)}_bn`;
export const tRelu = (block: number): string => `${denseNames.transition(block)}_relu`;
export const tConv = (block: number): string => `${denseNames.transition(block)}_conv`;
export const tPool = (block: number): string => `${denseNames.transition(block)}_pool`;

export const kernelOf = (layer: string): string => `${layer}/kernel`;
export const bnOf = (layer: string, p: BnParam): string => `${layer}/${p}`;
export const DENSE_CLASSIFIER_KERNEL = 'classifier/kernel';
export const DENSE_CLASSIFIER_BIAS = 'classifier/bias';

/**
 * Every weight of a DenseNet with its shape and where it lives (tfjs layer, index in that layer's weights), in network
 * order. Conv kernels are [kh, kw, cin, cout]; the classifier kernel [channels, classes].
 */
export function denseWeightSpecs(net: DenseNet): WeightSpec[] {
  const s = denseShapes(net);
  const out: WeightSpec[] = [];
  const conv = (layer: string, shape: number[]) => out.push({ name: kernelOf(layer), shape, layer, index: 0 });
  const bn = (layer: string, width: number) => BN_PARAMS.forEach((p, index) => out.push({ name: bnOf(layer, p), shape: [width], layer, index }));
  conv(denseNames.stem, [net.stem.kernel, net.stem.kernel, net.input[2], net.stem.filters]);
  net.blocks.forEach((b, bi) => {
    b.layers.forEach((l, li) => {
      const cin = s.blocks[bi].layerIn[li];
      bn(denseNames.bn1(l.id), cin);
      conv(denseNames.conv1(l.id), [1, 1, cin, l.bottleneck]);
      bn(denseNames.bn2(l.id), l.bottleneck);
      conv(denseNames.conv2(l.id), [3, 3, l.bottleneck, l.growth]);
    });
    if (b.transition !== undefined) {
      bn(tBn(bi), s.blocks[bi].outChannels);
      conv(tConv(bi), [1, 1, s.blocks[bi].outChannels, b.transition]);
    }
  });
  bn(denseNames.finalBn, s.classifierIn);
  out.push({ name: DENSE_CLASSIFIER_KERNEL, shape: [s.classifierIn, net.classes], layer: denseNames.classifier, index: 0 });
  out.push({ name: DENSE_CLASSIFIER_BIAS, shape: [net.classes], layer: denseNames.classifier, index: 1 });
  return out;
}

/** Throw a WeightsError naming the weight unless `weights` holds exactly the network's weights with the right shapes. */
export function validateDenseWeights(net: DenseNet, weights: Weights): void {
  validateWeightsFor(denseWeightSpecs(validateDenseNet(net)), weights);
}

/** Fresh weights, seeded (src/nn/network.ts initWeightsFor: He-normal kernels as DenseNet's reference code, identity BatchNorm). */
export function initDenseWeights(net: DenseNet, rng: Rng): Weights {
  return initWeightsFor(denseWeightSpecs(validateDenseNet(net)), rng);
}
