import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SPACE, parseNotation } from '../src/arch';
import { type RlController, baselineStep, controllerFromCheckpoint, createController, readCheckpoint } from '../src/controller';
import { updatePolicyTask } from '../src/activities/tasks';
import { startsStage } from '../src/workflows/steps';
import { setupBackend } from './helpers/tf';

/**
 * The controller across stages (README "The controller across stages"): the first update of a stage after the first
 * forgets the previous stage's baseline and centres its batch on its own mean, as a search's first batch is; everything
 * else of the policy (weights, Adam state, update count) goes on, and later updates are the EMA again.
 */
const SMALL = 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(64), SM(10)';
const TINY = { embeddingSize: 4, encoderUnits: 4, decoderUnits: 8, widerSteps: 1, deeperSteps: 1 };
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => sum(xs) / xs.length;
const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

describe('the baseline at a new stage', () => {
  before(setupBackend);

  it('baselineStep with no previous baseline centres the batch on its own mean (paper update)', () => {
    const cfg = { baselineDecay: 0.95, baselineUpdate: 'paper' as const };
    const rewards = [6.3, 6.9, 7.4, 8.1];
    const { baseline, advantages } = baselineStep(null, rewards, cfg as never);
    assert.equal(baseline, mean(rewards));
    assert.ok(Math.abs(sum(advantages)) < 1e-12);
    // Carried over from a stage whose rewards were lower, every advantage has one sign: what re-centring avoids.
    const carried = baselineStep(1.5, rewards, cfg as never);
    assert.ok(carried.advantages.every((a) => a > 0));
  });

  it('a stage start re-centres the baseline and keeps the weights and Adam state; the next update is the EMA again', () => {
    const start = parseNotation(SMALL, [32, 32, 3], DEFAULT_SPACE);
    const a = createController('rl', TINY, { kind: 'plain' }, 5) as RlController;
    try {
      // Stage 1: low rewards.
      const s1 = a.sample(start, 4, 1);
      a.update(s1, [0.3, 0.35, 0.4, 0.45]);
      const s1b = a.sample(start, 4, 2);
      const u2 = a.update(s1b, [0.3, 0.4, 0.35, 0.45]);
      const ckpt = a.toCheckpoint();
      // Stage 2 starts (a better start network): rewards jump.
      const s2 = a.sample(start, 4, 3);
      const acc2 = [0.8, 0.85, 0.82, 0.9];
      const b = controllerFromCheckpoint(ckpt) as RlController;
      try {
        const recentred = a.update(s2, acc2, { stageStart: true });
        assert.equal(recentred.baseline, recentred.meanReward, 'the baseline is the batch mean');
        assert.ok(Math.abs(sum(recentred.advantages)) < 1e-9, `advantages sum to 0: ${sum(recentred.advantages)}`);
        assert.ok(recentred.advantages.some((x) => x > 0) && recentred.advantages.some((x) => x < 0));
        assert.equal(recentred.updates, 3, 'the update count goes on');
        // Without the re-centring (the same policy, from the same checkpoint), the old baseline makes every advantage positive.
        const carried = b.update(s2, acc2);
        assert.ok(carried.advantages.every((x) => x > 0), 'the carried-over baseline gives one sign to all');
        near(carried.advantages[0] - recentred.advantages[0], recentred.meanReward - u2.baseline, 'the advantages differ by the baseline shift');
        // Only the baseline differs: the policy's weights and Adam state were kept (same gradient step size regime).
        const ra = a.toCheckpoint();
        const rb = b.toCheckpoint();
        assert.equal(ra.adam?.step, rb.adam?.step);
        assert.equal(ra.adam?.step, ckpt.adam!.step + 1);
      } finally {
        b.dispose();
      }
      // The next update of the stage is the EMA from the re-centred baseline.
      const s3 = a.sample(start, 4, 4);
      const acc3 = [0.84, 0.86, 0.8, 0.88];
      const before = (readBaseline(a) as number);
      const next = a.update(s3, acc3);
      const rewards = next.rewards;
      assert.deepEqual(next.advantages, rewards.map((r) => r - before));
      near(next.baseline, 0.95 * before + (1 - 0.95) * mean(rewards), 'EMA');
    } finally {
      a.dispose();
    }
  });

  it('the random controller re-centres the baseline it reports too', () => {
    const start = parseNotation(SMALL, [32, 32, 3], DEFAULT_SPACE);
    const r = createController('random', TINY, { kind: 'plain' }, 5);
    r.update(r.sample(start, 3, 1), [0.2, 0.3, 0.4]);
    const u = r.update(r.sample(start, 3, 2), [0.8, 0.9, 0.85], { stageStart: true });
    assert.equal(u.baseline, u.meanReward);
  });

  it('only the first episode of a stage after the first is a stage start (the first stage is centred anyway)', () => {
    assert.equal(startsStage({ stage: 0, episode: 0 }), false);
    assert.equal(startsStage({ stage: 0, episode: 3 }), false);
    assert.equal(startsStage({ stage: 1, episode: 0 }), true);
    assert.equal(startsStage({ stage: 1, episode: 1 }), false);
    assert.equal(startsStage({ stage: 2, episode: 0 }), true);
  });

  it('updatePolicy with stageStart: the checkpoint written has the batch mean as baseline; without it, the EMA', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-stages-'));
    const id = 'st';
    const searchSpace = { kind: 'plain' as const, ...DEFAULT_SPACE };
    const controller = { kind: 'rl' as const, ...createController('rl', TINY, searchSpace, 5).config };
    const start = parseNotation(SMALL, [32, 32, 3], DEFAULT_SPACE);
    const c = createController('rl', TINY, searchSpace, 5) as RlController;
    const samplesFile = `${id}/stage-2/episode-000/samples.json`;
    try {
      c.update(c.sample(start, 3, 1), [0.3, 0.4, 0.5]);
      fs.mkdirSync(path.join(root, id, 'policy'), { recursive: true });
      c.save(path.join(root, id, 'policy', 'policy-0001.json'));
      const samples = c.sample(start, 3, 2);
      fs.mkdirSync(path.dirname(path.join(root, samplesFile)), { recursive: true });
      fs.writeFileSync(path.join(root, samplesFile), JSON.stringify({ stage: 1, episode: 0, seed: 2, samples }));
    } finally {
      c.dispose();
    }
    const input = (output: string, stageStart: boolean) => ({
      storageRoot: 'x',
      policy: `${id}/policy/policy-0001.json`,
      samplesFile,
      accuracies: [0.8, 0.9, 0.85],
      output,
      controller,
      searchSpace,
      policySeed: 5,
      ...(stageStart ? { stageStart: true as const } : {}),
    });
    const at = await updatePolicyTask({ root, input: input(`${id}/policy/policy-0002.json`, true) });
    const plain = await updatePolicyTask({ root, input: input(`${id}/policy/policy-0002b.json`, false) });
    assert.equal(at.baseline, at.meanReward);
    assert.equal(readCheckpoint(path.join(root, at.policy)).baseline, at.meanReward);
    const previous = readCheckpoint(path.join(root, id, 'policy', 'policy-0001.json')).baseline as number;
    near(plain.baseline, 0.95 * previous + (1 - 0.95) * plain.meanReward, 'EMA without a stage start');
    const summary = JSON.parse(fs.readFileSync(path.join(root, `${at.policy}.summary.json`), 'utf8'));
    assert.equal(summary.stageStart, true);
    assert.ok(Math.abs(sum(summary.advantages)) < 1e-9);
    assert.equal(at.updates, 2);
  });
});

function readBaseline(c: RlController): number | null {
  return c.toCheckpoint().baseline;
}
