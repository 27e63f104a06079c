import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Action, type Arch, DEFAULT_SPACE, parseNotation, toNotation } from '../src/arch';
import { ControllerCheckpointSchema, type RlController, controllerFromCheckpoint, createController, loadController, readCheckpoint, sampleSchemaFor } from '../src/controller';
import { parseDenseNotation } from '../src/densenet/notation';
import { setupBackend } from './helpers/tf';

/**
 * The one controller against numbers captured from the code it replaced (the plain stack of src/controller and the
 * DenseNet copy in src/densenet/{rl,search,controller}.ts, on the wasm backend): the same seed gives the same initial
 * weights, samples, log-probabilities and update, and the files those controllers wrote (test/fixtures/controller/)
 * still load. Float results are compared exactly on the backend they were captured on, within 1e-4 elsewhere.
 */
const FIXTURES = path.join(__dirname, 'fixtures', 'controller');
const fixture = (name: string): unknown => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));
const SMALL = 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(64), SM(10)';
const DENSE_START = 'C(16,3), D(12*2), T(20), D(12*2), SM(10)';
const DENSE_SPACE = { kind: 'densenet' as const, growthRates: [12, 16, 20, 24], maxLayersPerBlock: 6 };
const DENSE_STEPS = { widerSteps: 2, deeperSteps: 2 };

const digest = (w: Record<string, Float32Array>): string => {
  const h = createHash('sha256');
  for (const k of Object.keys(w).sort()) {
    h.update(k);
    h.update(Buffer.from(w[k].buffer, w[k].byteOffset, w[k].byteLength));
  }
  return h.digest('hex');
};
const exact = () => tf.getBackend() === 'wasm';
function close(actual: readonly number[], expected: readonly number[], what: string): void {
  if (exact()) return assert.deepEqual(actual, expected, what);
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= 1e-4 * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${a} vs ${expected[i]}`));
}

// Captured from the previous code (plain RlController, seed 7; start SMALL; sample(start, 4, 42)).
const PLAIN = {
  initDigest: "d6fccb9a2848c6972a9922089b5d99e1f14499de417e84216318773a087ad023",
  notations: ["C(32,3,1), C(32,5,1), P(2,2,MAX), C(96,3,1), C(96,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(256), FC(256), FC(128), FC(128), SM(10)", "C(32,3,1), C(32,3,1), C(32,5,1), P(2,2,MAX), C(128,3,1), P(2,2,MAX), C(128,3,1), C(128,3,1), P(4,4,AVG), FC(512), FC(512), FC(256), SM(10)", "C(96,3,1), C(96,1,1), C(96,3,1), P(2,2,MAX), C(96,3,1), C(96,1,1), C(96,3,1), P(2,2,MAX), C(128,3,1), C(128,1,1), P(4,4,AVG), FC(256), SM(10)", "C(32,3,1), C(32,5,1), C(32,1,1), P(2,2,MAX), C(64,3,1), C(64,3,1), P(2,2,MAX), C(128,3,1), C(128,1,1), P(4,4,AVG), FC(64), FC(64), SM(10)"],
  actions0: [{"type": "wider", "layers": ["L2"]}, {"type": "wider", "layers": ["L0", "L2"]}, {"type": "wider", "layers": []}, {"type": "wider", "layers": ["L6"]}, {"type": "deeper", "block": 0, "position": 0, "kernel": 5}, {"type": "deeper", "block": 3, "position": 0}, {"type": "deeper", "block": 1, "position": 0, "kernel": 3}, {"type": "deeper", "block": 3, "position": 2}, {"type": "deeper", "block": 3, "position": 0}],
  logProbs: [-23.682462692260742, -23.69182777404785, -24.094966888427734, -23.1802520751953125],
  stats: {"rewards": [6.313751514675041, 0.9999999999999999, 0.5095254494944288, 0], "advantages": [4.357932273632674, -0.9558192410423675, -1.4462937915479386, -1.9558192410423674], "meanReward": 1.9558192410423674, "baseline": 1.9558192410423674, "updates": 1, "loss": 0.09415650367736816, "entropy": 0.8104109168052673},
  logProbsAfter: [-22.38974952697754, -23.74736976623535, -25.059261322021484, -23.336843490600586],
  updatedDigest: "fa2115be169169466842c782a388384b2b2c473d8e8ac0725852609dc3229a3c",
  notationsAfter: ["C(32,3,1), C(32,1,1), C(32,1,1), P(2,2,MAX), C(64,3,1), C(64,3,1), P(2,2,MAX), C(128,3,1), C(128,5,1), P(4,4,AVG), FC(384), FC(384), SM(10)", "C(32,3,1), C(32,1,1), C(32,5,1), P(2,2,MAX), C(96,3,1), C(96,3,1), C(96,5,1), P(2,2,MAX), C(96,3,1), P(4,4,AVG), FC(128), FC(128), SM(10)", "C(64,3,1), C(64,3,1), P(2,2,MAX), C(128,3,1), C(128,3,1), C(128,1,1), P(2,2,MAX), C(128,3,1), C(128,3,1), P(4,4,AVG), FC(384), FC(384), SM(10)"],
  randomNotations: ["C(32,3,1), C(32,5,1), P(2,2,MAX), C(96,3,1), C(96,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(256), FC(256), FC(128), FC(128), SM(10)", "C(32,3,1), C(32,3,1), C(32,5,1), P(2,2,MAX), C(128,3,1), P(2,2,MAX), C(128,3,1), C(128,3,1), P(4,4,AVG), FC(512), FC(512), FC(256), SM(10)", "C(96,3,1), C(96,1,1), C(96,1,1), C(96,3,1), P(2,2,MAX), C(96,3,1), C(96,5,1), P(2,2,MAX), C(128,3,1), C(128,1,1), P(4,4,AVG), FC(256), SM(10)"],
};
// The DenseNet RL policy (seed 3, 2 wider + 2 deeper steps, sample(start, 4, 11)); the networks themselves changed with
// the authors' growth widening, the decisions did not.
const DENSE = {
  actions: [[{"type": "wider", "layers": ["L1"]}, {"type": "wider", "layers": ["L3"]}, {"type": "deeper", "block": 0, "position": 0}, {"type": "deeper", "block": 1, "position": 0}], [{"type": "wider", "layers": ["L0", "L2"]}, {"type": "wider", "layers": ["L1", "L2", "L3"]}, {"type": "deeper", "block": 0, "position": 1}, {"type": "deeper", "block": 0, "position": 0}], [{"type": "wider", "layers": ["L0", "L1", "L3"]}, {"type": "wider", "layers": ["L0"]}, {"type": "deeper", "block": 0, "position": 1}, {"type": "deeper", "block": 1, "position": 0}], [{"type": "wider", "layers": ["L2"]}, {"type": "wider", "layers": []}, {"type": "deeper", "block": 1, "position": 0}, {"type": "deeper", "block": 0, "position": 0}]],
  logProbs: [-7.863656520843506, -8.341032981872559, -8.510229110717773, -7.542170524597168],
  stats: {"rewards": [6.313751514675041, 0.15838444032453627, 0.9999999999999999, 0.3249196962329063], "advantages": [4.36448760186692, -1.7908794724835848, -0.9492639128081212, -1.6243442165752149], "meanReward": 1.949263912808121, "baseline": 1.949263912808121, "updates": 1, "loss": -0.23662835359573364, "entropy": 0.6880142092704773},
  logProbsAfter: [-7.162749290466309, -8.982267379760742, -8.638559341430664, -6.676253318786621],
};
// The old files: tiny policies (embedding 2, encoder 2, decoder 4, heads 4 × 4, 2 + 2 steps) after one update.
const FILES = {
  plainNotations: ["C(32,3,1), C(32,5,1), P(2,2,MAX), C(64,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(64), FC(64), SM(10)", "C(16,3,1), C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(256), FC(64), SM(10)", "C(32,3,1), C(32,3,1), C(32,3,1), P(2,2,MAX), C(96,3,1), P(2,2,MAX), C(96,3,1), P(4,4,AVG), FC(256), SM(10)"],
  plainLogProb: -10.84598159790039,
  denseActions: [[{"type": "wider", "layers": ["L0"]}, {"type": "wider", "layers": ["L1"]}, {"type": "deeper", "block": 0, "position": 1}, {"type": "deeper", "block": 1, "position": 1}], [{"type": "wider", "layers": []}, {"type": "wider", "layers": ["L2"]}, {"type": "deeper", "block": 1, "position": 0}, {"type": "deeper", "block": 0, "position": 0}], [{"type": "wider", "layers": ["L1", "L3"]}, {"type": "wider", "layers": ["L0", "L1", "L2", "L3"]}, {"type": "deeper", "block": 0, "position": 0}, {"type": "deeper", "block": 1, "position": 0}]],
  denseLogProb: -8.395158767700195,
  denseRandomActions: [[{"type": "wider", "layers": []}, {"type": "wider", "layers": ["L2", "L3"]}, {"type": "deeper", "block": 0, "position": 0}, {"type": "deeper", "block": 0, "position": 0}], [{"type": "wider", "layers": ["L0", "L1", "L2"]}, {"type": "wider", "layers": ["L0"]}, {"type": "deeper", "block": 1, "position": 1}, {"type": "deeper", "block": 1, "position": 1}], [{"type": "wider", "layers": ["L0", "L3"]}, {"type": "wider", "layers": ["L1", "L2", "L3"]}, {"type": "deeper", "block": 1, "position": 0}, {"type": "deeper", "block": 1, "position": 0}]],
};

describe('the one controller reproduces the controllers it replaced', () => {
  before(setupBackend);

  it('plain RL, seed 7: initial weights, samples, log-probabilities, the update and the next samples are the old ones', () => {
    const start = parseNotation(SMALL, [32, 32, 3], DEFAULT_SPACE);
    const rl = createController('rl', {}, { kind: 'plain' }, 7) as RlController;
    try {
      assert.equal(digest(rl.weights()), PLAIN.initDigest);
      const s = rl.sample(start, 4, 42);
      assert.deepEqual(s.map((x) => toNotation(x.net as Arch)), PLAIN.notations);
      assert.deepEqual(s[0].actions, PLAIN.actions0);
      close(s.map((x) => rl.logProb(x)), PLAIN.logProbs, 'log π before');
      const stats = rl.update(s, [0.9, 0.5, 0.3, null]);
      assert.deepEqual([stats.rewards, stats.advantages, stats.baseline, stats.updates], [PLAIN.stats.rewards, PLAIN.stats.advantages, PLAIN.stats.baseline, 1]);
      close([stats.loss, stats.entropy], [PLAIN.stats.loss, PLAIN.stats.entropy], 'loss, entropy');
      close(s.map((x) => rl.logProb(x)), PLAIN.logProbsAfter, 'log π after');
      if (exact()) assert.equal(digest(rl.weights()), PLAIN.updatedDigest, 'bit-identical weights after the update');
      assert.deepEqual(rl.sample(start, 3, 43).map((x) => toNotation(x.net as Arch)), PLAIN.notationsAfter);
    } finally {
      rl.dispose();
    }
    // The random controller changed on purpose: it interleaves wider and deeper steps as the authors' random search
    // does (randomStepPlan), so its samples are not the old ones; test/controller.test.ts checks its order.
    const random = createController('random', {}, { kind: 'plain' }, 7);
    assert.notDeepEqual(random.sample(start, 3, 42).map((x) => toNotation(x.net as Arch)), PLAIN.randomNotations);
  });

  it('DenseNet RL, seed 3: the same decisions, log-probabilities and update (without the unused kernel head)', () => {
    const start = parseDenseNotation(DENSE_START, [28, 28, 1]);
    const rl = createController('rl', {}, DENSE_SPACE, 3) as RlController;
    try {
      assert.ok(!Object.keys(rl.weights()).some((k) => k.startsWith('deeper.kernelSize')), 'no kernel head in a space without kernel choices');
      const s = rl.sample(start, 4, 11, DENSE_STEPS);
      assert.deepEqual(s.map((x) => x.actions), DENSE.actions);
      close(s.map((x) => rl.logProb(x)), DENSE.logProbs, 'log π before');
      const stats = rl.update(s, [0.9, 0.1, 0.5, 0.2]);
      assert.deepEqual([stats.advantages, stats.updates], [DENSE.stats.advantages, 1]);
      close([stats.loss, stats.entropy], [DENSE.stats.loss, DENSE.stats.entropy], 'loss, entropy');
      close(s.map((x) => rl.logProb(x)), DENSE.logProbsAfter, 'log π after');
    } finally {
      rl.dispose();
    }
  });

  it('reads version-1 plain checkpoints and the old DenseNet policy files, and the samples files of both', () => {
    const plainStart = parseNotation(SMALL, [32, 32, 3], DEFAULT_SPACE);
    const denseStart = parseDenseNotation(DENSE_START, [28, 28, 1]);
    const plain = controllerFromCheckpoint(fixture('plain-v1-rl.json')) as RlController;
    const dense = loadController(path.join(FIXTURES, 'dense-v1-rl.json')) as RlController;
    try {
      assert.deepEqual(plain.searchSpace, { kind: 'plain', ...DEFAULT_SPACE });
      assert.deepEqual(plain.sample(plainStart, 3, 6).map((x) => toNotation(x.net as Arch)), FILES.plainNotations);
      const oldPlain = (fixture('plain-v1-samples.json') as unknown[]).map((x) => sampleSchemaFor(plain.space).parse(x));
      assert.deepEqual(oldPlain[0].net, (fixture('plain-v1-samples.json') as { arch: Arch }[])[0].arch);
      close([plain.logProb(oldPlain[0])], [FILES.plainLogProb], 'log π of an old plain sample');
      // An update from an old samples file (a search resumed across the change).
      assert.equal(plain.update(oldPlain, [0.5, 0.6, 0.7]).updates, 2);

      assert.equal(dense.searchSpace.kind, 'densenet');
      assert.ok(!Object.keys(dense.weights()).some((k) => k.startsWith('deeper.kernelSize')), 'the unused kernel head is dropped');
      assert.deepEqual(dense.sample(denseStart, 3, 6, DENSE_STEPS).map((x) => x.actions), FILES.denseActions);
      const oldDense = (fixture('dense-v1-samples.json') as unknown[]).map((x) => sampleSchemaFor(dense.space).parse(x));
      close([dense.logProb(oldDense[0])], [FILES.denseLogProb], 'log π of an old DenseNet sample');
      assert.equal(dense.update(oldDense, [0.5, 0.6, 0.7]).updates, 2);
      // Saved again, they are version-2 files.
      const v2 = ControllerCheckpointSchema.parse(JSON.parse(JSON.stringify(dense.toCheckpoint())));
      assert.equal(v2.version, 2);
      assert.deepEqual(v2.searchSpace, { kind: 'densenet', growthRates: [12, 16, 20, 24], bottleneckFactor: 4, maxLayersPerBlock: 6 });
    } finally {
      plain.dispose();
      dense.dispose();
    }
    const random = controllerFromCheckpoint(fixture('dense-v1-random.json'));
    assert.equal(random.kind, 'random');
    // Its steps are interleaved now (the authors' random order), the same kinds in number as the old file's plan.
    const kinds = (a: Action[]) => a.map((x) => x.type).sort();
    assert.deepEqual(random.sample(denseStart, 3, 8, DENSE_STEPS).map((x) => kinds(x.actions as Action[])), FILES.denseRandomActions.map((a) => kinds(a as Action[])));
    const plainRandom = readCheckpoint(path.join(FIXTURES, 'plain-v1-random.json'));
    assert.deepEqual([plainRandom.version, plainRandom.kind, plainRandom.searchSpace.kind, plainRandom.updates], [2, 'random', 'plain', 1]);
  });
});
