import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ControllerConfigSchema } from '../src/controller/config';
import { parseDenseNotation, toDenseNotation } from '../src/densenet/notation';
import { DenseSpaceSchema } from '../src/densenet/schema';
import { applyDenseActionToNet } from '../src/densenet/actions';
import { DensePolicySchema, createDenseController, denseControllerFromCheckpoint } from '../src/densenet/search';
import { DenseRlController } from '../src/densenet/rl';

const space = DenseSpaceSchema.parse({ growthRates: [12, 16, 20, 24], maxLayersPerBlock: 6 });
const config = ControllerConfigSchema.parse({}); // the paper's Adam 2e-3
const start = parseDenseNotation('C(16,3), D(12*2), T(20), D(12*2), SM(10)', [28, 28, 1]);
const steps = { widerSteps: 2, deeperSteps: 2 };

test('the DenseNet RL policy samples valid DenseNets, the same for the same seed', async () => {
  await tf.setBackend('cpu');
  const a = DenseRlController.create(config, space, 3);
  const b = DenseRlController.create(config, space, 3);
  try {
    const sa = a.sample(start, 6, 11, steps);
    const sb = b.sample(start, 6, 11, steps);
    assert.deepEqual(sa.map((s) => toDenseNotation(s.net)), sb.map((s) => toDenseNotation(s.net)));
    for (const s of sa) {
      // replaying the actions on the start net gives the sampled net: every action was valid where it was taken
      const replayed = s.actions.reduce((net, act) => applyDenseActionToNet(net, act, space), start);
      assert.equal(toDenseNotation(replayed), toDenseNotation(s.net));
      assert.equal(s.decisions.length, steps.widerSteps + steps.deeperSteps);
      assert.ok(s.net.blocks.every((blk) => blk.layers.every((l) => space.growthRates.includes(l.growth))));
    }
    assert.ok(new Set(sa.map((s) => toDenseNotation(s.net))).size > 1, 'a fresh policy samples different networks');
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('REINFORCE raises the log-probability of the rewarded DenseNet; the checkpoint round-trips; no tensors leak', async () => {
  await tf.setBackend('cpu');
  const c = createDenseController('rl', config, space, 5);
  try {
    const before = tf.memory().numTensors;
    const samples = c.sample(start, 4, 21, steps);
    const rl = (x: typeof c) => (x as unknown as { rl: DenseRlController }).rl;
    const lp0 = rl(c).logProb(samples[0]);
    for (let k = 0; k < 5; k++) c.update(samples, [0.9, 0.1, 0.1, 0.1]);
    const lp1 = rl(c).logProb(samples[0]);
    assert.ok(lp1 > lp0, `log π(rewarded) ${lp0} → ${lp1}`);
    assert.equal(tf.memory().numTensors, before, 'sampling and updating free their tensors');

    const ckpt = DensePolicySchema.parse(JSON.parse(JSON.stringify(c.checkpoint())));
    assert.equal(ckpt.kind, 'rl');
    assert.equal(ckpt.updates, 5);
    const back = denseControllerFromCheckpoint(ckpt);
    try {
      assert.ok(Math.abs(rl(back).logProb(samples[0]) - lp1) < 1e-5);
      assert.deepEqual(back.sample(start, 3, 9, steps).map((s) => toDenseNotation(s.net)), c.sample(start, 3, 9, steps).map((s) => toDenseNotation(s.net)));
    } finally {
      back.dispose();
    }
  } finally {
    c.dispose();
  }
});

test('the random twin keeps the baseline and update count in its checkpoint', () => {
  const c = createDenseController('random', config, space, 1);
  const samples = c.sample(start, 3, 2, steps);
  const stats = c.update(samples, [0.5, 0.6, null]);
  assert.equal(stats.updates, 1);
  const ckpt = DensePolicySchema.parse(JSON.parse(JSON.stringify(c.checkpoint())));
  assert.equal(ckpt.kind, 'random');
  assert.equal(ckpt.baseline, stats.baseline);
  assert.equal(denseControllerFromCheckpoint(ckpt).update(samples, [0.5, 0.6, 0.7]).updates, 2);
});

test('eas sample samples DenseNets: a new RL policy matches the library, a checkpoint samples as its controller, bad growth rates are refused', async () => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const eas = (...args: string[]) => execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'sample', ...args], { encoding: 'utf8', env: { ...process.env, EAS_BACKEND: 'cpu' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const net = toDenseNotation(start);
  const lines = eas('--policy', 'new', '--net', net, '--input', '28x28x1', '--growth-rates', '12,16,20,24', '--n', '3', '--seed', '4').trim().split('\n');
  const c = createDenseController('rl', config, space, 4);
  try {
    const expected = c.sample(start, 3, 4, { widerSteps: config.widerSteps, deeperSteps: config.deeperSteps }).map((s) => toDenseNotation(s.net));
    assert.deepEqual(lines, expected);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eas-dense-cli-')), 'policy.json');
    fs.writeFileSync(file, JSON.stringify(c.checkpoint()));
    const json = eas('--policy', file, '--net', net, '--input', '28x28x1', '--n', '2', '--seed', '4', '--json').trim().split('\n').map((l) => JSON.parse(l) as { notation: string });
    assert.deepEqual(json.map((j) => j.notation), expected.slice(0, 2));
    assert.throws(() => eas('--policy', file, '--controller', 'random', '--net', net, '--input', '28x28x1'), /does not match the checkpoint/);
  } finally {
    c.dispose();
  }
  assert.throws(() => eas('--policy', 'new', '--net', net, '--input', '28x28x1', '--growth-rates', '12,8'), /--growth-rates must be strictly increasing/);
});
