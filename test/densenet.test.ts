import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../src/checkpoint';
import {
  CHECK_DENSE_SPACE,
  DEFAULT_DENSE_SPACE,
  DenseNetError,
  applyDenseActionToNet,
  applyDenseActions,
  buildDenseModel,
  denseDepth,
  denseMaxAbsDiff,
  denseParamCount,
  denseShapes,
  extractDenseWeights,
  initDenseWeights,
  isDenseCheckpoint,
  isDenseNotation,
  loadDenseNetwork,
  parseDenseNotation,
  randomDenseNet,
  randomizeDenseBatchNorm,
  runDenseTransformChecks,
  saveDenseNetwork,
  standardDenseNetBC,
  toDenseNotation,
  validateDenseWeights,
} from '../src/densenet';
import { cloneWeights } from '../src/nn';
import { randomBatch } from '../src/transform/random';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';

before(setupBackend);

const CIFAR = [32, 32, 3] as const;
const millions = (n: number) => (n / 1e6).toFixed(1);

test('DenseNet-BC parameter counts match the DenseNet paper (CIFAR, 3 blocks, stem 2k, compression 0.5)', () => {
  // Huang et al. 2017, Table 2: L=100 k=12 0.8M; L=250 k=24 15.3M; L=190 k=40 25.6M (the last also in EAS Table 4).
  for (const [depth, growth, published] of [
    [100, 12, '0.8'],
    [250, 24, '15.3'],
    [190, 40, '25.6'],
  ] as const) {
    const net = standardDenseNetBC({ input: [...CIFAR], classes: 10, depth, growth });
    assert.equal(millions(denseParamCount(net)), published, `L=${depth} k=${growth}: ${denseParamCount(net)}`);
    assert.equal(denseDepth(net), depth);
    assert.equal(net.blocks.length, 3);
    assert.ok(net.blocks.every((b) => b.layers.length === (depth - 4) / 6 && b.layers.every((l) => l.growth === growth && l.bottleneck === 4 * growth)));
  }
  // The paper's EAS start point.
  const start = standardDenseNetBC({ input: [...CIFAR], classes: 10, depth: 40, growth: 40 });
  assert.equal(toDenseNotation(start), 'C(80,3), D(40*6), T(160), D(40*6), T(200), D(40*6), SM(10)');
  assert.throws(() => standardDenseNetBC({ input: [...CIFAR], classes: 10, depth: 41, growth: 12 }), /whole number of layers per block/);
});

test('the parameter count equals the trainable weights of the built tfjs model; shapes follow the transitions', () => {
  const net = standardDenseNetBC({ input: [...CIFAR], classes: 10, depth: 100, growth: 12 });
  const s = denseShapes(net);
  assert.deepEqual(s.stem.out, [32, 32, 24]);
  assert.deepEqual(s.blocks.map((b) => b.input), [
    [32, 32, 24],
    [16, 16, 108],
    [8, 8, 150],
  ]);
  assert.equal(s.classifierIn, 150 + 16 * 12);
  const model = buildDenseModel(net, initDenseWeights(net, Rng.fromSeed(1)));
  try {
    const trainable = model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
    assert.equal(trainable, denseParamCount(net));
    assert.equal(trainable, 769162);
    assert.ok(model.layers.some((l) => l.getClassName() === 'Concatenate'));
    // The authors' DenseNet BatchNorm decay (0.9) unless the options say otherwise.
    assert.equal(model.getLayer('final_bn').getConfig().momentum, 0.9);
  } finally {
    model.dispose();
  }
});

test('the notation round-trips exactly and bad notation names the token and what was expected', () => {
  const text = 'C(24,3), D(12*3,16,12:64*2), T(60), D(8), SM(10)';
  const net = parseDenseNotation(text, [...CIFAR]);
  assert.equal(toDenseNotation(net), text);
  assert.deepEqual(parseDenseNotation(toDenseNotation(net), [...CIFAR]), net);
  assert.deepEqual(
    net.blocks[0].layers.map((l) => [l.id, l.growth, l.bottleneck]),
    [
      ['L0', 12, 48],
      ['L1', 12, 48],
      ['L2', 12, 48],
      ['L3', 16, 64],
      ['L4', 12, 64],
      ['L5', 12, 64],
    ],
  );
  assert.ok(isDenseNotation(text));
  assert.ok(!isDenseNotation('C(16,3,1), P(2,2,MAX), SM(10)'));
  for (let seed = 0; seed < 20; seed++) {
    const rng = Rng.fromSeed(seed);
    const r = randomDenseNet(rng, [28, 28, 1], CHECK_DENSE_SPACE);
    assert.deepEqual(parseDenseNotation(toDenseNotation(r), [28, 28, 1]), r);
  }
  const bad = (t: string, re: RegExp) => assert.throws(() => parseDenseNotation(t, [...CIFAR]), (e: unknown) => e instanceof DenseNetError && re.test(e.message));
  bad('C(24,3), D(12), D(12), SM(10)', /need a transition/);
  bad('C(24,3), D(12), T(12), SM(10)', /last block is followed by the classifier/);
  bad('C(24,3), D(12x), SM(10)', /"D\(12x\)".*cannot read layer "12x"/);
  bad('C(24,3), D(12)', /must end with SM/);
  bad('D(12), SM(10)', /must follow the stem/);
  bad('C(24,3), D(0), SM(10)', /growth must be a positive integer/);
  // Five transitions halve 32 → 1; a sixth would need to pool a 1×1 map.
  bad('C(4,3), D(2), T(4), D(2), T(4), D(2), T(4), D(2), T(4), D(2), T(4), D(2), T(4), D(2), SM(2)', /transition 6.*needs at least 2×2/);
});

test('a functional model saved as a checkpoint reloads (ours and plain tf.loadLayersModel) with identical logits', async () => {
  const rng = Rng.fromSeed(7);
  const net = parseDenseNotation('C(8,3), D(4*2), T(6), D(6,4), SM(10)', [28, 28, 1]);
  const weights = randomizeDenseBatchNorm(initDenseWeights(net, rng), rng);
  assert.deepEqual(initDenseWeights(net, Rng.fromSeed(3)), initDenseWeights(net, Rng.fromSeed(3)), 'seeded init');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-densenet-'));
  const dir = path.join(root, 'net');
  assert.equal(await saveDenseNetwork(dir, net, weights, { note: 'x' }), true);
  assert.equal(await saveDenseNetwork(dir, net, weights), false, 'never overwrites');
  assert.ok(isDenseCheckpoint(dir));
  const loaded = loadDenseNetwork(dir);
  assert.deepEqual(loaded.net, net);
  assert.deepEqual(loaded.meta, { note: 'x' });
  validateDenseWeights(net, loaded.weights);
  const x = randomBatch(rng, [28, 28, 1], 4);
  await assertNoLeak(async () => {
    const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bin = fs.readFileSync(path.join(dir, modelJson.weightsManifest[0].paths[0]));
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    const plain = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData }));
    const ours = buildDenseModel(loaded.net, loaded.weights);
    const original = buildDenseModel(net, weights);
    const [d1, d2] = tf.tidy(() => {
      const a = original.predict(x) as tf.Tensor;
      return [tf.max(tf.abs(tf.sub(plain.predict(x) as tf.Tensor, a))).dataSync()[0], tf.max(tf.abs(tf.sub(ours.predict(x) as tf.Tensor, a))).dataSync()[0]];
    });
    assert.equal(d1, 0);
    assert.equal(d2, 0);
    // Weights read back out of a model are the ones put in.
    assert.deepEqual(extractDenseWeights(ours, net), loaded.weights);
    plain.dispose();
    ours.dispose();
    original.dispose();
  });
  x.dispose();
  // Corruption is reported with the file.
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(8));
  assert.throws(() => loadDenseNetwork(dir), (e: unknown) => e instanceof CheckpointError && e.file === path.join(dir, 'weights.bin') && /bytes but the manifest/.test(e.message));
  fs.writeFileSync(path.join(dir, 'arch.json'), JSON.stringify({ ...net, blocks: [] }));
  assert.throws(() => loadDenseNetwork(dir), (e: unknown) => e instanceof CheckpointError && e.file === path.join(dir, 'arch.json') && /blocks/.test(e.message));
  fs.rmSync(root, { recursive: true });
});

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
  const net = parseDenseNotation('C(8,3), D(4,6,4), T(10), D(4*2), SM(5)', [32, 32, 3]);
  const weights = randomizeDenseBatchNorm(initDenseWeights(net, rng), rng);
  return { rng, net, weights, x: randomBatch(rng, [32, 32, 3], 4) };
}

test('widening a layer remaps every later layer of its block and the transition (Eq. 4), symmetry broken by random splits', () => {
  const { rng, net, weights, x } = setup(11);
  const before = cloneWeights(weights);
  const child = applyDenseActions(net, weights, [{ type: 'wider', layers: ['L1'] }], CHECK_DENSE_SPACE, rng);
  assert.deepEqual(weights, before, 'inputs untouched');
  assert.equal(toDenseNotation(child.net), 'C(8,3), D(4,8:24,4), T(10), D(4*2), SM(5)');
  // L1 sees 8 + 4 channels and outputs channels 12..19 of the stream; L2 and T1 read them.
  assert.deepEqual(child.weights['L2_conv1/kernel'].shape, [1, 1, 8 + 4 + 8, 16]);
  assert.deepEqual(child.weights['T1_conv/kernel'].shape, [1, 1, 8 + 4 + 8 + 4, 10]);
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
  const row = (c: number) => Array.from(rows.subarray(c * 10, c * 10 + 10));
  const ratio = row(12 + j).map((a, i) => a / row(12 + u!)[i]);
  assert.ok(ratio.every((r) => Math.abs(r - ratio[0]) < 1e-4) && Math.abs(ratio[0] - 1) > 1e-3, `rows proportional, not equal: ${ratio}`);
  // With equal splits (Eq. 3) the replicas' rows are equal: the symmetry random splits break.
  const eq = applyDenseActions(net, weights, [{ type: 'wider', layers: ['L1'] }], CHECK_DENSE_SPACE, Rng.fromSeed(5), { split: 'equal' });
  assert.ok(denseMaxAbsDiff({ net, weights }, eq, x) <= 1e-4);
  x.dispose();
});

test('inserting a layer copies the layer before it with replicated outputs; later consumers preserve the function', () => {
  const { rng, net, weights, x } = setup(12);
  const child = applyDenseActions(net, weights, [{ type: 'deeper', block: 0, position: 1 }], CHECK_DENSE_SPACE, rng);
  assert.equal(toDenseNotation(child.net), 'C(8,3), D(4,6*2,4), T(10), D(4*2), SM(5)');
  const fresh = child.net.blocks[0].layers[2];
  assert.equal(fresh.id, 'L5');
  // The new layer reads [O0, O1, O2] = 8 + 4 + 6 channels; its kernel rows for O2 (the copied layer's output) are zero.
  const k1 = child.weights['L5_conv1/kernel'];
  assert.deepEqual(k1.shape, [1, 1, 18, 24]);
  assert.ok(k1.data.subarray(12 * 24).every((v) => v === 0));
  assert.deepEqual(Array.from(k1.data.subarray(0, 12 * 24)), Array.from(weights['L1_conv1/kernel'].data));
  assert.deepEqual(child.weights['L2_conv1/kernel'].shape, [1, 1, 8 + 4 + 6 + 6, 16]);
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
  const moved = Object.keys(exact.weights).filter((n) => !exact.weights[n].data.every((v, i) => v === noisy.weights[n].data[i]));
  // Noise goes on widened 3×3 kernels and the inserted layer's 1×1 kernel (its 3×3 kernel copies L1's, noisy after the
  // widening); every BatchNorm and every consumer's remapped kernel is equal.
  assert.deepEqual(moved.sort(), ['L0_conv2/kernel', 'L1_conv2/kernel', 'L2_conv2/kernel', 'L5_conv1/kernel', 'L5_conv2/kernel']);
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
  // Undo the split on L2's rows for L0's new channels (stream channels 12..13: L0 grew 4 → 6 after the 8 stem channels).
  const k = broken['L2_conv1/kernel'];
  for (let c = 12; c < 14; c++) for (let o = 0; o < 16; o++) k.data[c * 16 + o] *= 3;
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
  assert.equal(toDenseNotation(applyDenseActionToNet(net, { type: 'wider', layers: ['L1'] }, space)), 'C(8,3), D(64,44:160), SM(5)');
});

test('eas check-transform --space densenet --json prints {"trials":N,"maxAbsDiff":x}', async () => {
  const { main } = await import('../src/cli/main');
  const run = async (args: string[]) => {
    const lines: string[] = [];
    const log = console.log;
    const saved = process.exitCode;
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      return { code: await main(['node', 'eas', 'check-transform', ...args]), lines };
    } finally {
      console.log = log;
      process.exitCode = saved;
    }
  };
  const ok = await run(['--space', 'densenet', '--trials', '4', '--seed', '3', '--json']);
  assert.equal(ok.code, 0);
  const parsed = JSON.parse(ok.lines[0]);
  assert.deepEqual(Object.keys(parsed), ['trials', 'maxAbsDiff']);
  assert.ok(parsed.maxAbsDiff > 0 && parsed.maxAbsDiff <= 1e-4);
  const strict = await run(['--space', 'densenet', '--trials', '4', '--seed', '3', '--json', '--tolerance', '1e-12']);
  assert.equal(strict.code, 1);
  assert.deepEqual(JSON.parse(strict.lines[0]), parsed, 'same seed, same result');
});

test('either-space helpers dispatch on the network: notation, key, parameters, schema', async () => {
  const { AnyNetSchema, anyCanonicalKey, anyNotation, anyParamCount, isDenseNet } = await import('../src/densenet/network');
  const { parseNotation, paramCount } = await import('../src/arch');
  const plain = parseNotation('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [28, 28, 1]);
  const dense = parseDenseNotation('C(8,3), D(4*2), SM(10)', [28, 28, 1]);
  assert.equal(isDenseNet(plain), false);
  assert.equal(isDenseNet(dense), true);
  assert.equal(anyNotation(plain), 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)');
  assert.equal(anyNotation(dense), 'C(8,3), D(4*2), SM(10)');
  assert.equal(anyParamCount(plain), paramCount(plain));
  assert.equal(anyParamCount(dense), denseParamCount(dense));
  assert.notEqual(anyCanonicalKey(dense), anyCanonicalKey(parseDenseNotation('C(8,3), D(4,6), SM(10)', [28, 28, 1])));
  assert.deepEqual(AnyNetSchema.parse(JSON.parse(JSON.stringify(dense))), dense);
  assert.deepEqual(AnyNetSchema.parse(JSON.parse(JSON.stringify(plain))), plain);
});
