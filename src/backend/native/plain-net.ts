/**
 * The training forward pass of a plain net (src/nn/model.ts: conv/fc → BatchNorm → ReLU, pools, classifier) on the
 * native engine with each BatchNorm + ReLU fused into one native kernel each way (EasBnRelu / EasBnReluGrad, see
 * ./dense-block.ts) instead of tf.layers' moments, normalisation, ReLU and their gradients (about twenty tfjs ops per
 * layer). Same variables, same function, same moving-statistics updates as `model.apply(x, { training: true })`.
 */
import * as tf from '@tensorflow/tfjs';
import type { Arch } from '../../arch/schema';
import { layerNames } from '../../nn/model';
import { type Bn, bnRelu, bnVariables, denseKernelsReady, movingAverage } from './dense-block';

export function plainTrainingForward(model: tf.LayersModel, arch: Arch): ((x: tf.Tensor) => tf.Tensor) | null {
  if (!denseKernelsReady() || tf.getBackend() !== 'wasm' || process.env.EAS_NATIVE_DENSE === '0') return null;
  if (model.layers.some((l) => l.getClassName() === 'Dropout')) return null;
  type Step =
    | { kind: 'pool'; op: 'max' | 'avg'; size: number; stride: number }
    | ({ kind: 'conv' | 'fc'; stride: number; w: tf.Variable } & Bn);
  const steps: Step[] = [];
  for (const l of arch.layers) {
    if (l.type === 'pool') {
      steps.push({ kind: 'pool', op: l.op, size: l.size, stride: l.stride });
      continue;
    }
    const bn = bnVariables(model, layerNames.bn(l.id));
    if (!bn) return null;
    const w = model.getLayer(layerNames.main(l.id)).weights[0].read() as tf.Variable;
    steps.push({ kind: l.type, stride: l.type === 'conv' ? l.stride : 1, w, ...bn });
  }
  const [ck, cb] = model.getLayer(layerNames.classifier).weights.map((w) => w.read() as tf.Variable);
  return (x: tf.Tensor) =>
    tf.tidy(() => {
      let h = x;
      for (const s of steps) {
        if (s.kind === 'pool') {
          h = s.op === 'max' ? tf.maxPool(h as tf.Tensor4D, s.size, s.stride, 'same') : tf.avgPool(h as tf.Tensor4D, s.size, s.stride, 'same');
          continue;
        }
        if (s.kind === 'conv') h = tf.conv2d(h as tf.Tensor4D, s.w as unknown as tf.Tensor4D, s.stride, 'same');
        else h = tf.matMul(h.rank === 2 ? h : tf.reshape(h, [h.shape[0], -1]), s.w);
        h = bnRelu(h, s.gamma, s.beta, s.eps, (stats) => movingAverage(stats, [s.mean, s.variance], s.momentum));
      }
      const flat = h.rank === 2 ? h : tf.reshape(h, [h.shape[0], -1]);
      return tf.add(tf.matMul(flat, ck), cb);
    });
}
