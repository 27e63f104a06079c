import { BN_PARAMS, type BnParam, type Weights, WeightArraySchema, WeightsError } from '../nn/weights';
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
export function denseWeightSpecs(net: DenseNet): { name: string; shape: number[]; layer: string; index: number }[] {
  const s = denseShapes(net);
  const out: { name: string; shape: number[]; layer: string; index: number }[] = [];
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

export function expectedDenseWeightShapes(net: DenseNet): Map<string, number[]> {
  validateDenseNet(net);
  return new Map(denseWeightSpecs(net).map((w) => [w.name, w.shape]));
}

/** Throw a WeightsError naming the weight unless `weights` holds exactly the network's weights with the right shapes. */
export function validateDenseWeights(net: DenseNet, weights: Weights): void {
  const expected = expectedDenseWeightShapes(net);
  for (const [name, shape] of expected) {
    const w = weights[name];
    if (!w) throw new WeightsError(name, `missing (expected shape [${shape.join(', ')}])`);
    const parsed = WeightArraySchema.safeParse(w);
    if (!parsed.success) throw new WeightsError(name, parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; '));
    if (w.shape.length !== shape.length || w.shape.some((v, i) => v !== shape[i])) {
      throw new WeightsError(name, `shape [${w.shape.join(', ')}] does not match the network's [${shape.join(', ')}]`);
    }
  }
  for (const name of Object.keys(weights)) if (!expected.has(name)) throw new WeightsError(name, 'unexpected: the network has no such weight');
}

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
 * Fresh weights, seeded: He-normal conv kernels (std √(2/fan_in), as DenseNet's reference code), identity BatchNorm
 * (gamma 1, beta 0, mean 0, var 1), a Glorot-uniform classifier kernel and zero bias.
 */
export function initDenseWeights(net: DenseNet, rng: Rng): Weights {
  const out: Weights = {};
  for (const { name, shape } of denseWeightSpecs(validateDenseNet(net))) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name === DENSE_CLASSIFIER_KERNEL) {
      const limit = Math.sqrt(6 / (shape[0] + shape[1]));
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.float() - 1) * limit;
    } else if (name.endsWith('/kernel')) {
      fillNormal(data, Math.sqrt(2 / shape.slice(0, -1).reduce((a, b) => a * b, 1)), rng);
    } else if (name.endsWith('/gamma') || name.endsWith('/moving_variance')) {
      data.fill(1);
    }
    out[name] = { shape, data };
  }
  return out;
}
