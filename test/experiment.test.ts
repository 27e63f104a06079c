import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { type Action, type Arch, SearchSpaceSchema, paramCount, parseNotation, toNotation } from '../src/arch';
import { type Sample, createController } from '../src/controller';
import { type DatasetSplits, loadSplits } from '../src/data';
import { initWeights } from '../src/nn';
import type { Weights } from '../src/nn/weights';
import { TrainingConfigSchema, recipeFor } from '../src/train/recipe';
import { trainNetwork } from '../src/train/loop';
import { applyActions } from '../src/transform';
import { DEFAULT_TRANSFORM_OPTIONS } from '../src/transform/options';
import { Rng, deriveSeed } from '../src/util/rng';
import { setupBackend } from './helpers/tf';

/**
 * A small real experiment (issue 12): on a Fashion-MNIST subset, the candidates a search would try — the start net
 * transformed by the search's sampled Net2Wider/Net2Deeper actions with its default symmetry breaking, then fine-tuned
 * with the candidates' recipe — beat the start net. Fair in epochs: the start net is trained START_EPOCHS, and then
 * both the start net itself and every candidate get the same CANDIDATE_EPOCHS with the same recipe, data order and
 * seed; validation accuracies are compared at the same total epochs (the candidates are bigger, so not at the same
 * compute). Bounded: 5 small trainings of 2 epochs on 3,000 images, validated on 2,000.
 */
const DATA_DIR = process.env.EAS_FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
// A thin start net (16k parameters), so that growth has capacity to add and the test stays cheap.
const START = 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(2,2,MAX), C(32,3,1), P(4,4,AVG), FC(64), SM(10)';
const START_EPOCHS = 2;
const CANDIDATE_EPOCHS = 2;
const CANDIDATES = 4;
// A CPU-sized space (as configs/fashion-mnist.yaml): 1×1/3×3 kernels, filters ≤ 128, 2 wider + 2 deeper steps.
const SPACE = SearchSpaceSchema.parse({ convFilters: [16, 32, 48, 64, 96, 128], convKernels: [1, 3], fcUnits: [64, 128, 256, 384, 512] });
const training = TrainingConfigSchema.parse({});
const SEED = 12;

let data: DatasetSplits;

before(async () => {
  await setupBackend();
  data = await loadSplits({ dataset: 'fashion-mnist', dataDir: DATA_DIR, mode: 'search', seed: SEED, validationSize: 5000, limit: { train: 3000, val: 2000 } });
});

async function fineTune(arch: Arch, weights: Weights, seed: number): Promise<number> {
  const out = await trainNetwork({ arch, weights, train: data.train, evaluate: data.eval, epochs: CANDIDATE_EPOCHS, recipe: recipeFor(training, 'candidates'), seed });
  assert.ok(out.valAcc !== null && out.valAcc !== undefined);
  return out.valAcc;
}

describe('experiment: symmetry-broken Net2Net candidates on Fashion-MNIST', () => {
  test('the best of a handful of candidates beats its start net at the same total epochs', async () => {
    const arch = parseNotation(START, [28, 28, 1]);
    const started = await trainNetwork({ arch, weights: initWeights(arch, Rng.fromSeed(SEED)), train: data.train, evaluate: data.eval, epochs: START_EPOCHS, recipe: recipeFor(training, 'start'), seed: SEED });
    const startAcc = started.valAcc!;
    // Same fine-tuning seed for every network: same data order, so only the network differs.
    const tuneSeed = deriveSeed(SEED, 'fine-tune');
    const startContinued = await fineTune(arch, started.weights, tuneSeed);

    const controller = createController('random', { widerSteps: 2, deeperSteps: 2 }, { kind: 'plain', ...SPACE }, SEED);
    const samples = controller.sample(arch, CANDIDATES, SEED) as Sample<Arch, Action>[];
    // Real images for Net2Deeper's BatchNorm statistics, as the search's transform activity uses.
    const b = data.train.makeBatch(Int32Array.from({ length: 64 }, (_, i) => i));
    const x = tf.tensor4d(b.x, b.shape);
    const results: { notation: string; params: number; acc: number }[] = [];
    try {
      for (const [i, s] of samples.entries()) {
        const child = applyActions(arch, started.weights, s.actions, {
          space: SPACE,
          rng: Rng.fromSeed(deriveSeed(SEED, 'transform', i)),
          batch: x,
          wider: DEFAULT_TRANSFORM_OPTIONS.wider,
          deeper: DEFAULT_TRANSFORM_OPTIONS.deeper,
        });
        results.push({ notation: toNotation(child.arch), params: paramCount(child.arch), acc: await fineTune(child.arch, child.weights, tuneSeed) });
      }
    } finally {
      x.dispose();
    }
    const best = results.reduce((a, b) => (b.acc > a.acc ? b : a));
    const report = [
      `start (${START_EPOCHS} epochs): ${startAcc}; start + ${CANDIDATE_EPOCHS} (${paramCount(arch)} params): ${startContinued}`,
      ...results.map((r) => `candidate ${r.acc} (${r.params} params) ${r.notation}`),
    ].join('\n');
    console.log(report);
    assert.ok(results.every((r) => r.notation !== toNotation(arch)), 'every candidate changed the network');
    assert.ok(best.acc > startContinued, `best candidate ${best.acc} vs start net ${startContinued} at ${START_EPOCHS + CANDIDATE_EPOCHS} epochs\n${report}`);
  });
});
