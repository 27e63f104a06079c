/**
 * The plain net's one-call native training step (src/backend/native/plain-step.ts) against the per-op path the
 * training loop takes otherwise on the native engine (the fused forward pass, tfjs's autograd, the native optimizer
 * kernel): losses, updated weights, momentum accumulators (the gradients: they start at zero) and BatchNorm moving
 * statistics after one and several steps, on random small nets (conv strides, padded max/avg pools, fc layers); no
 * tensor, backend-data or native-buffer growth per step; the switch and the fallbacks.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { addonError, loadAddon, nativeMomentumStep, nativeTrainingForward } from '../src/backend/native';
import { NativePlainStep } from '../src/backend/native/plain-step';
import { parseNotation } from '../src/arch';
import type { Arch } from '../src/arch';
import { buildModel, extractWeights, initWeights } from '../src/nn';
import type { Weights } from '../src/nn';
import { Rng } from '../src/util/rng';
import { loadSplits } from '../src/data';
import { TrainingRecipeSchema } from '../src/train/recipe';
import { trainNetwork, type TrainOutcome } from '../src/train/loop';
import { loadEpochCheckpoint } from '../src/train/checkpoint';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertClose } from './helpers/tf';

const missing = addonError();
const LR = [0.05, 0.03, 0.02, 0.04];
const WD = 1e-3;

interface Batch {
  x: Float32Array;
  y: Int32Array;
}

function batches(rng: Rng, arch: Arch, n: number, count: number): Batch[] {
  const size = n * arch.input[0] * arch.input[1] * arch.input[2];
  return Array.from({ length: count }, () => {
    const x = new Float32Array(size);
    for (let i = 0; i < size; i++) x[i] = rng.float() * 2 - 1;
    return { x, y: Int32Array.from({ length: n }, () => rng.int(0, arch.classes - 1)) };
  });
}

/** What a training run leaves: per-step losses and correct counts, the weights (moving statistics included), the accumulators. */
interface Run {
  losses: number[];
  correct: number[];
  weights: Weights;
  momentum: Float32Array[];
  iterations: number;
}

function trainableOf(model: tf.LayersModel): Array<{ variable: tf.Variable; decay: boolean }> {
  return model.trainableWeights.map((w) => ({ variable: w.read() as tf.Variable, decay: /kernel/.test(w.originalName) }));
}

async function accumulators(opt: tf.MomentumOptimizer): Promise<{ momentum: Float32Array[]; iterations: number }> {
  const [iter, ...acc] = await opt.getWeights();
  const iterations = iter.tensor.dataSync()[0];
  iter.tensor.dispose();
  return { momentum: acc.map((a) => new Float32Array(a.tensor.dataSync())), iterations };
}

/** The loop's per-op native path: fused forward, tfjs autograd, softmax cross-entropy, the native optimizer kernel. */
async function perOpRun(arch: Arch, weights: Weights, data: Batch[], n: number): Promise<Run> {
  const model = buildModel(arch, weights);
  const opt = tf.train.momentum(LR[0], 0.9, true);
  const vars = trainableOf(model);
  const forward = nativeTrainingForward(model, arch);
  assert.ok(forward, 'the per-op native forward pass exists');
  const losses: number[] = [];
  const correct: number[] = [];
  data.forEach((b, s) => {
    opt.setLearningRate(LR[s % LR.length]);
    const [l, c] = tf.tidy(() => {
      const xs = tf.tensor4d(b.x, [n, ...arch.input]);
      const labels = tf.tensor1d(b.y, 'int32');
      let c: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const logits = forward(xs) as tf.Tensor2D;
        c = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')));
        return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, arch.classes), logits) as tf.Scalar;
      }, vars.map((v) => v.variable));
      nativeMomentumStep(opt, vars, grads, WD);
      return [value, c!];
    });
    losses.push(l.dataSync()[0]);
    correct.push(c.dataSync()[0]);
    tf.dispose([l, c]);
  });
  const out = { losses, correct, weights: extractWeights(model, arch), ...(await accumulators(opt)) };
  opt.dispose();
  model.dispose();
  return out;
}

/** The same steps through one native call each. */
async function oneCallRun(arch: Arch, weights: Weights, data: Batch[], n: number): Promise<Run> {
  const model = buildModel(arch, weights);
  const opt = tf.train.momentum(LR[0], 0.9, true);
  const vars = trainableOf(model);
  const step = NativePlainStep.forModel(model, arch, n);
  assert.ok(step, 'the native plain step applies');
  const losses: number[] = [];
  const correct: number[] = [];
  try {
    step.load(opt, vars);
    data.forEach((b, s) => {
      const r = step.step(opt, b.x, b.y, LR[s % LR.length], WD);
      losses.push(r.loss);
      correct.push(r.correct);
    });
    step.store(opt, vars);
  } finally {
    step.dispose();
  }
  const out = { losses, correct, weights: extractWeights(model, arch), ...(await accumulators(opt)) };
  opt.dispose();
  model.dispose();
  return out;
}

function assertSameRun(got: Run, want: Run, rtol: number): void {
  assertClose(got.losses, want.losses, 'losses', rtol);
  // a prediction may flip where two logits are within rounding of each other: at most one per step
  got.correct.forEach((c, i) => assert.ok(Math.abs(c - want.correct[i]) <= 1, `correct at step ${i}: ${c} vs ${want.correct[i]}`));
  assert.deepEqual(Object.keys(got.weights), Object.keys(want.weights));
  for (const name of Object.keys(want.weights)) assertClose(got.weights[name].data, want.weights[name].data, name, rtol);
  assert.equal(got.iterations, want.iterations);
  assert.equal(got.momentum.length, want.momentum.length);
  got.momentum.forEach((m, i) => assertClose(m, want.momentum[i], `momentum ${i}`, rtol));
}

/** Fresh weights with non-trivial BatchNorm parameters and moving statistics (initWeights gives 1 / 0). */
function randomWeights(arch: Arch, rng: Rng): Weights {
  const w = initWeights(arch, rng);
  for (const [name, t] of Object.entries(w)) {
    if (/gamma$/.test(name)) t.data.forEach((_, i) => (t.data[i] = 0.5 + rng.float()));
    else if (/beta$/.test(name)) t.data.forEach((_, i) => (t.data[i] = (rng.float() - 0.5) * 0.4));
    else if (/moving_mean$/.test(name)) t.data.forEach((_, i) => (t.data[i] = rng.float() - 0.5));
    else if (/moving_variance$/.test(name)) t.data.forEach((_, i) => (t.data[i] = 0.5 + rng.float()));
    else if (name === 'classifier/bias') t.data.forEach((_, i) => (t.data[i] = (rng.float() - 0.5) * 0.1));
  }
  return w;
}

if (missing) {
  describe('native plain step absent (addon not built)', () => {
    it('does not apply off the native engine', async () => {
      await initBackend({ backend: 'wasm', log: () => {} });
      const arch = parseNotation('C(4,3,1), SM(3)', [6, 6, 1]);
      const model = buildModel(arch, initWeights(arch, Rng.fromSeed(1)));
      assert.equal(NativePlainStep.forModel(model, arch, 4), null);
      model.dispose();
    });
  });
} else {
  describe('native plain step (one call per training step)', () => {
    before(async () => {
      await initBackend({ backend: 'native', threads: 1, log: () => {} });
    });

    const cases: Array<{ net: string; input: [number, number, number]; n: number }> = [
      // the Table-1 net's shape of layers, small
      { net: 'C(8,3,1), P(2,2,MAX), C(12,3,1), P(2,2,MAX), C(16,3,1), P(2,2,AVG), FC(20), SM(5)', input: [12, 12, 3], n: 8 },
      // strided conv, padded (odd-sized) max and avg pools, a 1×1 conv, two fc layers
      { net: 'C(6,5,2), P(3,2,MAX), C(10,1,1), P(3,2,AVG), C(7,3,1), FC(9), FC(11), SM(4)', input: [13, 11, 2], n: 6 },
      // one 1×1 conv; a pool right before the classifier
      { net: 'C(3,1,1), SM(3)', input: [4, 5, 2], n: 5 },
      { net: 'C(5,3,2), P(2,2,MAX), SM(3)', input: [9, 9, 1], n: 7 },
    ];
    for (const c of cases) {
      it(`one and four steps match the per-op path: ${c.net} on ${c.input.join('×')}, batch ${c.n}`, async () => {
        const rng = Rng.fromSeed(0x24 + c.n);
        const arch = parseNotation(c.net, c.input);
        const weights = randomWeights(arch, rng);
        const data = batches(rng, arch, c.n, 4);
        assertSameRun(await oneCallRun(arch, weights, data.slice(0, 1), c.n), await perOpRun(arch, weights, data.slice(0, 1), c.n), 2e-4);
        assertSameRun(await oneCallRun(arch, weights, data, c.n), await perOpRun(arch, weights, data, c.n), 1e-3);
      });
    }

    it('matches on two engine threads with shapes large enough for the parallel loops', async () => {
      const rng = Rng.fromSeed(0x2402);
      const arch = parseNotation('C(16,3,1), P(2,2,MAX), C(16,3,1), P(3,2,AVG), FC(12), SM(4)', [20, 20, 3]);
      const weights = randomWeights(arch, rng);
      const data = batches(rng, arch, 8, 3);
      loadAddon().setThreads(2);
      try {
        assertSameRun(await oneCallRun(arch, weights, data, 8), await perOpRun(arch, weights, data, 8), 1e-3);
      } finally {
        loadAddon().setThreads(1);
      }
    });

    it('trainNetwork: the one-call step gives the per-op path\'s training (history, weights, checkpointed momentum)', async () => {
      const arch = parseNotation('C(8,3,1), P(2,2,MAX), C(8,3,1), FC(16), SM(4)', [8, 8, 3]);
      const data = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 3, synthetic: { train: 256, test: 64, shape: [8, 8, 3], classes: 4, noise: 64 } });
      const recipe = TrainingRecipeSchema.parse({ batchSize: 32, learningRate: 0.05 });
      const run = async (off: boolean): Promise<{ out: TrainOutcome; momentum: Float32Array[]; iterations: number }> => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-plain-step-'));
        if (off) process.env.EAS_NATIVE_PLAIN_STEP = '0';
        try {
          const tensors = tf.memory().numTensors;
          const out = await trainNetwork({ arch, weights: initWeights(arch, Rng.fromSeed(7)), train: data.train, evaluate: data.eval, epochs: 2, recipe, seed: 1, checkpointDir: dir });
          assert.equal(tf.memory().numTensors, tensors, 'tensors left behind');
          const ckpt = loadEpochCheckpoint(path.join(dir, 'epoch-0002'));
          return { out, momentum: ckpt.momentum.map((m) => new Float32Array(m.data)), iterations: ckpt.state.optimizerIterations };
        } finally {
          delete process.env.EAS_NATIVE_PLAIN_STEP;
          fs.rmSync(dir, { recursive: true, force: true });
        }
      };
      const perOp = await run(true);
      const oneCall = await run(false);
      assertClose(oneCall.out.history.map((h) => h.loss), perOp.out.history.map((h) => h.loss), 'epoch losses', 1e-3);
      assert.deepEqual(oneCall.out.history.map((h) => h.valAcc), perOp.out.history.map((h) => h.valAcc));
      for (const name of Object.keys(perOp.out.weights)) assertClose(oneCall.out.weights[name].data, perOp.out.weights[name].data, name, 2e-3);
      assert.equal(oneCall.iterations, perOp.iterations);
      oneCall.momentum.forEach((m, i) => assertClose(m, perOp.momentum[i], `momentum ${i}`, 2e-3));
    });

    it('allocates nothing per step: tensors, backend data ids, native buffers; dispose frees its buffers', () => {
      const arch = parseNotation('C(8,3,1), P(2,2,MAX), C(8,3,1), P(2,2,AVG), FC(10), SM(4)', [8, 8, 3]);
      const model = buildModel(arch, initWeights(arch, Rng.fromSeed(3)));
      const opt = tf.train.momentum(0.02, 0.9, true);
      const vars = trainableOf(model);
      const data = batches(Rng.fromSeed(4), arch, 4, 1)[0];
      const bufsBefore = loadAddon().info();
      const step = NativePlainStep.forModel(model, arch, 4)!;
      step.load(opt, vars);
      step.step(opt, data.x, data.y, 0.02, WD); // warm-up: oneDNN primitives get cached
      const tensors = tf.memory().numTensors;
      const ids = tf.backend().numDataIds();
      const info = loadAddon().info();
      for (let i = 0; i < 5; i++) step.step(opt, data.x, data.y, 0.02, WD);
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(tf.backend().numDataIds(), ids);
      const after = loadAddon().info();
      assert.equal(after.liveBuffers, info.liveBuffers);
      assert.equal(after.liveBytes, info.liveBytes);
      assert.equal(after.cachedPrimitives, info.cachedPrimitives);
      step.store(opt, vars);
      const stored = tf.memory().numTensors;
      step.store(opt, vars);
      assert.equal(tf.memory().numTensors, stored, 'store twice: the accumulators are reused');
      step.dispose();
      step.dispose();
      const freed = loadAddon().info();
      // what stays is the cached primitives' reordered weights, as after a per-op step
      assert.ok(freed.liveBuffers <= bufsBefore.liveBuffers + (info.cachedPrimitives - bufsBefore.cachedPrimitives), `live buffers ${freed.liveBuffers} after dispose`);
      assert.throws(() => step.step(opt, data.x, data.y, 0.02, WD), /after dispose/);
      opt.dispose();
      model.dispose();
    });

    it('names what is wrong: input size, labels, freed handles', () => {
      const arch = parseNotation('C(4,3,1), SM(3)', [6, 6, 1]);
      const model = buildModel(arch, initWeights(arch, Rng.fromSeed(5)));
      const opt = tf.train.momentum(0.02, 0.9, true);
      const step = NativePlainStep.forModel(model, arch, 2)!;
      step.load(opt, trainableOf(model));
      assert.throws(() => step.step(opt, new Float32Array(10), new Int32Array(2), 0.1, 0), /x has 10 values, a batch of 2 needs 72/);
      assert.throws(() => step.step(opt, new Float32Array(72), Int32Array.from([0, 3]), 0.1, 0), /labels\[1\] = 3 is outside 0..2/);
      assert.throws(() => loadAddon().plainNetStep(987654, new Float32Array(72), new Int32Array(2), 0.1, 0.9, 0, new Float64Array(2)), /handle 987654 is not live/);
      step.dispose();
      opt.dispose();
      model.dispose();
    });

    it('does not apply with dropout or EAS_NATIVE_PLAIN_STEP=0', () => {
      const arch = parseNotation('C(4,3,1), C(4,3,1), SM(3)', [6, 6, 1]);
      const weights = initWeights(arch, Rng.fromSeed(6));
      const withDropout = buildModel(arch, weights, { dropout: { conv: 0.2 } });
      assert.equal(NativePlainStep.forModel(withDropout, arch, 4), null);
      withDropout.dispose();
      const model = buildModel(arch, weights);
      process.env.EAS_NATIVE_PLAIN_STEP = '0';
      try {
        assert.equal(NativePlainStep.forModel(model, arch, 4), null);
      } finally {
        delete process.env.EAS_NATIVE_PLAIN_STEP;
      }
      const step = NativePlainStep.forModel(model, arch, 4);
      assert.ok(step);
      step.dispose();
      model.dispose();
    });
  });
}
