import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, loadNetwork, saveNetwork } from '../src/checkpoint';
import { extractWeightsFor } from '../src/nn/network';
import {
  CHECK_DENSE_SPACE,
  DenseNetError,
  buildDenseModel,
  denseDepth,
  denseParamCount,
  denseShapes,
  initDenseWeights,
  isDenseNotation,
  parseDenseNotation,
  randomDenseNet,
  randomizeDenseBatchNorm,
  standardDenseNetBC,
  toDenseNotation,
  validateDenseWeights,
} from '../src/densenet';
import { randomBatch } from '../src/transform/random';
import { Rng } from '../src/util/rng';
import { runEasInProcess } from './helpers/cli';
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
  assert.equal(await saveNetwork(dir, net, weights, { note: 'x' }), true);
  assert.equal(await saveNetwork(dir, net, weights), false, 'never overwrites');
  const loaded = loadNetwork(dir);
  assert.equal(loaded.space.kind, 'densenet');
  assert.deepEqual(loaded.arch, net);
  assert.deepEqual(loaded.meta, { note: 'x' });
  validateDenseWeights(net, loaded.weights);
  const x = randomBatch(rng, [28, 28, 1], 4);
  await assertNoLeak(async () => {
    const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bin = fs.readFileSync(path.join(dir, modelJson.weightsManifest[0].paths[0]));
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    const plain = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData }));
    const ours = buildDenseModel(net, loaded.weights);
    const original = buildDenseModel(net, weights);
    const [d1, d2] = tf.tidy(() => {
      const a = original.predict(x) as tf.Tensor;
      return [tf.max(tf.abs(tf.sub(plain.predict(x) as tf.Tensor, a))).dataSync()[0], tf.max(tf.abs(tf.sub(ours.predict(x) as tf.Tensor, a))).dataSync()[0]];
    });
    assert.equal(d1, 0);
    assert.equal(d2, 0);
    // Weights read back out of a model are the ones put in.
    assert.deepEqual(extractWeightsFor(ours, loaded.space.weightSpecs(net)), loaded.weights);
    plain.dispose();
    ours.dispose();
    original.dispose();
  });
  x.dispose();
  // Corruption is reported with the file.
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(8));
  assert.throws(() => loadNetwork(dir), (e: unknown) => e instanceof CheckpointError && e.file === path.join(dir, 'weights.bin') && /bytes but the manifest/.test(e.message));
  fs.writeFileSync(path.join(dir, 'arch.json'), JSON.stringify({ ...net, blocks: [] }));
  assert.throws(() => loadNetwork(dir), (e: unknown) => e instanceof CheckpointError && e.file === path.join(dir, 'arch.json') && /blocks/.test(e.message));
  fs.rmSync(root, { recursive: true });
});

test('eas check-transform --space densenet --json prints {"trials":N,"maxAbsDiff":x}', async () => {
  const run = (args: string[]) => runEasInProcess(['check-transform', ...args]);
  const ok = await run(['--space', 'densenet', '--trials', '4', '--seed', '3', '--json']);
  assert.equal(ok.code, 0);
  const parsed = JSON.parse(ok.lines[0]);
  assert.deepEqual(Object.keys(parsed), ['trials', 'maxAbsDiff']);
  assert.ok(parsed.maxAbsDiff > 0 && parsed.maxAbsDiff <= 1e-4);
  const strict = await run(['--space', 'densenet', '--trials', '4', '--seed', '3', '--json', '--tolerance', '1e-12']);
  assert.equal(strict.code, 1);
  assert.deepEqual(JSON.parse(strict.lines[0]), parsed, 'same seed, same result');
});

test('one contract for either space: the space of a stored network gives its notation, key, parameters and schema', async () => {
  const { AnyNetSchema, spaceOfNet } = await import('../src/space');
  const { parseNotation, paramCount } = await import('../src/arch');
  const plain = parseNotation('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [28, 28, 1]);
  const dense = parseDenseNotation('C(8,3), D(4*2), SM(10)', [28, 28, 1]);
  assert.equal(spaceOfNet(plain).kind, 'plain');
  assert.equal(spaceOfNet(dense).kind, 'densenet');
  assert.equal(spaceOfNet(plain).notation(plain), 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)');
  assert.equal(spaceOfNet(dense).notation(dense), 'C(8,3), D(4*2), SM(10)');
  assert.equal(spaceOfNet(plain).params(plain), paramCount(plain));
  assert.equal(spaceOfNet(dense).params(dense), denseParamCount(dense));
  assert.notEqual(spaceOfNet(dense).key(dense), spaceOfNet(dense).key(parseDenseNotation('C(8,3), D(4,6), SM(10)', [28, 28, 1])));
  assert.deepEqual(AnyNetSchema.parse(JSON.parse(JSON.stringify(dense))), dense);
  assert.deepEqual(AnyNetSchema.parse(JSON.parse(JSON.stringify(plain))), plain);
});
