/**
 * The native engine's DenseNet kernels (src/backend/native/dense-block.ts): fused BN+ReLU, the memory-efficient dense
 * block and the DenseNet training forward pass, each against tfjs's cpu backend running the plain ops (values and
 * gradients, random shapes); the moving statistics; no tensor, backend-data or native-buffer growth per step. The
 * DenseNet inference forward pass (moving statistics, one native call per block) against the Layers model's inference
 * on cpu and wasm, at 1 and 2 threads; evaluateAccuracy through it; no growth across evaluations.
 * Where the addon is not built (no libdnnl-dev), the fallback is tested instead: training uses the Layers model.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { addonError, denseInferenceForward, denseTrainingForward, loadAddon, nativeInferenceForward, nativeMomentumStep, nativeTrainingForward } from '../src/backend/native';
import { parseNotation } from '../src/arch';
import { buildModel, initWeights } from '../src/nn';
import { bnRelu, denseBlock } from '../src/backend/native/dense-block';
import { buildDenseModel } from '../src/densenet/model';
import { parseDenseNotation } from '../src/densenet/notation';
import { initDenseWeights } from '../src/densenet/weights';
import { type TrainSplit, evaluateAccuracy } from '../src/train/loop';
import type { DenseNet } from '../src/densenet/schema';
import type { Weights } from '../src/nn';
import { Rng } from '../src/util/rng';
import { assertClose as closeTo, assertNoLeak } from './helpers/tf';

const rng = Rng.fromSeed(2424);
const missing = addonError();

function rand(n: number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.float() * 2 - 1) * scale + offset;
  return out;
}

/** The fused kernels' sums differ from tfjs's in order: a looser default tolerance. */
const assertClose = (actual: Float32Array, expected: Float32Array, what: string, rtol = 2e-4): void => closeTo(actual, expected, what, rtol);

interface TrainingPass {
  /** Logits, then one gradient per trainable weight. */
  arrays: Float32Array[];
  moving: { name: string; data: Float32Array }[];
}

/**
 * One training forward and backward pass of a fresh model on `backend`: through the fused native pass `nativeOf` gives
 * (which must not be null there), or the Layers model's own (nativeOf null). Softmax cross-entropy on `labels`.
 */
async function trainingPass(
  backend: string,
  build: () => tf.LayersModel,
  nativeOf: ((model: tf.LayersModel) => ((x: tf.Tensor) => tf.Tensor) | null) | null,
  x: Float32Array,
  shape: [number, number, number, number],
  labels: number[],
  classes: number,
): Promise<TrainingPass> {
  assert.ok(await tf.setBackend(backend));
  const model = build();
  const forward = nativeOf ? nativeOf(model) : (t: tf.Tensor) => model.apply(t, { training: true }) as tf.Tensor;
  assert.ok(forward, 'the native training forward pass is null on the native engine');
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const out = tf.tidy(() => {
    const xs = tf.tensor4d(x, shape);
    let logits: tf.Tensor | undefined;
    const { grads } = tf.variableGrads(() => {
      logits = tf.keep(forward(xs));
      return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), logits) as tf.Scalar;
    }, vars);
    return [logits!, ...vars.map((v) => grads[v.name])];
  });
  const arrays = out.map((o) => o.dataSync() as Float32Array);
  const moving = model.weights.filter((w) => /moving/.test(w.originalName)).map((w) => ({ name: w.originalName, data: w.read().dataSync() as Float32Array }));
  tf.dispose(out);
  model.dispose();
  assert.ok(await tf.setBackend('wasm'));
  return { arrays, moving };
}

/** The fused pass gives the Layers model's logits and gradients (1e-3) and moving statistics (1e-4). */
function assertSameTrainingPass(got: TrainingPass, want: TrainingPass): void {
  assert.equal(got.arrays.length, want.arrays.length);
  got.arrays.forEach((a, i) => assertClose(a, want.arrays[i], i === 0 ? 'logits' : `grad ${i - 1}`, 1e-3));
  assert.equal(got.moving.length, want.moving.length);
  got.moving.forEach((m, i) => {
    assert.equal(m.name, want.moving[i].name);
    assertClose(m.data, want.moving[i].data, m.name, 1e-4);
  });
}

/** relu(batchNorm) with batch statistics, in plain tfjs ops (what tf.layers computes). */
function bnReluRef(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return tf.relu(tf.batchNorm(x, mean, variance, beta, gamma, eps));
}

/** A dense block in plain tfjs ops: per layer BN-ReLU-conv1×1-BN-ReLU-conv3×3, concatenated. */
function denseBlockRef(x: tf.Tensor4D, ps: tf.Tensor[], layers: Array<{ growth: number; bottleneck: number }>, eps: number): tf.Tensor4D {
  let h = x;
  layers.forEach((_, l) => {
    const [g1, b1, w1, g2, b2, w2] = ps.slice(6 * l, 6 * l + 6);
    const y = tf.conv2d(bnReluRef(h, g1, b1, eps) as tf.Tensor4D, w1 as tf.Tensor4D, 1, 'same');
    const z = tf.conv2d(bnReluRef(y, g2, b2, eps) as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'same');
    h = tf.concat([h, z], -1);
  });
  return h;
}

type Data = Array<{ shape: number[]; data: Float32Array }>;

/** Value and gradients (of Σ value·probe) w.r.t. every input, on `backend`. */
async function valueAndGrads(backend: string, inputs: Data, probe: Float32Array, f: (ts: tf.Tensor[]) => tf.Tensor): Promise<Float32Array[]> {
  assert.ok(await tf.setBackend(backend));
  const outs = tf.tidy(() => {
    const ts = inputs.map((d) => tf.tensor(d.data, d.shape));
    const g = tf.valueAndGrads((...args: tf.Tensor[]) => {
      const v = f(args);
      return tf.sum(tf.mul(v, tf.tensor(probe, v.shape))) as tf.Scalar;
    });
    const value = f(ts);
    const { grads } = g(ts);
    return [value, ...grads];
  });
  const arrays = outs.map((o) => o.dataSync() as Float32Array);
  tf.dispose(outs);
  assert.ok(await tf.setBackend('wasm'));
  return arrays;
}

/** DenseNet weights with non-trivial values everywhere: gammas, betas, biases and both moving statistics random. */
function denseWeightsWithStats(net: DenseNet, seed: number): Weights {
  const weights = initDenseWeights(net, Rng.fromSeed(seed));
  for (const [name, w] of Object.entries(weights)) {
    if (/gamma$/.test(name)) w.data.set(rand(w.data.length, 0.4, 1));
    if (/beta$|bias$/.test(name)) w.data.set(rand(w.data.length, 0.3));
    if (/moving_mean$/.test(name)) w.data.set(rand(w.data.length, 0.5, 0.2));
    if (/moving_variance$/.test(name)) w.data.set(rand(w.data.length, 0.4, 0.6)); // in [0.2, 1.0]
  }
  return weights;
}

/** Logits of `model.apply(x, { training: false })` on `backend` for a fresh model. */
async function inferenceLogits(backend: string, build: () => tf.LayersModel, x: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
  assert.ok(await tf.setBackend(backend));
  const model = build();
  const logits = tf.tidy(() => model.apply(tf.tensor4d(x, shape), { training: false }) as tf.Tensor);
  const out = logits.dataSync() as Float32Array;
  logits.dispose();
  model.dispose();
  assert.ok(await tf.setBackend('wasm'));
  return out;
}

/** A split of `count` random images (seeded), labels in 0..classes-1. */
function randomSplit(count: number, shape: [number, number, number], classes: number): TrainSplit {
  const size = shape[0] * shape[1] * shape[2];
  const xs = rand(count * size, 1, 0.3);
  const ys = Int32Array.from({ length: count }, () => Math.floor(rng.float() * classes));
  return {
    count,
    shape,
    classes,
    epochOrder: () => Int32Array.from({ length: count }, (_, i) => i),
    makeBatch: (idx) => {
      const n = idx.length;
      const x = new Float32Array(n * size);
      for (let i = 0; i < n; i++) x.set(xs.subarray(idx[i] * size, (idx[i] + 1) * size), i * size);
      return { x, y: Int32Array.from({ length: n }, (_, i) => ys[idx[i]]), shape: [n, ...shape] };
    },
  };
}

if (missing) {
  describe('native DenseNet kernels absent (addon not built)', () => {
    it('evaluation falls back to the Layers model: no native inference forward pass on wasm', async () => {
      await initBackend({ backend: 'wasm', log: () => {} });
      const net = parseDenseNotation('C(4,3), D(2*1), SM(3)', [6, 6, 1]);
      const model = buildDenseModel(net, initDenseWeights(net, Rng.fromSeed(1)));
      assert.equal(nativeInferenceForward(model, net), null);
      model.dispose();
    });
    it('training falls back to the Layers model: no native forward pass on wasm', async () => {
      await initBackend({ backend: 'wasm', log: () => {} });
      const net = parseDenseNotation('C(4,3), D(2*1), SM(3)', [6, 6, 1]);
      const model = buildDenseModel(net, initDenseWeights(net, Rng.fromSeed(1)));
      assert.equal(nativeTrainingForward(model, net), null);
      model.dispose();
    });
  });
} else {
  describe('native DenseNet kernels', () => {
    before(async () => {
      await initBackend({ backend: 'native', threads: 2, log: () => {} });
    });

    for (const shape of [
      [7, 5],
      [2, 5, 3, 16],
      [3, 7, 7, 9],
      [1, 4, 6, 33],
      [8, 16, 16, 24], // big enough for the native loops to split rows over the 2 threads
    ]) {
      it(`fused BN+ReLU forward and gradients match cpu: x=[${shape}]`, async () => {
        const c = shape[shape.length - 1];
        const n = shape.reduce((a, b) => a * b, 1);
        const inputs: Data = [
          { shape, data: rand(n, 2, 3) },
          { shape: [c], data: rand(c, 1, 0.5) },
          { shape: [c], data: rand(c, 0.5) },
        ];
        const probe = rand(n);
        const f = (native: boolean) => (ts: tf.Tensor[]) => (native ? bnRelu(ts[0], ts[1], ts[2], 1e-5) : bnReluRef(ts[0], ts[1], ts[2], 1e-5));
        const want = await valueAndGrads('cpu', inputs, probe, f(false));
        const got = await valueAndGrads('wasm', inputs, probe, f(true));
        ['value', 'dx', 'dgamma', 'dbeta'].forEach((what, i) => assertClose(got[i], want[i], what, 5e-4));
      });
    }

    for (const c of [
      { x: [2, 6, 5, 4], layers: [{ growth: 3, bottleneck: 8 }] },
      { x: [3, 5, 5, 8], layers: [{ growth: 4, bottleneck: 16 }, { growth: 2, bottleneck: 5 }, { growth: 7, bottleneck: 12 }] },
      { x: [1, 7, 4, 3], layers: [{ growth: 8, bottleneck: 32 }, { growth: 8, bottleneck: 32 }] },
      // big enough for the native loops and the chunked 1×1 fusions to split rows over the 2 threads
      { x: [8, 16, 16, 16], layers: [{ growth: 8, bottleneck: 32 }, { growth: 12, bottleneck: 24 }] },
    ]) {
      it(`a dense block forward and gradients (input and every parameter) match cpu: x=[${c.x}] layers=${c.layers.map((l) => `${l.growth}/${l.bottleneck}`)}`, async () => {
        const inputs: Data = [{ shape: c.x, data: rand(c.x.reduce((a, b) => a * b, 1), 1.5, 0.5) }];
        let ch = c.x[3];
        for (const l of c.layers) {
          inputs.push({ shape: [ch], data: rand(ch, 0.5, 1) }, { shape: [ch], data: rand(ch, 0.3) }, { shape: [1, 1, ch, l.bottleneck], data: rand(ch * l.bottleneck, 0.5) });
          inputs.push({ shape: [l.bottleneck], data: rand(l.bottleneck, 0.5, 1) }, { shape: [l.bottleneck], data: rand(l.bottleneck, 0.3) });
          inputs.push({ shape: [3, 3, l.bottleneck, l.growth], data: rand(9 * l.bottleneck * l.growth, 0.3) });
          ch += l.growth;
        }
        const probe = rand(c.x[0] * c.x[1] * c.x[2] * ch);
        const want = await valueAndGrads('cpu', inputs, probe, (ts) => denseBlockRef(ts[0] as tf.Tensor4D, ts.slice(1), c.layers, 1e-5));
        const got = await valueAndGrads('wasm', inputs, probe, (ts) => denseBlock(ts[0] as tf.Tensor4D, ts.slice(1), c.layers, 1e-5));
        assert.equal(got.length, inputs.length + 1);
        got.forEach((g, i) => assertClose(g, want[i], i === 0 ? 'value' : i === 1 ? 'dx' : `d(param ${i - 2})`, 1e-3));
      });
    }

    it("the DenseNet training forward pass gives the Layers model's logits, gradients and moving statistics (cpu)", async () => {
      const net = parseDenseNotation('C(6,3), D(4*2), T(7), D(3*3), SM(5)', [9, 9, 2]);
      const weights = initDenseWeights(net, Rng.fromSeed(5));
      for (const [name, w] of Object.entries(weights)) {
        if (/gamma$/.test(name)) w.data.set(rand(w.data.length, 0.4, 1));
        if (/beta$|bias$/.test(name)) w.data.set(rand(w.data.length, 0.3));
        if (/moving_mean$/.test(name)) w.data.set(rand(w.data.length, 0.2));
      }
      const x = rand(3 * 9 * 9 * 2, 1, 0.3);
      const labels = [0, 3, 4];
      const build = () => buildDenseModel(net, weights);
      const want = await trainingPass('cpu', build, null, x, [3, 9, 9, 2], labels, 5);
      const got = await trainingPass('wasm', build, (m) => denseTrainingForward(m, net), x, [3, 9, 9, 2], labels, 5);
      assertSameTrainingPass(got, want);
    });

    for (const c of [
      { notation: 'C(6,3), D(4*2), T(7), D(3*3), SM(5)', shape: [9, 9, 2] as [number, number, number], n: 3 },
      { notation: 'C(5,3), D(3:8, 6:5*2, 2:12), T(9), D(5*2), T(4), D(2:7*3), SM(4)', shape: [12, 10, 3] as [number, number, number], n: 2 },
      // big enough for the native loops and the chunked 1×1 fusion to split rows over 2 threads
      { notation: 'C(8,3), D(8*4), SM(3)', shape: [16, 16, 1] as [number, number, number], n: 16 },
    ]) {
      for (const threads of [1, 2]) {
        it(`the DenseNet inference forward pass gives the Layers model's inference logits (cpu), moving statistics not trivial: ${c.notation}, ${threads} thread(s)`, async () => {
          const net = parseDenseNotation(c.notation, c.shape);
          const weights = denseWeightsWithStats(net, 9);
          const x = rand(c.n * c.shape[0] * c.shape[1] * c.shape[2], 1, 0.3);
          const xshape: [number, number, number, number] = [c.n, ...c.shape];
          const build = () => buildDenseModel(net, weights);
          const want = await inferenceLogits('cpu', build, x, xshape);
          const model = build();
          const forward = nativeInferenceForward(model, net);
          assert.ok(forward, 'the native inference forward pass is null on the native engine');
          const addon = loadAddon();
          addon.setThreads(threads);
          try {
            const logits = tf.tidy(() => forward(tf.tensor4d(x, xshape)));
            const got = logits.dataSync() as Float32Array;
            logits.dispose();
            assertClose(got, want, 'logits', 1e-4);
            // and the same as the wasm engine's own model.apply (per-op native kernels)
            const layers = tf.tidy(() => model.apply(tf.tensor4d(x, xshape), { training: false }) as tf.Tensor);
            assertClose(got, layers.dataSync() as Float32Array, 'logits vs wasm model.apply', 1e-4);
            layers.dispose();
          } finally {
            addon.setThreads(2);
            model.dispose();
          }
        });
      }
    }

    it('the inference forward pass follows the variables: after training steps its logits are still model.apply(training: false)', async () => {
      const net = parseDenseNotation('C(6,3), D(4*2), T(5), D(3*2), SM(4)', [8, 8, 1]);
      const model = buildDenseModel(net, denseWeightsWithStats(net, 12));
      const train = denseTrainingForward(model, net);
      const infer = denseInferenceForward(model, net);
      assert.ok(train && infer);
      const vars = model.trainableWeights.map((w) => ({ variable: w.read() as tf.Variable, decay: /kernel/.test(w.originalName) }));
      const opt = tf.train.momentum(0.05, 0.9, true);
      const xs = tf.tensor4d(rand(6 * 64, 1, 0.2), [6, 8, 8, 1]);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 1, 2], 'int32'), 4);
      const before = tf.tidy(() => infer(xs)).dataSync() as Float32Array;
      for (let i = 0; i < 3; i++)
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, train(xs)) as tf.Scalar, vars.map((v) => v.variable));
          nativeMomentumStep(opt, vars, grads, 1e-4);
        });
      const got = tf.tidy(() => infer(xs));
      const want = tf.tidy(() => model.apply(xs, { training: false }) as tf.Tensor);
      assertClose(got.dataSync() as Float32Array, want.dataSync() as Float32Array, 'logits after 3 steps', 1e-4);
      assert.ok(
        (got.dataSync() as Float32Array).some((v, i) => Math.abs(v - before[i]) > 1e-3),
        'the steps changed the logits',
      );
      tf.dispose([got, want, xs, ys]);
      opt.dispose();
      model.dispose();
    });

    it('evaluateAccuracy gives the same accuracy through the native inference forward pass as through model.apply', () => {
      const net = parseDenseNotation('C(6,3), D(4*2), T(5), D(3*2), SM(4)', [8, 8, 2]);
      const model = buildDenseModel(net, denseWeightsWithStats(net, 13));
      const forward = nativeInferenceForward(model, net);
      assert.ok(forward);
      const split = randomSplit(150, [8, 8, 2], 4);
      const want = evaluateAccuracy(model, split, 64);
      const got = evaluateAccuracy(model, split, 64, forward);
      assert.equal(got, want);
      assert.ok(want > 0 && want < 1, `accuracy ${want} should be neither 0 nor 1 on random labels`);
      model.dispose();
    });

    it('the DenseNet inference forward pass leaks no tensors, no backend data and no native buffers', async () => {
      const net = parseDenseNotation('C(8,3), D(4*2), T(6), D(4*2), SM(3)', [8, 8, 1]);
      const model = buildDenseModel(net, denseWeightsWithStats(net, 14));
      const forward = nativeInferenceForward(model, net);
      assert.ok(forward);
      const split = randomSplit(40, [8, 8, 1], 3);
      evaluateAccuracy(model, split, 16, forward);
      const addon = loadAddon();
      const before = addon.info();
      const ids = tf.backend().numDataIds();
      await assertNoLeak(() => {
        for (let i = 0; i < 3; i++) evaluateAccuracy(model, split, 16, forward);
      });
      assert.equal(tf.backend().numDataIds(), ids);
      const after = addon.info();
      assert.equal(after.liveBuffers, before.liveBuffers);
      assert.equal(after.liveBytes, before.liveBytes);
      assert.equal(after.cachedPrimitives, before.cachedPrimitives);
      model.dispose();
    });

    it("a plain net's fused training forward pass gives the Layers model's logits, gradients and moving statistics (cpu)", async () => {
      const arch = parseNotation('C(6,3,1), P(2,2,MAX), C(8,3,2), P(3,2,AVG), C(5,1,1), FC(12), FC(7), SM(4)', [11, 10, 3]);
      const weights = initWeights(arch, Rng.fromSeed(8));
      for (const [name, w] of Object.entries(weights)) {
        if (/gamma$/.test(name)) w.data.set(rand(w.data.length, 0.4, 1));
        if (/beta$|bias$/.test(name)) w.data.set(rand(w.data.length, 0.3));
        if (/kernel$/.test(name)) w.data.set(rand(w.data.length, 0.5));
      }
      const x = rand(5 * 11 * 10 * 3, 1, 0.2);
      const labels = [0, 3, 1, 2, 3];
      const build = () => buildModel(arch, weights);
      const want = await trainingPass('cpu', build, null, x, [5, 11, 10, 3], labels, 4);
      const got = await trainingPass('wasm', build, (m) => nativeTrainingForward(m, arch), x, [5, 11, 10, 3], labels, 4);
      assertSameTrainingPass(got, want);
    });

    it('a DenseNet training step on the native kernels leaks no tensors, no backend data and no native buffers', async () => {
      const net = parseDenseNotation('C(8,3), D(4*2), T(6), D(4*2), SM(3)', [8, 8, 1]);
      const model = buildDenseModel(net, initDenseWeights(net, Rng.fromSeed(6)));
      const forward = denseTrainingForward(model, net);
      assert.ok(forward);
      const vars = model.trainableWeights.map((w) => ({ variable: w.read() as tf.Variable, decay: /kernel/.test(w.originalName) }));
      const opt = tf.train.momentum(0.01, 0.9, true);
      const xs = tf.tensor4d(rand(4 * 64), [4, 8, 8, 1]);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
      const step = () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(
            () => tf.losses.softmaxCrossEntropy(ys, forward(xs)) as tf.Scalar,
            vars.map((v) => v.variable),
          );
          nativeMomentumStep(opt, vars, grads, 1e-4);
        });
      step();
      const addon = loadAddon();
      const before = addon.info();
      const ids = tf.backend().numDataIds();
      await assertNoLeak(() => {
        for (let i = 0; i < 4; i++) step();
      });
      assert.equal(tf.backend().numDataIds(), ids);
      const after = addon.info();
      assert.equal(after.liveBuffers, before.liveBuffers);
      assert.equal(after.liveBytes, before.liveBytes);
      assert.equal(after.cachedPrimitives, before.cachedPrimitives);
      tf.dispose([xs, ys]);
      opt.dispose();
      model.dispose();
    });
  });
}
