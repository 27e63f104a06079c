import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from '../nn/model';
import { inferenceForward } from '../nn/forward';
import type { Network } from './apply';
import { checkBatch } from './deeper';

/** Logits of a network on a batch, in inference mode (BatchNorm uses moving statistics, dropout is off). */
export function predictLogits(net: Network, batch: tf.Tensor, opts: ModelOptions = {}): Float32Array {
  checkBatch(net.arch, batch);
  // The same inference ops as buildModel's Layers model, without building one (see inferenceForward).
  const logits = inferenceForward(net.arch, net.weights, batch, { bnEpsilon: opts.bnEpsilon });
  try {
    return new Float32Array(logits.dataSync());
  } finally {
    logits.dispose();
  }
}

/** max |logits(parent) − logits(child)| over the batch, in inference mode: 0 up to float error when the child preserves the function. */
export function verifyPreservation(parent: Network, child: Network, batch: tf.Tensor, opts: ModelOptions = {}): number {
  if (parent.arch.classes !== child.arch.classes) throw new Error(`parent has ${parent.arch.classes} classes, child ${child.arch.classes}: not comparable`);
  return maxAbsDiff(predictLogits(parent, batch, opts), predictLogits(child, batch, opts));
}

/** max |a − b|; a NaN difference counts as Infinity, so it can never hide. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} logits with ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
  }
  return max;
}
