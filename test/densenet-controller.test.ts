import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Chooser, type Sample, sampleWith, uniformChooser } from '../src/controller';
import {
  CHECK_DENSE_SPACE,
  DEFAULT_DENSE_SPACE,
  type DenseAction,
  type DenseNet,
  applyDenseActions,
  denseMaxAbsDiff,
  initDenseWeights,
  parseDenseNotation,
  randomizeDenseBatchNorm,
  standardDenseNetBC,
  toDenseNotation,
} from '../src/densenet';
import { DenseNetSpace } from '../src/space';
import { randomBatch } from '../src/transform/random';
import { Rng } from '../src/util/rng';
import { setupBackend } from './helpers/tf';

before(setupBackend);

const UNK_ID = 1;
const paperStart = () => standardDenseNetBC({ input: [32, 32, 3], classes: 10, depth: 40, growth: 40 });
const paperSpace = new DenseNetSpace(DEFAULT_DENSE_SPACE);
const checkSpace = new DenseNetSpace(CHECK_DENSE_SPACE);
const dense = (samples: Sample[]) => samples as Sample<DenseNet, DenseAction>[];

test('the encoder sees stem, dense layers by growth, transitions and the classifier; the wider mask covers growable layers', () => {
  assert.deepEqual(paperSpace.tokens.slice(5), ['dense-40', 'dense-44', 'dense-48', 'dense-52', 'dense-56', 'dense-60', 'dense-64']);
  assert.equal(paperSpace.vocabSize, paperSpace.tokens.length);
  const v = paperSpace.view(paperStart());
  const names = v.tokens.map((t) => paperSpace.tokens[t]);
  assert.equal(names.length, 1 + 18 + 2 + 1);
  assert.deepEqual(names.slice(0, 8), ['stem', ...Array(6).fill('dense-40'), 'transition']);
  assert.equal(names.at(-1), 'classifier');
  assert.deepEqual(
    v.widenMask.map((ok, i) => ok === (v.layerIds[i] !== null)),
    v.widenMask.map(() => true),
  );
  // At the space's top growth a layer cannot widen; a growth outside the space is <unk> but may still grow.
  const top = parseDenseNotation('C(24,3), D(64,12), SM(10)', [32, 32, 3]);
  const tv = paperSpace.view(top);
  assert.deepEqual(tv.widenMask, [false, false, true, false]);
  assert.equal(tv.tokens[2], UNK_ID);
});

test('the random controller samples valid, reproducible action sequences; the sampled actions preserve the function', () => {
  const start = paperStart();
  const steps = { widerSteps: 4, deeperSteps: 5 };
  const a = dense(sampleWith(uniformChooser, paperSpace, start, 3, 42, steps));
  const b = dense(sampleWith(uniformChooser, paperSpace, start, 5, 42, steps));
  assert.deepEqual(a, b.slice(0, 3), 'sample i depends only on (seed, i)');
  assert.notDeepEqual(a[0].actions, a[1].actions);
  for (const s of a) {
    assert.equal(s.actions.length, 9);
    assert.equal(s.net.blocks.reduce((n, blk) => n + blk.layers.length, 0), 18 + 5);
    assert.ok(s.net.blocks.every((blk) => blk.layers.every((l) => DEFAULT_DENSE_SPACE.growthRates.includes(l.growth))));
    for (const d of s.decisions) {
      if (d.type === 'wider') assert.ok(d.widen.every((w, i) => !w || d.mask[i]));
      else assert.ok(d.blockMask[d.block] && d.positionMask[d.position] && d.kernelIndex === null && d.kernelMask === null);
    }
  }
  // Small nets in a small space: apply the sampled actions to weights and compare logits.
  const small = parseDenseNotation('C(8,3), D(4*2), T(8), D(4), SM(3)', [16, 16, 1]);
  const rng = Rng.fromSeed(3);
  const weights = randomizeDenseBatchNorm(initDenseWeights(small, rng), rng);
  const x = randomBatch(rng, [16, 16, 1], 4);
  for (const s of dense(sampleWith(uniformChooser, checkSpace, small, 4, 9, { widerSteps: 2, deeperSteps: 3 }))) {
    const child = applyDenseActions(small, weights, s.actions, CHECK_DENSE_SPACE, rng);
    assert.equal(toDenseNotation(child.net), toDenseNotation(s.net));
    assert.ok(denseMaxAbsDiff({ net: small, weights }, child, x) <= 1e-4);
  }
  x.dispose();
});

test('deeper masks respect the heads and block sizes; an invalid choice is refused', () => {
  const net = parseDenseNotation('C(8,3), D(4*5), T(8), D(4*2), SM(3)', [16, 16, 1]);
  const m = checkSpace.deeperMasks(net, { maxBlocks: 8, maxPositions: 3 });
  assert.deepEqual(m.positionMasks, [
    [true, true, true, false, false],
    [true, true],
  ]);
  assert.deepEqual(m.kernelMasks, [null, null]);
  const full = parseDenseNotation('C(8,3), D(4*8), SM(3)', [16, 16, 1]);
  assert.throws(() => checkSpace.deeperMasks(full, { maxBlocks: Infinity, maxPositions: Infinity }), /no valid DenseNet deeper choice/);
  const bad = (choice: { block: number; position: number; kernelIndex: number | null }): Chooser => ({ widen: (views) => views.map((v) => v.widenMask.map(() => false)), deepen: (masks) => masks.map(() => choice) });
  const steps = { widerSteps: 0, deeperSteps: 1 };
  const heads = { maxBlocks: 8, maxPositions: 3 };
  assert.throws(() => sampleWith(bad({ block: 0, position: 4, kernelIndex: null }), checkSpace, net, 1, 1, steps, heads), /invalid Net2Deeper choice \(block 0, position 4/);
  assert.throws(() => sampleWith(bad({ block: 0, position: 0, kernelIndex: 0 }), checkSpace, net, 1, 1, steps, heads), /invalid Net2Deeper choice \(block 0, position 0, kernel index 0\)/);
  assert.equal(sampleWith(bad({ block: 1, position: 1, kernelIndex: null }), checkSpace, net, 1, 1, steps, heads)[0].decisions.length, 1);
  // An explicit plan takes the steps in its own order.
  const [planned] = sampleWith(uniformChooser, checkSpace, net, 1, 1, ['deeper', 'wider', 'deeper']);
  assert.deepEqual(planned.decisions.map((d) => d.type), ['deeper', 'wider', 'deeper']);
});
