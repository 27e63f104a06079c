import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ControllerCheckpointSchema, type RlController, type Sample, controllerFromCheckpoint, createController } from '../src/controller';
import { ControllerConfigSchema } from '../src/controller/config';
import type { DenseAction } from '../src/densenet/actions';
import { parseDenseNotation, toDenseNotation } from '../src/densenet/notation';
import type { DenseNet } from '../src/densenet/schema';

const searchSpace = { kind: 'densenet' as const, growthRates: [12, 16, 20, 24], maxLayersPerBlock: 6 };
const config = ControllerConfigSchema.parse({}); // the paper's Adam 2e-3
const start = parseDenseNotation('C(16,3), D(12*2), T(20), D(12*2), SM(10)', [28, 28, 1]);
const steps = { widerSteps: 2, deeperSteps: 2 };
const dense = (samples: Sample[]) => samples as Sample<DenseNet, DenseAction>[];

test('the RL policy samples valid DenseNets in the DenseNet space, the same for the same seed', async () => {
  await tf.setBackend('cpu');
  const a = createController('rl', config, searchSpace, 3);
  const b = createController('rl', config, searchSpace, 3);
  try {
    assert.equal(a.space.kind, 'densenet');
    assert.equal(a.space.kernelChoices, 0);
    assert.ok(!Object.keys(a.weights()).some((k) => k.startsWith('deeper.kernelSize')), 'no kernel head where the space has no kernel choice');
    const sa = dense(a.sample(start, 6, 11, steps));
    const sb = dense(b.sample(start, 6, 11, steps));
    assert.deepEqual(sa.map((s) => toDenseNotation(s.net)), sb.map((s) => toDenseNotation(s.net)));
    for (const s of sa) {
      // replaying the actions on the start net gives the sampled net: every action was valid where it was taken
      let net: DenseNet = start;
      s.decisions.forEach((d, k) => {
        assert.deepEqual(d.tokens, a.space.view(net).tokens, 'each decision records the tokens of the net it was taken on');
        if (d.type === 'deeper') assert.deepEqual([d.kernelMask, d.kernelIndex], [null, null], 'no kernel choice in DenseNet blocks');
        net = a.space.apply(net, s.actions[k]) as DenseNet;
      });
      assert.equal(toDenseNotation(net), toDenseNotation(s.net));
      assert.equal(s.decisions.length, steps.widerSteps + steps.deeperSteps);
      assert.ok(s.net.blocks.every((blk) => blk.layers.every((l) => searchSpace.growthRates.includes(l.growth))));
    }
    assert.ok(new Set(sa.map((s) => toDenseNotation(s.net))).size > 1, 'a fresh policy samples different networks');
    // A plain network is not a start net of this space.
    assert.throws(() => a.sample({ input: [28, 28, 1], layers: [], classes: 10 }, 1, 0, steps), /start network is not valid in the search space: it is not a densenet network/);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('REINFORCE raises the log-probability of the rewarded DenseNet; the checkpoint round-trips; no tensors leak', async () => {
  await tf.setBackend('cpu');
  const c = createController('rl', config, searchSpace, 5);
  try {
    const before = tf.memory().numTensors;
    const samples = c.sample(start, 4, 21, steps);
    const lp0 = c.logProb(samples[0]);
    for (let k = 0; k < 5; k++) c.update(samples, [0.9, 0.1, 0.1, 0.1]);
    const lp1 = c.logProb(samples[0]);
    assert.ok(lp1 > lp0, `log π(rewarded) ${lp0} → ${lp1}`);
    assert.equal(tf.memory().numTensors, before, 'sampling and updating free their tensors');

    const ckpt = ControllerCheckpointSchema.parse(JSON.parse(JSON.stringify(c.toCheckpoint())));
    assert.equal(ckpt.kind, 'rl');
    assert.equal(ckpt.updates, 5);
    assert.deepEqual(ckpt.searchSpace, { ...searchSpace, bottleneckFactor: 4 });
    const back = controllerFromCheckpoint(ckpt) as RlController;
    try {
      assert.ok(Math.abs(back.logProb(samples[0]) - lp1) < 1e-5);
      assert.deepEqual(dense(back.sample(start, 3, 9, steps)).map((s) => toDenseNotation(s.net)), dense(c.sample(start, 3, 9, steps)).map((s) => toDenseNotation(s.net)));
    } finally {
      back.dispose();
    }
  } finally {
    c.dispose();
  }
});

test('the random controller keeps the baseline and update count in its checkpoint', () => {
  const c = createController('random', config, searchSpace, 1);
  const samples = c.sample(start, 3, 2, steps);
  const stats = c.update(samples, [0.5, 0.6, null]);
  assert.equal(stats.updates, 1);
  const ckpt = ControllerCheckpointSchema.parse(JSON.parse(JSON.stringify(c.toCheckpoint())));
  assert.equal(ckpt.kind, 'random');
  assert.equal(ckpt.searchSpace.kind, 'densenet');
  assert.equal(ckpt.baseline, stats.baseline);
  assert.equal(controllerFromCheckpoint(ckpt).update(samples, [0.5, 0.6, 0.7]).updates, 2);
});

test('eas sample samples DenseNets: a new RL policy matches the library, a checkpoint samples as its controller, bad growth rates are refused', async () => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const eas = (...args: string[]) => execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'sample', ...args], { encoding: 'utf8', env: { ...process.env, EAS_BACKEND: 'cpu' }, stdio: ['ignore', 'pipe', 'pipe'] });
  await tf.setBackend('cpu');
  const net = toDenseNotation(start);
  const lines = eas('--policy', 'new', '--net', net, '--input', '28x28x1', '--growth-rates', '12,16,20,24', '--n', '3', '--seed', '4').trim().split('\n');
  // --growth-rates sets the growth rates only: the rest of the space takes its defaults.
  const c = createController('rl', config, { kind: 'densenet', growthRates: [12, 16, 20, 24] }, 4);
  try {
    const expected = dense(c.sample(start, 3, 4)).map((s) => toDenseNotation(s.net));
    assert.deepEqual(lines, expected);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eas-dense-cli-')), 'policy.json');
    c.save(file);
    const json = eas('--policy', file, '--net', net, '--input', '28x28x1', '--n', '2', '--seed', '4', '--json').trim().split('\n').map((l) => JSON.parse(l) as { notation: string });
    assert.deepEqual(json.map((j) => j.notation), expected.slice(0, 2));
    assert.throws(() => eas('--policy', file, '--controller', 'random', '--net', net, '--input', '28x28x1'), /does not match the checkpoint/);
    assert.throws(() => eas('--policy', file, '--net', 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)'), /not written in the notation of the policy's search space \(densenet\)/);
  } finally {
    c.dispose();
  }
  assert.throws(() => eas('--policy', 'new', '--net', net, '--input', '28x28x1', '--growth-rates', '12,8'), /--growth-rates must be strictly increasing/);
  assert.throws(() => eas('--policy', 'new', '--net', 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)', '--growth-rates', '12,16'), /--growth-rates applies to DenseNet start nets only/);
});
