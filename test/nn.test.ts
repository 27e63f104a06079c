import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { TABLE1_START, nonTrainableCount, paramCount, parseNotation } from '../src/arch';
import { DEFAULT_BN_EPSILON, WeightsError, buildModel, cloneWeights, expectedWeightShapes, extractWeights, initWeights, validateWeights } from '../src/nn';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';
import { batch, net, weightsBitwiseEqual } from './helpers/nets';

before(setupBackend);

test('initWeights: every weight of the arch, seeded, He-normal kernels and identity BatchNorm', () => {
  const arch = parseNotation(TABLE1_START, [32, 32, 3]);
  const a = initWeights(arch, Rng.fromSeed(5));
  const b = initWeights(arch, Rng.fromSeed(5));
  const c = initWeights(arch, Rng.fromSeed(6));
  validateWeights(arch, a);
  assert.deepEqual(Object.keys(a), [...expectedWeightShapes(arch).keys()]);
  assert.ok(weightsBitwiseEqual(a, b), 'same seed, same weights');
  assert.ok(!weightsBitwiseEqual(a, c), 'another seed, other weights');
  assert.deepEqual(a['L6/kernel'].shape, [3, 3, 64, 128]);
  assert.deepEqual(a['L8/kernel'].shape, [128, 256]);
  assert.deepEqual(a['classifier/kernel'].shape, [256, 10]);
  // He-normal: std √(2/fan_in); fan_in of L6 is 3·3·64 = 576 (73,728 samples, so 3% is ~8 standard errors).
  const k = a['L6/kernel'].data;
  const mean = k.reduce((s, v) => s + v, 0) / k.length;
  const sd = Math.sqrt(k.reduce((s, v) => s + (v - mean) ** 2, 0) / k.length);
  assert.ok(Math.abs(sd / Math.sqrt(2 / 576) - 1) < 0.03, `std ${sd}`);
  assert.ok(Math.abs(mean) < 0.01);
  assert.ok(a['L0/bn/gamma'].data.every((v) => v === 1) && a['L0/bn/moving_variance'].data.every((v) => v === 1));
  assert.ok(a['L0/bn/beta'].data.every((v) => v === 0) && a['L0/bn/moving_mean'].data.every((v) => v === 0));
  assert.ok(a['classifier/bias'].data.every((v) => v === 0));
  const total = Object.values(a).reduce((s, w) => s + w.data.length, 0);
  assert.equal(total, paramCount(arch) + nonTrainableCount(arch));
});

test('validateWeights names the offending weight', () => {
  const { arch, weights } = net('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [8, 8, 1]);
  const missing = cloneWeights(weights);
  delete missing['L2/bn/beta'];
  assert.throws(() => validateWeights(arch, missing), (e: unknown) => e instanceof WeightsError && e.weight === 'L2/bn/beta' && /missing/.test(e.message));
  const badShape = cloneWeights(weights);
  badShape['L0/kernel'] = { shape: [3, 3, 1, 32], data: new Float32Array(288) };
  assert.throws(() => validateWeights(arch, badShape), (e: unknown) => e instanceof WeightsError && e.weight === 'L0/kernel' && /\[3, 3, 1, 32\].*\[3, 3, 1, 16\]/.test(e.message));
  const badData = cloneWeights(weights);
  badData['classifier/bias'] = { shape: [10], data: new Float32Array(9) };
  assert.throws(() => validateWeights(arch, badData), /classifier\/bias.*data length/);
  const extra = cloneWeights(weights);
  extra['L9/kernel'] = { shape: [1], data: new Float32Array(1) };
  assert.throws(() => validateWeights(arch, extra), (e: unknown) => e instanceof WeightsError && e.weight === 'L9/kernel' && /unexpected/.test(e.message));
});

/** Plain-JS forward pass of C(2,1,1), FC(3), SM(2) on 2×2×1 input: checks layout, flatten order, BN and logits. */
function referenceLogits(w: Record<string, { data: Float32Array }>, x: Float32Array, n: number, eps: number): number[] {
  const bn = (id: string, v: number, c: number) => {
    const g = w[`${id}/bn/gamma`].data[c], b = w[`${id}/bn/beta`].data[c];
    const m = w[`${id}/bn/moving_mean`].data[c], s = w[`${id}/bn/moving_variance`].data[c];
    return Math.max(0, ((v - m) / Math.sqrt(s + eps)) * g + b);
  };
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const flat: number[] = [];
    for (let p = 0; p < 4; p++) for (let c = 0; c < 2; c++) flat.push(bn('L0', x[i * 4 + p] * w['L0/kernel'].data[c], c));
    const hidden: number[] = [];
    for (let u = 0; u < 3; u++) {
      let s = 0;
      for (let f = 0; f < 8; f++) s += flat[f] * w['L1/kernel'].data[f * 3 + u];
      hidden.push(bn('L1', s, u));
    }
    for (let k = 0; k < 2; k++) {
      let s = w['classifier/bias'].data[k];
      for (let u = 0; u < 3; u++) s += hidden[u] * w['classifier/kernel'].data[u * 2 + k];
      out.push(s);
    }
  }
  return out;
}

test('buildModel computes conv → BN → ReLU → flatten → fc → BN → ReLU → linear logits', async () => {
  const { arch, weights } = net('C(2,1,1), FC(3), SM(2)', [2, 2, 1], 3);
  const x = batch([2, 2, 1], 5, 4);
  await assertNoLeak(() => {
    const model = buildModel(arch, weights);
    const y = model.predict(x) as tf.Tensor;
    const got = Array.from(y.dataSync());
    const want = referenceLogits(weights, x.dataSync() as Float32Array, 5, DEFAULT_BN_EPSILON);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `logit ${i}: ${v} vs ${want[i]}`));
    assert.ok(got.some((v) => v < 0), 'outputs are logits, not probabilities');
    y.dispose();
    model.dispose();
  });
  x.dispose();
});

test('layer names derive from ids; extractWeights returns the weights bit for bit; nothing leaks', async () => {
  const { arch, weights } = net(TABLE1_START, [28, 28, 1], 8);
  await assertNoLeak(() => {
    const model = buildModel(arch, weights);
    for (const name of ['L0', 'L0_bn', 'L0_relu', 'L1', 'L8', 'L8_bn', 'classifier']) assert.equal(model.getLayer(name).name, name);
    assert.ok(weightsBitwiseEqual(extractWeights(model, arch), weights));
    // Trainable: kernel, gamma, beta per conv/fc, plus the classifier kernel and bias.
    assert.equal(model.trainableWeights.length, 5 * 3 + 2);
    assert.equal(model.trainableWeights.reduce((s, v) => s + v.shape.reduce((a: number, b) => a * (b ?? 0), 1), 0), paramCount(arch));
    model.dispose();
    // A second model in the same process gets suffixed variable names; extraction must not care.
    const again = buildModel(arch, weights);
    assert.ok(weightsBitwiseEqual(extractWeights(again, arch), weights));
    again.dispose();
  });
});

test('a model trains with a tfjs optimizer and extractWeights sees the new weights and BN statistics', async () => {
  const { arch, weights } = net('C(16,3,1), P(2,2,MAX), FC(64), SM(3)', [8, 8, 1], 4);
  const x = batch([8, 8, 1], 8, 5);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
  await assertNoLeak(async () => {
    const model = buildModel(arch, weights, { dropout: { conv: 0.2, fc: 0.5 } });
    assert.throws(() => model.getLayer('L0_dropout'), /L0_dropout/, 'no dropout after the first conv by default');
    assert.equal(model.getLayer('L2_dropout').name, 'L2_dropout');
    // Dropout is inactive in inference: same logits as the model without it.
    const plain = buildModel(arch, weights);
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, plain.predict(x) as tf.Tensor))).dataSync()[0]);
    assert.equal(d, 0);
    plain.dispose();
    // (tf.train.momentum keeps one scalar after dispose() in tfjs 4.22, so the leak check uses plain SGD.)
    const optimizer = tf.train.sgd(0.05);
    model.compile({ optimizer, loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp) });
    await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
    const trained = extractWeights(model, arch);
    validateWeights(arch, trained);
    const changed = (name: string) => trained[name].data.some((v, i) => v !== weights[name].data[i]);
    for (const name of ['L0/kernel', 'L0/bn/gamma', 'L2/bn/beta', 'classifier/kernel', 'classifier/bias', 'L0/bn/moving_mean', 'L2/bn/moving_variance']) assert.ok(changed(name), `${name} changed`);
    model.dispose();
    optimizer.dispose();
  });
  tf.dispose([x, y]);
});
