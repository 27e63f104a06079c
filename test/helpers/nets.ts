import type * as tf from '@tensorflow/tfjs';
import { type InputShape, parseNotation } from '../../src/arch';
import { type Weights, initWeights } from '../../src/nn/weights';
import { randomBatch, randomizeBatchNorm } from '../../src/transform/random';
import type { Network } from '../../src/transform/apply';
import { Rng } from '../../src/util/rng';

/** A network from the paper's notation with seeded He weights and non-trivial BatchNorm statistics. */
export function net(notation: string, input: InputShape, seed = 1): Network {
  const arch = parseNotation(notation, input);
  const rng = Rng.fromSeed(seed);
  const weights: Weights = randomizeBatchNorm(arch, initWeights(arch, rng), rng);
  return { arch, weights };
}

/** Seeded standard-normal images (the caller disposes). */
export function batch(input: InputShape, n = 4, seed = 99): tf.Tensor4D {
  return randomBatch(Rng.fromSeed(seed), input, n);
}

export function bitwiseEqual(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function weightsBitwiseEqual(a: Weights, b: Weights): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join('|') !== kb.join('|')) return false;
  return ka.every((k) => a[k].shape.join(',') === b[k].shape.join(',') && bitwiseEqual(a[k].data, b[k].data));
}
