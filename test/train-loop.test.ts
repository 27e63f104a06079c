import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parseNotation } from '../src/arch';
import { loadSplits, type DatasetSplits } from '../src/data';
import { initWeights } from '../src/nn';
import { Rng } from '../src/util/rng';
import { TrainingRecipeSchema } from '../src/train/recipe';
import { trainNetwork, type EpochReport } from '../src/train/loop';
import { learningRateAt } from '../src/train/schedule';
import { listEpochCheckpoints, loadEpochCheckpoint } from '../src/train/checkpoint';
import { DivergedError, TrainAbortedError, BadInputError } from '../src/train/errors';
import { assertNoLeak, setupBackend } from './helpers/tf';
import { weightsBitwiseEqual } from './helpers/nets';

const NOTATION = 'C(8,3,1), P(2,2,MAX), C(8,3,1), FC(16), SM(4)';
const SHAPE: [number, number, number] = [8, 8, 3];

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `eas-train-${prefix}-`));
}

let data: DatasetSplits;
const arch = parseNotation(NOTATION, SHAPE);
const initial = () => initWeights(arch, Rng.fromSeed(7));

before(async () => {
  await setupBackend();
  data = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 3, synthetic: { train: 704, test: 64, shape: SHAPE, classes: 4, noise: 64 } });
});

describe('learning rate schedule', () => {
  test('cosine starts at the base rate, halves midway and approaches 0; constant stays', () => {
    const recipe = TrainingRecipeSchema.parse({ learningRate: 0.02 });
    assert.equal(learningRateAt(recipe, 0, 100), 0.02);
    assert.ok(Math.abs(learningRateAt(recipe, 50, 100) - 0.01) < 1e-12);
    assert.ok(learningRateAt(recipe, 99, 100) < 0.02 * 0.001);
    assert.equal(learningRateAt({ ...recipe, schedule: 'constant' }, 99, 100), 0.02);
  });
});

describe('training loop', () => {
  test('learns an easy synthetic dataset, reports every epoch and leaks no tensors', async () => {
    const recipe = TrainingRecipeSchema.parse({ batchSize: 32, learningRate: 0.1 });
    const reports: EpochReport[] = [];
    const before = await assertNoLeak(async () => {
      const base = await trainNetwork({ arch, weights: initial(), train: data.train, evaluate: data.eval, epochs: 1, recipe: { ...recipe, learningRate: 1e-9 }, seed: 1 });
      return base.valAcc!;
    });
    const out = await assertNoLeak(() =>
      trainNetwork({ arch, weights: initial(), train: data.train, evaluate: data.eval, epochs: 8, recipe, seed: 1, onEpoch: (r) => void reports.push(r) }),
    );
    assert.deepEqual(
      reports.map((r) => r.epoch),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.equal(out.epochsRun, 8);
    assert.ok(out.valAcc! >= 0.9, `validation accuracy ${out.valAcc} after 8 epochs (untrained: ${before})`);
    assert.ok(out.valAcc! > before + 0.3, `accuracy must improve over the untrained net (${before} → ${out.valAcc})`);
    assert.ok(reports[7].loss < reports[0].loss, `loss should fall: ${reports.map((r) => r.loss.toFixed(3)).join(' → ')}`);
    // 633 training images / 32 = 19 steps per epoch, cosine over 152 steps: the last step's rate is tiny.
    assert.ok(reports[7].lr < recipe.learningRate * 0.01);
  });

  test('stopping after epoch 1 and resuming from its checkpoint gives bitwise the same weights', async () => {
    const recipe = TrainingRecipeSchema.parse({ batchSize: 32, learningRate: 0.05, augment: true, dropout: { conv: 0.1, fc: 0.2, skipFirstConv: true } });
    const common = { arch, train: data.train, evaluate: data.eval, epochs: 3, recipe, seed: 11 };
    const dirA = tmp('uninterrupted');
    const dirB = tmp('interrupted');
    const full = await assertNoLeak(() => trainNetwork({ ...common, weights: initial(), checkpointDir: dirA }));
    assert.deepEqual(
      listEpochCheckpoints(dirA).map((c) => c.epoch),
      [1, 2, 3],
    );

    const stop = new AbortController();
    await assert.rejects(
      assertNoLeak(() => trainNetwork({ ...common, weights: initial(), checkpointDir: dirB, signal: stop.signal, onEpoch: (r) => (r.epoch === 1 ? stop.abort() : undefined) })),
      TrainAbortedError,
    );
    assert.deepEqual(
      listEpochCheckpoints(dirB).map((c) => c.epoch),
      [1],
    );
    const ckpt = loadEpochCheckpoint(path.join(dirB, 'epoch-0001'));
    assert.ok(weightsBitwiseEqual(ckpt.weights, loadEpochCheckpoint(path.join(dirA, 'epoch-0001')).weights), 'epoch-1 checkpoints of both runs agree');
    assert.ok(ckpt.momentum.length > 0 && ckpt.momentum.some((m) => m.data.some((v) => v !== 0)), 'momentum accumulators are saved');
    // Weights passed alongside a resume are ignored: the checkpoint's are used.
    const resumed = await assertNoLeak(() => trainNetwork({ ...common, weights: initWeights(arch, Rng.fromSeed(999)), checkpointDir: dirB, resume: ckpt }));
    assert.equal(resumed.epochsRun, 2);
    assert.deepEqual(resumed.history, full.history.map((h, i) => ({ ...h, seconds: resumed.history[i].seconds })));
    assert.ok(weightsBitwiseEqual(resumed.weights, full.weights), 'resumed run must end with bitwise the same weights (incl. BN moving statistics)');

    // The dropout masks differ per step (a fixed layer seed would repeat one mask): a different seed changes the result.
    const otherSeed = await trainNetwork({ ...common, epochs: 1, seed: 12, weights: initial() });
    assert.ok(!weightsBitwiseEqual(otherSeed.weights, loadEpochCheckpoint(path.join(dirA, 'epoch-0001')).weights));
  });

  test('a resume with a different recipe or epoch count is refused as bad input', async () => {
    const recipe = TrainingRecipeSchema.parse({ batchSize: 32 });
    const dir = tmp('mismatch');
    await trainNetwork({ arch, weights: initial(), train: data.train, epochs: 1, recipe, seed: 5, checkpointDir: dir });
    const ckpt = loadEpochCheckpoint(path.join(dir, 'epoch-0001'));
    await assert.rejects(trainNetwork({ arch, weights: initial(), train: data.train, epochs: 3, recipe, seed: 5, resume: ckpt }), (e: Error) => e instanceof BadInputError && /1 epochs/.test(e.message));
    await assert.rejects(
      trainNetwork({ arch, weights: initial(), train: data.train, epochs: 1, recipe: { ...recipe, learningRate: 0.1 }, seed: 5, resume: ckpt }),
      (e: Error) => e instanceof BadInputError && /recipe/.test(e.message),
    );
  });

  test('a truncated or incomplete epoch checkpoint is refused, naming the file', async () => {
    const dir = tmp('corrupt');
    await trainNetwork({ arch, weights: initial(), train: data.train, epochs: 1, recipe: TrainingRecipeSchema.parse({ batchSize: 32 }), seed: 5, checkpointDir: dir });
    const ckptDir = path.join(dir, 'epoch-0001');
    const tensors = path.join(ckptDir, 'tensors.bin');
    fs.truncateSync(tensors, fs.statSync(tensors).size - 4);
    assert.throws(() => loadEpochCheckpoint(ckptDir), (e: Error) => e instanceof BadInputError && e.message.includes(tensors));
    fs.rmSync(path.join(ckptDir, 'state.json'));
    assert.throws(() => loadEpochCheckpoint(ckptDir), (e: Error) => e instanceof BadInputError && /state\.json: missing/.test(e.message));
    assert.deepEqual(listEpochCheckpoints(dir), [], 'a directory without state.json is not listed as a checkpoint');
  });

  test('a huge learning rate diverges with DivergedError and leaks nothing', async () => {
    const recipe = TrainingRecipeSchema.parse({ batchSize: 32, learningRate: 1e30, schedule: 'constant' });
    const baseline = tf.memory().numTensors;
    await assert.rejects(trainNetwork({ arch, weights: initial(), train: data.train, epochs: 2, recipe, seed: 1 }), (e: Error) => {
      assert.ok(e instanceof DivergedError, `expected DivergedError, got ${e.name}: ${e.message}`);
      assert.match(e.message, /loss is (NaN|Infinity|-Infinity)/);
      return true;
    });
    assert.equal(tf.memory().numTensors, baseline);
  });
});
