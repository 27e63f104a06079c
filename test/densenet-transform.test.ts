import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHECK_DENSE_SPACE,
  DEFAULT_DENSE_SPACE,
  DenseSpaceSchema,
  applyDenseActionToNet,
  applyDenseActions,
  denseMaxAbsDiff,
  denseParamCount,
  initDenseWeights,
  parseDenseNotation,
  randomizeDenseBatchNorm,
  rewidenDenseNet,
  runDenseTransformChecks,
  standardDenseNetBC,
  toDenseNotation,
  validateDenseWeights,
} from '../src/densenet';
import { cloneWeights } from '../src/nn';
import { randomBatch } from '../src/transform/random';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';

/**
 * The DenseNet space's function-preserving transformations (Eq. 4, layer insertion) and the authors' widening rules:
 * bottleneck 4·k_new, stem and transitions re-widened (han-cai/EAS, arch_search_densenet_net2net.py).
 */

before(setupBackend);

test('60 random DenseNets × random wider/deeper sequences preserve the function (max |Δlogits| ≤ 1e-4)', async () => {
  let wider = 0;
  let deeper = 0;
  const summary = await assertNoLeak(() =>
    runDenseTransformChecks({
      trials: 60,
      seed: 1234,
      onTrial: (r) => {
        assert.ok(r.maxAbsDiff <= 1e-4, `trial ${r.trial}: ${r.maxAbsDiff} on ${r.net} with ${JSON.stringify(r.actions)}`);
        for (const a of r.actions) {
          if (a.type === 'wider') wider++;
          else deeper++;
        }
      },
    }),
  );
  assert.ok(summary.maxAbsDiff <= 1e-4);
  assert.ok(wider > 30 && deeper > 40, `wider ${wider}, deeper ${deeper}`);
});

function setup(seed: number) {
  const rng = Rng.fromSeed(seed);
  // Stem and transition wider than the re-widening rule asks (2·mean growth, ⌊0.5·input⌋) so that these tests see the
  // layer transformations alone; the rule has its own tests below.
  const net = parseDenseNotation('C(16,3), D(4,6,4), T(20), D(4*2), SM(5)', [32, 32, 3]);
  const weights = randomizeDenseBatchNorm(initDenseWeights(net, rng), rng);
  return { rng, net, weights, x: randomBatch(rng, [32, 32, 3], 4) };
}

test('widening a layer remaps every later layer of its block and the transition (Eq. 4), symmetry broken by random splits', () => {
  const { rng, net, weights, x } = setup(11);
  const before = cloneWeights(weights);
  const child = applyDenseActions(net, weights, [{ type: 'wider', layers: ['L1'] }], CHECK_DENSE_SPACE, rng);
  assert.deepEqual(weights, before, 'inputs untouched');
  // The bottleneck follows the growth rate (4·8), as the authors widen it.
  assert.equal(toDenseNotation(child.net), 'C(16,3), D(4,8,4), T(20), D(4*2), SM(5)');
  assert.deepEqual(child.weights['L1_conv1/kernel'].shape, [1, 1, 16 + 4, 32]);
  assert.deepEqual(child.weights['L1_conv2/kernel'].shape, [3, 3, 32, 8]);
  // L1 sees 16 + 4 channels and outputs channels 20..27 of the stream; L2 and T1 read them.
  assert.deepEqual(child.weights['L2_conv1/kernel'].shape, [1, 1, 16 + 4 + 8, 16]);
  assert.deepEqual(child.weights['T1_conv/kernel'].shape, [1, 1, 16 + 4 + 8 + 4, 20]);
  assert.deepEqual(child.weights['L0_conv1/kernel'], weights['L0_conv1/kernel'], 'earlier layers unchanged');
  assert.ok(denseMaxAbsDiff({ net, weights }, child, x) <= 1e-4);
  // Replicated channels: the new filter j ≥ 6 of L1 copies some filter u < 6; the consumers' rows for j and u are
  // proportional (same source) but, with random splits, not equal.
  const k2 = child.weights['L1_conv2/kernel'].data;
  const col = (j: number) => Array.from({ length: k2.length / 8 }, (_, o) => k2[o * 8 + j]);
  const j = 6;
  const u = [0, 1, 2, 3, 4, 5].find((v) => col(v).every((a, i) => a === col(j)[i]));
  assert.ok(u !== undefined, 'new filter replicates an old one');
  const rows = child.weights['T1_conv/kernel'].data;
  const row = (c: number) => Array.from(rows.subarray(c * 20, c * 20 + 20));
  const ratio = row(20 + j).map((a, i) => a / row(20 + u!)[i]);
  assert.ok(ratio.every((r) => Math.abs(r - ratio[0]) < 1e-4) && Math.abs(ratio[0] - 1) > 1e-3, `rows proportional, not equal: ${ratio}`);
  // With equal splits (Eq. 3) the replicas' rows are equal: the symmetry random splits break.
  const eq = applyDenseActions(net, weights, [{ type: 'wider', layers: ['L1'] }], CHECK_DENSE_SPACE, Rng.fromSeed(5), { split: 'equal' });
  assert.ok(denseMaxAbsDiff({ net, weights }, eq, x) <= 1e-4);
  x.dispose();
});

test('inserting a layer copies the layer before it with replicated outputs; later consumers preserve the function', () => {
  const { rng, net, weights, x } = setup(12);
  const child = applyDenseActions(net, weights, [{ type: 'deeper', block: 0, position: 1 }], CHECK_DENSE_SPACE, rng);
  assert.equal(toDenseNotation(child.net), 'C(16,3), D(4,6*2,4), T(20), D(4*2), SM(5)');
  const fresh = child.net.blocks[0].layers[2];
  assert.equal(fresh.id, 'L5');
  // The new layer reads [O0, O1, O2] = 16 + 4 + 6 channels; its kernel rows for O2 (the copied layer's output) are zero.
  const k1 = child.weights['L5_conv1/kernel'];
  assert.deepEqual(k1.shape, [1, 1, 26, 24]);
  assert.ok(k1.data.subarray(20 * 24).every((v) => v === 0));
  assert.deepEqual(Array.from(k1.data.subarray(0, 20 * 24)), Array.from(weights['L1_conv1/kernel'].data));
  assert.deepEqual(child.weights['L2_conv1/kernel'].shape, [1, 1, 16 + 4 + 6 + 6, 16]);
  assert.ok(denseMaxAbsDiff({ net, weights }, child, x) <= 1e-4);
  // Noise (off by default) perturbs the function a little: the check really compares outputs.
  const noisy = applyDenseActions(net, weights, [{ type: 'deeper', block: 0, position: 1 }], CHECK_DENSE_SPACE, Rng.fromSeed(1), { noise: 0.5 });
  assert.ok(denseMaxAbsDiff({ net, weights }, noisy, x) > 1e-3);
  x.dispose();
});

test('noise comes from its own stream: with and without noise, the same remappings and splits; only new kernel entries move', () => {
  const { net, weights, x } = setup(14);
  const actions = [
    { type: 'wider' as const, layers: ['L0', 'L1'] },
    { type: 'deeper' as const, block: 0, position: 1 },
    { type: 'wider' as const, layers: ['L2'] },
  ];
  const exact = applyDenseActions(net, weights, actions, CHECK_DENSE_SPACE, Rng.fromSeed(5), { split: 'random' });
  const noisy = applyDenseActions(net, weights, actions, CHECK_DENSE_SPACE, Rng.fromSeed(5), { split: 'random', noise: 0.01 });
  assert.equal(toDenseNotation(noisy.net), toDenseNotation(exact.net));
  assert.ok(denseMaxAbsDiff({ net, weights }, exact, x) <= 1e-4, 'the noise-free application preserves the function');
  // One application gives both: the noisy child's `exact` twin is the noise-free application, bit for bit.
  assert.equal(exact.exact, exact.weights, 'without noise the twin is the child itself');
  for (const n of Object.keys(exact.weights)) assert.deepEqual(noisy.exact[n].data, exact.weights[n].data, `${n}: the noisy child's twin is exact`);
  const moved = Object.keys(exact.weights).filter((n) => !exact.weights[n].data.every((v, i) => v === noisy.weights[n].data[i]));
  // Noise goes on the replicas' incoming weights: widened 3×3 kernels and bottlenecks (1×1), the inserted layer's 1×1
  // kernel (its 3×3 kernel copies L1's, noisy after the widening), and T1's conv, re-widened (⌊0.5 · 42⌋ = 21 after
  // the insertion, then 22); every BatchNorm and every consumer's split rows are equal.
  assert.deepEqual(moved.sort(), ['L0_conv1/kernel', 'L0_conv2/kernel', 'L1_conv1/kernel', 'L1_conv2/kernel', 'L2_conv1/kernel', 'L2_conv2/kernel', 'L5_conv1/kernel', 'L5_conv2/kernel', 'T1_conv/kernel']);
  for (const name of moved) {
    const d = exact.weights[name].data.map((v, i) => Math.abs(v - noisy.weights[name].data[i]));
    assert.ok(Math.max(...d) < 0.05, `${name}: noise is small`);
  }
  x.dispose();
});

test('a transformation that skips the Eq. 4 remapping is caught', () => {
  const { rng, net, weights, x } = setup(13);
  const child = applyDenseActions(net, weights, [{ type: 'wider', layers: ['L0'] }], CHECK_DENSE_SPACE, rng);
  const broken = cloneWeights(child.weights);
  // Undo the split on L2's rows for L0's new channels (stream channels 20..21: L0 grew 4 → 6 after the 16 stem channels).
  const k = broken['L2_conv1/kernel'];
  for (let c = 20; c < 22; c++) for (let o = 0; o < 16; o++) k.data[c * 16 + o] *= 3;
  assert.ok(denseMaxAbsDiff({ net, weights }, { net: child.net, weights: broken }, x) > 1e-3);
  x.dispose();
});

test('invalid actions fail with errors naming the problem', () => {
  const net = parseDenseNotation('C(8,3), D(64,40), SM(5)', [8, 8, 3]);
  const space = DEFAULT_DENSE_SPACE;
  assert.throws(() => applyDenseActionToNet(net, { type: 'wider', layers: ['L0'] }, space), /already at the space's maximum/);
  assert.throws(() => applyDenseActionToNet(net, { type: 'wider', layers: ['nope'] }, space), /no dense layer with id "nope"/);
  assert.throws(() => applyDenseActionToNet(net, { type: 'deeper', block: 1, position: 0 }, space), /block 1 does not exist/);
  assert.throws(() => applyDenseActionToNet(net, { type: 'deeper', block: 0, position: 2 }, space), /position 2 does not exist/);
  // Widened: the bottleneck to 4·44; the stem to ⌊2 · mean growth⌋ = ⌊2 · 54⌋ (the authors' first_ratio).
  assert.equal(toDenseNotation(applyDenseActionToNet(net, { type: 'wider', layers: ['L1'] }, space)), 'C(108,3), D(64,44), SM(5)');
});


test("widening a growth rate widens the bottleneck to 4·k_new (the authors' in_bottle), function preserved", () => {
  const rng = Rng.fromSeed(21);
  // A standard DenseNet-BC (stem 2k, transitions ⌊0.5 · input⌋), as the authors' start nets.
  const net = parseDenseNotation('C(8,3), D(4*2), T(8), D(4*2), SM(5)', [16, 16, 3]);
  const weights = randomizeDenseBatchNorm(initDenseWeights(net, rng), rng);
  const x = randomBatch(rng, [16, 16, 3], 4);
  let current = { net, weights };
  // L0 all the way up the space, one step at a time: 4 → 6 → 8 → 10 → 12.
  for (const k of [6, 8, 10, 12]) {
    const parent = current;
    for (const split of ['random', 'equal'] as const) {
      const child = applyDenseActions(parent.net, parent.weights, [{ type: 'wider', layers: ['L0'] }], CHECK_DENSE_SPACE, rng, { split });
      const l0 = child.net.blocks[0].layers[0];
      assert.equal(l0.growth, k);
      assert.equal(l0.bottleneck, 4 * k, 'bottleneck is 4·k_new');
      assert.deepEqual(child.weights['L0_conv1/kernel'].shape, [1, 1, child.net.stem.filters, 4 * k]);
      assert.deepEqual(child.weights['L0_bn2/gamma'].shape, [4 * k]);
      assert.deepEqual(child.weights['L0_conv2/kernel'].shape, [3, 3, 4 * k, k]);
      validateDenseWeights(child.net, child.weights);
      const d = denseMaxAbsDiff({ net, weights }, child, x);
      assert.ok(d <= 1e-4, `k = ${k}, ${split}: ${d}`);
      if (split === 'random') current = child;
    }
  }
  x.dispose();
});

test('a bottleneck already wider than 4·k_new is kept (never narrowed); the notation prints it as g:b', () => {
  const net = parseDenseNotation('C(64,3), D(4:40,4), SM(5)', [8, 8, 3]);
  const child = applyDenseActionToNet(net, { type: 'wider', layers: ['L0', 'L1'] }, CHECK_DENSE_SPACE);
  assert.equal(toDenseNotation(child), 'C(64,3), D(6:40,6), SM(5)');
});

test("stem and transitions are re-widened after every action (the authors' widen_transition), exactly", () => {
  // The paper's start point: widening one layer 40 → 44 adds 4 channels to block 1, so T1 grows to ⌊0.5 · 324⌋ = 162,
  // which adds 2 channels to block 2, so T2 grows to ⌊0.5 · 402⌋ = 201. The stem stays at ⌊2 · mean growth⌋ = 80.
  const paper = standardDenseNetBC({ input: [32, 32, 3], classes: 10, depth: 40, growth: 40 });
  const widened = applyDenseActionToNet(paper, { type: 'wider', layers: ['L0'] }, DEFAULT_DENSE_SPACE);
  assert.equal(toDenseNotation(widened), 'C(80,3), D(44,40*5), T(162), D(40*6), T(201), D(40*6), SM(10)');
  assert.equal(widened.blocks[0].layers[0].bottleneck, 176);
  // All layers at 44: the stem follows to 2 · 44 (the authors' first_ratio), transitions to compression 0.5.
  const all = applyDenseActionToNet(paper, { type: 'wider', layers: paper.blocks.flatMap((b) => b.layers.map((l) => l.id)) }, DEFAULT_DENSE_SPACE);
  assert.equal(toDenseNotation(all), toDenseNotation(standardDenseNetBC({ input: [32, 32, 3], classes: 10, depth: 40, growth: 44 })));
  assert.equal(denseParamCount(all), denseParamCount(standardDenseNetBC({ input: [32, 32, 3], classes: 10, depth: 40, growth: 44 })));
  // Net2Deeper adds channels to its block too: the transition after it grows.
  const deeper = applyDenseActionToNet(paper, { type: 'deeper', block: 1, position: 5 }, DEFAULT_DENSE_SPACE);
  assert.equal(toDenseNotation(deeper), 'C(80,3), D(40*6), T(160), D(40*7), T(220), D(40*6), SM(10)');

  // Weights: exact on a small standard net, for wider and deeper steps that move the stem and both transitions.
  const rng = Rng.fromSeed(22);
  const net = parseDenseNotation('C(8,3), D(4*2), T(8), D(4*2), T(8), D(4), SM(5)', [16, 16, 3]);
  const weights = randomizeDenseBatchNorm(initDenseWeights(net, rng), rng);
  const x = randomBatch(rng, [16, 16, 3], 4);
  const actions = [
    { type: 'wider' as const, layers: ['L0', 'L1', 'L2'] },
    { type: 'deeper' as const, block: 1, position: 0 },
    { type: 'wider' as const, layers: ['L0', 'L4'] },
  ];
  const child = applyDenseActions(net, weights, actions, CHECK_DENSE_SPACE, rng);
  const replayed = actions.reduce((n, a) => applyDenseActionToNet(n, a, CHECK_DENSE_SPACE), net);
  assert.equal(toDenseNotation(child.net), toDenseNotation(replayed), 'the transform builds the network the actions describe');
  // Growth 8, 6 | 6, 6, 4 | 6: stem ⌊2 · 36/6⌋ = 12, T1 ⌊0.5 · (12 + 14)⌋ = 13, T2 ⌊0.5 · (13 + 16)⌋ = 14.
  assert.equal(toDenseNotation(child.net), 'C(12,3), D(8,6), T(13), D(6*2,4), T(14), D(6), SM(5)');
  assert.deepEqual(child.weights['stem/kernel'].shape, [3, 3, 3, 12]);
  assert.deepEqual(child.weights['T1_conv/kernel'].shape, [1, 1, 12 + 8 + 6, 13]);
  assert.deepEqual(child.weights['T2_conv/kernel'].shape, [1, 1, 13 + 16, 14]);
  const d = denseMaxAbsDiff({ net, weights }, child, x);
  assert.ok(d <= 1e-4, `${d}`);
  const eq = applyDenseActions(net, weights, actions, CHECK_DENSE_SPACE, Rng.fromSeed(3), { split: 'equal' });
  assert.ok(denseMaxAbsDiff({ net, weights }, eq, x) <= 1e-4);
  x.dispose();
});

test('re-widening never narrows: networks written before the rule (any stem, any transition) load and keep their widths', () => {
  const old = parseDenseNotation('C(16,3), D(12*2), T(30), D(12*2), SM(10)', [28, 28, 1]);
  // Untouched until an action runs; then the stem goes to 2 · 12 = 24 and T(30) stays (⌊0.5 · 48⌋ = 24 < 30).
  assert.equal(toDenseNotation(rewidenDenseNet(old, DEFAULT_DENSE_SPACE)), 'C(24,3), D(12*2), T(30), D(12*2), SM(10)');
  assert.equal(rewidenDenseNet(old, { ...DEFAULT_DENSE_SPACE, stemRatio: 0 }), old, 'stemRatio 0: the stem is never re-widened');
  const standard = standardDenseNetBC({ input: [32, 32, 3], classes: 10, depth: 40, growth: 40 });
  assert.equal(rewidenDenseNet(standard, DEFAULT_DENSE_SPACE), standard, 'a standard DenseNet-BC is a fixed point');
  // compression 1 (DenseNet without compression): transitions follow their whole input.
  assert.equal(toDenseNotation(rewidenDenseNet(parseDenseNotation('C(24,3), D(12*2), T(24), D(12), SM(10)', [28, 28, 1]), { ...DEFAULT_DENSE_SPACE, compression: 1 })), 'C(24,3), D(12*2), T(48), D(12), SM(10)');
  // Spaces and policy checkpoints written before the rule parse unchanged (the new fields are optional).
  assert.deepEqual(DenseSpaceSchema.parse({ growthRates: [4, 8] }), { growthRates: [4, 8], bottleneckFactor: 4, maxLayersPerBlock: 64 });
  assert.throws(() => DenseSpaceSchema.parse({ compression: 0 }), /compression/);
});
