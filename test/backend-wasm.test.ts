/**
 * Replacement kernels and gradients for the wasm backend, each compared with the cpu backend on random
 * inputs (odd sizes, stride 2, 'same'/'valid'/explicit padding).
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { WASM_GRADIENT_NAMES, WASM_KERNEL_NAMES, wasmKernelsInstalled } from '../src/backend/wasm';
import { Rng } from '../src/util/rng';
import { assertClose, assertNoLeak } from './helpers/tf';
import { COMMON_CONV_CASES, type ConvCase, convLabel, convOutShape, onBoth, randomData, randomInputs } from './helpers/cross-backend';

const rng = Rng.fromSeed(12345);

const CONV_CASES: ConvCase[] = [
  ...COMMON_CONV_CASES,
  { x: [3, 7, 9, 2], f: [3, 3, 2, 4], stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same' },
  { x: [3, 9, 9, 4], f: [3, 3, 4, 3], stride: 2, pad: 'valid' },
  { x: [2, 11, 6, 3], f: [5, 3, 3, 2], stride: 3, pad: 'same' },
  { x: [2, 6, 7, 2], f: [2, 2, 2, 3], stride: 1, pad: 'same' },
];

describe('wasm backend training kernels', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', log: () => {} });
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  it('installs its kernels for wasm only', () => {
    assert.ok(wasmKernelsInstalled());
    assert.ok(WASM_KERNEL_NAMES.includes('Conv2DBackpropFilter'));
    for (const name of WASM_KERNEL_NAMES) assert.ok(tf.getKernel(name, 'wasm'), name);
    assert.ok(WASM_GRADIENT_NAMES.includes('FusedBatchNorm'));
  });

  for (const c of CONV_CASES) {
    it(`Conv2DBackpropFilter matches cpu: ${convLabel(c)}`, async () => {
      const ins = randomInputs(rng, { x: c.x, dy: convOutShape(c) });
      const [w, cpu] = await onBoth(ins, (t) => tf.engine().runKernel('Conv2DBackpropFilter', { x: t.x, dy: t.dy }, { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', filterShape: c.f }) as tf.Tensor);
      assertClose(w[0], cpu[0], `dW ${convLabel(c)}`);
    });

    it(`Conv2DBackpropInput matches cpu: ${convLabel(c)}`, async () => {
      const ins = randomInputs(rng, { dy: convOutShape(c), filter: c.f });
      const [w, cpu] = await onBoth(ins, (t) => tf.engine().runKernel('Conv2DBackpropInput', { dy: t.dy, filter: t.filter }, { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', inputShape: c.x }) as tf.Tensor);
      assertClose(w[0], cpu[0], `dx ${convLabel(c)}`);
    });
  }

  it('conv2d gradients through tf.grads match cpu (stride 1 and 2)', async () => {
    for (const [stride, pad] of [[1, 'same'], [2, 'same'], [2, 'valid'], [1, 'valid']] as const) {
      const x: [number, number, number, number] = [3, 9, 7, 3];
      const f: [number, number, number, number] = [3, 3, 3, 4];
      const o = convOutShape({ x, f, stride, pad });
      const ins = randomInputs(rng, { x, f, w: o });
      const [wa, cpu] = await onBoth(ins, (t) => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), t.w)));
        return g([t.x, t.f]);
      });
      assertClose(wa[0], cpu[0], `dx s=${stride} ${pad}`);
      assertClose(wa[1], cpu[1], `dW s=${stride} ${pad}`);
    }
  });

  it('BatchMatMul with transposes matches cpu', async () => {
    const cases: Array<[number[], number[], boolean, boolean]> = [
      [[7, 5], [5, 3], false, false],
      [[5, 7], [5, 3], true, false],
      [[7, 5], [3, 5], false, true],
      [[5, 7], [3, 5], true, true],
      [[1, 5, 7], [1, 3, 5], true, true],
      [[2, 5, 7], [2, 5, 3], true, false],
      [[2, 7, 5], [1, 3, 5], false, true],
    ];
    for (const [as, bs, ta, tb] of cases) {
      const ins = randomInputs(rng, { a: as, b: bs });
      const [w, cpu] = await onBoth(ins, (t) => tf.matMul(t.a, t.b, ta, tb));
      assertClose(w[0], cpu[0], `matMul ${as} ${bs} ${ta} ${tb}`);
    }
  });

  it('dense gradients (matMul transposes) match cpu', async () => {
    const ins = randomInputs(rng, { x: [6, 13], k: [13, 9], w: [6, 9] });
    const [w, cpu] = await onBoth(ins, (t) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, b), t.w)))([t.x, t.k]));
    assertClose(w[0], cpu[0], 'dense dx');
    assertClose(w[1], cpu[1], 'dense dk');
  });

  it('batch-norm (training, as tf.layers computes it) gradients match cpu', async () => {
    for (const shape of [[4, 5, 3, 6], [3, 7], [2, 3, 5, 1]]) {
      const c = shape[shape.length - 1];
      const ins = randomInputs(rng, { x: shape, gamma: [c], beta: [c], w: shape });
      const axes = [...Array(shape.length - 1).keys()];
      const [w, cpu] = await onBoth(ins, (t) =>
        tf.grads((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
          const { mean, variance } = tf.moments(x, axes);
          const y = tf.batchNorm(x, mean, variance, beta, gamma, 1e-3);
          return tf.sum(tf.mul(y, t.w));
        })([t.x, t.gamma, t.beta]),
      );
      assertClose(w[0], cpu[0], `bn dx ${shape}`);
      assertClose(w[1], cpu[1], `bn dgamma ${shape}`);
      assertClose(w[2], cpu[2], `bn dbeta ${shape}`);
    }
  });

  it('max-pool and avg-pool gradients match cpu (odd sizes, stride 2, valid/same)', async () => {
    for (const [k, s, pad] of [[2, 2, 'same'], [3, 2, 'valid'], [3, 2, 'same'], [2, 1, 'same'], [4, 4, 'same']] as const) {
      const ins = randomInputs(rng, { x: [2, 7, 9, 3] });
      const o = tf.backend_util.computePool2DInfo([2, 7, 9, 3], k, s, 1, pad).outShape;
      ins.w = { shape: o, data: randomData(rng, o) };
      const [w, cpu] = await onBoth(ins, (t) => [
        tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, k, s, pad), t.w)))(t.x),
        tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(x as tf.Tensor4D, k, s, pad), t.w)))(t.x),
      ]);
      assertClose(w[0], cpu[0], `maxPool grad k=${k} s=${s} ${pad}`);
      assertClose(w[1], cpu[1], `avgPool grad k=${k} s=${s} ${pad}`);
    }
  });

  it('max-pool 2x2/2 gradient (specialised path) matches cpu, with ties, -Infinity and NaN', async () => {
    const shape = [3, 6, 8, 5];
    const ins = randomInputs(rng, { x: shape, w: [3, 3, 4, 5] });
    // ties (quantised values), an all -Infinity window and a NaN
    for (let i = 0; i < ins.x.data.length; i++) ins.x.data[i] = Math.round(ins.x.data[i] * 2) / 2;
    for (const i of [0, 5, 40, 45]) ins.x.data[i] = -Infinity;
    ins.x.data[11] = NaN;
    const [w, cpu] = await onBoth(ins, (t) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), t.w)))(t.x));
    assertClose(w[0], cpu[0], 'maxPool 2x2 grad');
  });

  it('max-pool gradient goes to the first maximum, padding excluded (all-negative border windows)', async () => {
    const x = { shape: [1, 3, 3, 1], data: Float32Array.from([0.07, -1.05, -0.43, 2.33, -0.91, -0.5, -0.04, -0.93, -0.93]) };
    const [w, cpu] = await onBoth({ x }, (t) => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'same')))(t.x));
    assert.deepEqual(Array.from(cpu[0]), [0, 0, 1, 1, 0, 0, 1, 0, 1]);
    assert.deepEqual(Array.from(w[0]), Array.from(cpu[0]));
    // ties: the first in row-major order wins
    const ties = { shape: [1, 2, 2, 2], data: Float32Array.from([1, 0, 1, 0, 1, 0, 1, 0]) };
    const [wt, ct] = await onBoth({ x: ties }, (t) => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(t.x));
    assert.deepEqual(Array.from(wt[0]), Array.from(ct[0]));
  });

  it('sum and mean (leading axes, other axes, keepDims, int32) match cpu', async () => {
    const ins = randomInputs(rng, { x: [3, 5, 4, 7] });
    const cases: Array<[number | number[], boolean]> = [[[0, 1, 2], false], [[0, 1, 2], true], [0, false], [[0, 1], true], [[1, 2], false], [3, false], [[0, 3], true], [-1, true]];
    for (const [axis, keepDims] of cases) {
      const [w, cpu] = await onBoth(ins, (t) => [tf.sum(t.x, axis, keepDims), tf.mean(t.x, axis, keepDims)]);
      assertClose(w[0], cpu[0], `sum ${axis} ${keepDims}`);
      assertClose(w[1], cpu[1], `mean ${axis} ${keepDims}`);
    }
    const ints = tf.tensor2d([[1, 2], [3, 4], [5, 7]], [3, 2], 'int32');
    assert.deepEqual(Array.from(tf.sum(ints, 0).dataSync()), [9, 13]);
    assert.equal(tf.sum(ints, 0).dtype, 'int32');
    ints.dispose();
  });

  it('identity and same-dtype cast share data and keep values after the source is disposed', () => {
    const x = tf.tensor1d([1.5, -2, 3]);
    const y = tf.clone(x);
    const z = tf.cast(x, 'float32');
    const i = tf.cast(x, 'int32');
    x.dispose();
    assert.deepEqual(Array.from(y.dataSync()), [1.5, -2, 3]);
    assert.deepEqual(Array.from(z.dataSync()), [1.5, -2, 3]);
    assert.deepEqual(Array.from(i.dataSync()), [1, -2, 3]);
    assert.equal(i.dtype, 'int32');
    tf.dispose([y, z, i]);
  });

  it('kernels leave no tensors behind', async () => {
    const x = tf.tensor(randomData(rng, [2, 9, 7, 3]), [2, 9, 7, 3]) as tf.Tensor4D;
    const f = tf.tensor(randomData(rng, [3, 3, 3, 4]), [3, 3, 3, 4]) as tf.Tensor4D;
    await assertNoLeak(() => {
      const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')))([x, f]);
      tf.dispose([dx, df]);
    });
    // intermediates inside our kernels are backend data, invisible to tf.memory(): count the backend's ids
    const ids = () => tf.backend().numDataIds();
    const idsBefore = ids();
    tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))([x, f]));
    tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')))([x, f]));
    const [a, b] = [tf.ones([5, 3]), tf.ones([4, 5])];
    tf.dispose(tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.matMul(p, q, true, true)))([a, b]));
    tf.dispose([a, b]);
    assert.equal(ids(), idsBefore);
    tf.dispose([x, f]);
  });
});
