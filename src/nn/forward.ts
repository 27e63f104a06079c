import * as tf from '@tensorflow/tfjs';
import type { Arch } from '../arch';
import { DEFAULT_BN_EPSILON } from './model';
import { CLASSIFIER_BIAS, CLASSIFIER_KERNEL, type Weights, bnName, kernelName } from './weights';

/**
 * Inference forward pass of a plain network straight on tfjs ops, the same ops the Layers model of `buildModel` runs
 * in inference mode (conv2d / matMul without bias → batchNorm with the moving statistics → relu; max/avg pools with
 * 'same' padding; flatten before the first fc). Why not the Layers model: building one creates a variable per weight,
 * initialises it and copies the weights in, which costs more than the forward pass itself on the small batches a
 * transformation reads (Net2Deeper's BatchNorm statistics after every inserted layer, the preservation check). Dropout
 * is inactive at inference, so it has no counterpart here. `test/nn-forward.test.ts` holds it to the Layers model.
 *
 * Returns the activation after arch layer `upTo` (after its BN/ReLU; flattened when `flatten`), or the logits when
 * `upTo` is undefined. The caller owns the returned tensor; everything else is freed.
 */
export function inferenceForward(arch: Arch, weights: Weights, batch: tf.Tensor, opts: { bnEpsilon?: number; upTo?: number; flatten?: boolean } = {}): tf.Tensor {
  if (opts.upTo !== undefined && (opts.upTo < 0 || opts.upTo >= arch.layers.length)) throw new RangeError(`layer index ${opts.upTo} is outside 0..${arch.layers.length - 1}`);
  return tf.tidy(() => {
    const last = opts.upTo ?? arch.layers.length - 1;
    const x = layerOutputs(arch, weights, batch, opts.bnEpsilon ?? DEFAULT_BN_EPSILON, last)[last];
    if (opts.upTo !== undefined) return opts.flatten ? flat(x) : x;
    return tf.add(tf.matMul(flat(x) as tf.Tensor2D, weightTensor(weights, CLASSIFIER_KERNEL) as tf.Tensor2D), weightTensor(weights, CLASSIFIER_BIAS));
  });
}

/** The activation after every arch layer (after its BN/ReLU), in layer order, in inference mode; the caller owns them. */
export function inferenceActivations(arch: Arch, weights: Weights, batch: tf.Tensor, opts: { bnEpsilon?: number } = {}): tf.Tensor[] {
  return tf.tidy(() => layerOutputs(arch, weights, batch, opts.bnEpsilon ?? DEFAULT_BN_EPSILON, arch.layers.length - 1));
}

const flat = (t: tf.Tensor): tf.Tensor => (t.rank > 2 ? t.reshape([t.shape[0], -1]) : t);

function weightTensor(weights: Weights, name: string): tf.Tensor {
  const a = weights[name];
  if (!a) throw new Error(`weight ${name} is missing`);
  return tf.tensor(a.data, a.shape, 'float32');
}

/** Outputs of layers 0..last (inside the caller's tidy). */
function layerOutputs(arch: Arch, weights: Weights, batch: tf.Tensor, epsilon: number, last: number): tf.Tensor[] {
  const outs: tf.Tensor[] = [];
  let x = batch;
  for (let i = 0; i <= last; i++) {
    const l = arch.layers[i];
    if (l.type === 'pool') {
      const pool = l.op === 'max' ? tf.maxPool : tf.avgPool;
      x = pool(x as tf.Tensor4D, l.size, l.stride, 'same');
    } else {
      const w = (name: string) => weightTensor(weights, name);
      x =
        l.type === 'conv'
          ? tf.conv2d(x as tf.Tensor4D, w(kernelName(l.id)) as tf.Tensor4D, l.stride, 'same')
          : tf.matMul(flat(x) as tf.Tensor2D, w(kernelName(l.id)) as tf.Tensor2D);
      x = tf.relu(tf.batchNorm(x, w(bnName(l.id, 'moving_mean')), w(bnName(l.id, 'moving_variance')), w(bnName(l.id, 'beta')), w(bnName(l.id, 'gamma')), epsilon));
    }
    outs.push(x);
  }
  return outs;
}
