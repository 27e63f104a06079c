import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSplits, type DatasetSplits } from '../src/data';
import { CHECK_DENSE_SPACE, applyDenseActions, initDenseWeights, parseDenseNotation } from '../src/densenet';
import { loadNetwork, saveNetwork } from '../src/checkpoint';
import type { Weights } from '../src/nn';
import { listEpochCheckpoints, loadEpochCheckpoint } from '../src/train/checkpoint';
import { executeTrainJob } from '../src/train/job';
import { trainNetwork } from '../src/train/loop';
import { TrainingRecipeSchema } from '../src/train/recipe';
import { Rng } from '../src/util/rng';
import { weightsBitwiseEqual } from './helpers/nets';
import { assertNoLeak, setupBackend } from './helpers/tf';

const SHAPE: [number, number, number] = [8, 8, 3];
const net = parseDenseNotation('C(8,3), D(4*2), T(8), D(4*2), SM(4)', SHAPE);
const initial = () => initDenseWeights(net, Rng.fromSeed(7));
const tmp = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), `eas-densenet-${prefix}-`));
let data: DatasetSplits;

before(async () => {
  await setupBackend();
  data = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 3, synthetic: { train: 704, test: 64, shape: SHAPE, classes: 4, noise: 64 } });
});

test('the training loop learns with a DenseNet and resumes from an epoch checkpoint to bitwise the same weights', async () => {
  const recipe = TrainingRecipeSchema.parse({ batchSize: 32, learningRate: 0.1 });
  const common = { arch: net, train: data.train, evaluate: data.eval, recipe, seed: 11 };
  const untrained = await trainNetwork({ ...common, weights: initial(), epochs: 1, recipe: { ...recipe, learningRate: 1e-9 } });
  const dirA = tmp('full');
  const full = await assertNoLeak(() => trainNetwork({ ...common, weights: initial(), epochs: 10, checkpointDir: dirA }));
  assert.ok(full.valAcc! >= 0.9 && full.valAcc! > untrained.valAcc! + 0.3, `validation accuracy ${untrained.valAcc} → ${full.valAcc}`);
  assert.deepEqual(
    listEpochCheckpoints(dirA).map((c) => c.epoch),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  const ckpt = loadEpochCheckpoint(path.join(dirA, 'epoch-0002'));
  assert.deepEqual(ckpt.state.arch, net, 'the epoch checkpoint records the DenseNet');
  const resumed = await trainNetwork({ ...common, weights: initial(), epochs: 10, resume: ckpt });
  assert.equal(resumed.epochsRun, 8);
  assert.ok(weightsBitwiseEqual(resumed.weights, full.weights), 'resumed run ends with bitwise the same weights');
});

test('a training job starts from a DenseNet checkpoint and publishes a DenseNet checkpoint with its result', async () => {
  const root = tmp('job');
  const start = path.join(root, 'start');
  await saveNetwork(start, net, initial());
  const result = await executeTrainJob({
    network: start,
    dataset: { name: 'synthetic', seed: 3, synthetic: { train: 704, test: 64, shape: SHAPE, classes: 4, noise: 64 } },
    mode: 'search',
    epochs: 2,
    recipe: { batchSize: 32, learningRate: 0.1 },
    seed: 1,
    workDir: path.join(root, 'work'),
    output: path.join(root, 'out'),
  });
  assert.equal(result.params, 3628);
  const out = loadNetwork(path.join(root, 'out'));
  assert.equal(out.space.kind, 'densenet');
  assert.deepEqual(out.arch, net);
  assert.deepEqual((out.meta as { trainResult: { valAcc: number } }).trainResult.valAcc, result.valAcc);
  fs.rmSync(root, { recursive: true });
});

test('random splits break the symmetry of widened replicas under SGD; equal splits (Eq. 3) keep them identical', async () => {
  const recipe = TrainingRecipeSchema.parse({ batchSize: 32, learningRate: 0.1 });
  const weights = initial();
  const gap = async (split: 'equal' | 'random') => {
    const child = applyDenseActions(net, weights, [{ type: 'wider', layers: ['L0'] }], CHECK_DENSE_SPACE, Rng.fromSeed(8), { split });
    const col = (w: Weights, j: number) => {
      const k = w['L0_conv2/kernel'].data;
      return Array.from({ length: k.length / 6 }, (_, o) => k[o * 6 + j]);
    };
    const u = [0, 1, 2, 3].find((v) => col(child.weights, v).every((a, i) => a === col(child.weights, 4)[i]));
    assert.ok(u !== undefined, 'filter 4 replicates an old filter');
    const out = await trainNetwork({ arch: child.net, weights: child.weights, train: data.train, epochs: 1, recipe, seed: 2 });
    const a = col(out.weights, 4);
    const b = col(out.weights, u);
    return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  };
  assert.ok((await gap('equal')) < 1e-6, 'equal split: replicas get equal gradients');
  assert.ok((await gap('random')) > 1e-3, 'random split: replicas diverge');
});
