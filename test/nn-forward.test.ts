import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_SPACE, type InputShape } from '../src/arch';
import { buildModel, inferenceForward, initWeights } from '../src/nn';
import { randomArch, randomBatch, randomizeBatchNorm } from '../src/transform/random';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';

before(setupBackend);

const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('inferenceForward computes the Layers model’s inference logits, on random networks and BatchNorm statistics', async () => {
  const shapes: InputShape[] = [
    [8, 8, 1],
    [12, 12, 3],
    [9, 9, 2],
  ];
  for (let seed = 1; seed <= 12; seed++) {
    const rng = Rng.fromSeed(seed);
    const input = shapes[seed % shapes.length];
    const arch = randomArch(rng, input, DEFAULT_SPACE, { maxFc: 2 });
    const weights = randomizeBatchNorm(arch, initWeights(arch, rng), rng);
    const x = randomBatch(rng, input, 1 + (seed % 5));
    const model = buildModel(arch, weights, { bnEpsilon: 1e-3 });
    const expected = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();
    const got = await assertNoLeak(() => {
      const t = inferenceForward(arch, weights, x, { bnEpsilon: 1e-3 });
      const out = t.dataSync() as Float32Array;
      t.dispose();
      return out;
    });
    assert.equal(got.length, expected.length);
    const scale = Math.max(1, ...Array.from(expected, Math.abs));
    assert.ok(maxAbs(got, expected) <= 1e-5 * scale, `seed ${seed}: max |Δ| ${maxAbs(got, expected)} (scale ${scale})`);
    // upTo the last layer, flattened, then the classifier by hand: the logits again, so upTo stops after that layer.
    const last = arch.layers.length - 1;
    const again = tf.tidy(() => {
      const feats = inferenceForward(arch, weights, x, { bnEpsilon: 1e-3, upTo: last, flatten: true });
      const k = weights['classifier/kernel'];
      return tf.add(tf.matMul(feats as tf.Tensor2D, tf.tensor2d(k.data, k.shape as [number, number])), tf.tensor1d(weights['classifier/bias'].data)).dataSync() as Float32Array;
    });
    assert.ok(maxAbs(again, expected) <= 1e-5 * scale, `seed ${seed}: upTo the last layer then the classifier differs by ${maxAbs(again, expected)}`);
    x.dispose();
  }
});

test('inferenceForward names a missing weight and an index outside the network', () => {
  const rng = Rng.fromSeed(3);
  const arch = randomArch(rng, [8, 8, 1], DEFAULT_SPACE);
  const weights = initWeights(arch, rng);
  const x = randomBatch(rng, [8, 8, 1], 2);
  assert.throws(() => inferenceForward(arch, weights, x, { upTo: arch.layers.length }), /layer index .* outside/);
  const { ['L0/kernel']: _gone, ...rest } = weights;
  assert.throws(() => inferenceForward(arch, rest, x), /weight L0\/kernel is missing/);
  x.dispose();
});
