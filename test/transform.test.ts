import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { type Action, ArchError, DEFAULT_SPACE, TABLE1_START, type InputShape, paramCount, toNotation, widenable } from '../src/arch';
import { DEFAULT_BN_EPSILON, type Weights, cloneWeights, validateWeights } from '../src/nn';
import {
  TransformError,
  activationMoments,
  applyActions,
  randomDeeperAction,
  randomWiderAction,
  runTransformChecks,
  verifyPreservation,
} from '../src/transform';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';
import { runEasInProcess } from './helpers/cli';
import { batch, net, weightsBitwiseEqual } from './helpers/nets';

before(setupBackend);

const TOL = 1e-4;
const space = DEFAULT_SPACE;

test('200 random networks × random action sequences preserve the function (max |Δlogits| ≤ 1e-4)', async () => {
  let wider = 0;
  let deeper = 0;
  let fcDeeper = 0;
  const summary = await assertNoLeak(() =>
    runTransformChecks({
      trials: 200,
      seed: 20180101,
      onTrial: (r) => {
        assert.ok(r.actions.length > 0, `trial ${r.trial} has actions`);
        assert.ok(r.maxAbsDiff <= TOL, `trial ${r.trial}: ${r.maxAbsDiff} on ${r.arch} with ${JSON.stringify(r.actions)}`);
        for (const a of r.actions) {
          if (a.type === 'wider') wider++;
          else {
            deeper++;
            if (a.kernel === undefined) fcDeeper++;
          }
        }
      },
    }),
  );
  assert.equal(summary.trials, 200);
  assert.ok(summary.maxAbsDiff <= TOL);
  // The generator really exercises both operations, including identity fc layers.
  assert.ok(wider > 100 && deeper > 100 && fcDeeper > 10, `wider ${wider}, deeper ${deeper}, fc deeper ${fcDeeper}`);
});

test('verifyPreservation catches a transformation that is not function-preserving', () => {
  const parent = net('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [8, 8, 1]);
  const x = batch([8, 8, 1]);
  const child = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L0'] }], { space, rng: Rng.fromSeed(1), batch: x });
  assert.ok(verifyPreservation(parent, child, x) <= TOL);
  // Undo Eq. 3's division: replicated channels are then counted twice by the fc above.
  const broken = cloneWeights(child.weights);
  const k = broken['L2/kernel'];
  for (let i = 0; i < k.data.length; i++) if (i % (32 * 64) >= 16 * 64) k.data[i] *= 2;
  assert.ok(verifyPreservation(parent, { arch: child.arch, weights: broken }, x) > 1e-2);
  x.dispose();
});

/** The paper's search: 4 Net2Wider steps (random subsets of the widenable layers) then 5 Net2Deeper steps. */
function paperSequence(input: InputShape, seed: number): void {
  const parent = net(TABLE1_START, input, seed);
  const actionRng = Rng.fromSeed(seed + 1000);
  const rng = Rng.fromSeed(seed);
  const actions: Action[] = [];
  let arch = parent.arch;
  const x = batch(input, 4, seed);
  let current = parent;
  for (let step = 0; step < 9; step++) {
    const action = step < 4 ? randomWiderAction(arch, space, actionRng) : randomDeeperAction(arch, space, actionRng);
    assert.ok(action);
    actions.push(action);
    current = applyActions(current.arch, current.weights, [action], { space, rng, batch: x });
    arch = current.arch;
  }
  const diff = verifyPreservation(parent, current, x);
  assert.ok(diff <= TOL, `${toNotation(current.arch)}: ${diff}`);
  // The same sequence in one call gives the same child (same rng stream): every weight bit for bit, except the inserted
  // BatchNorms' statistics, which one call maps from the parent's forward pass (MomentTracker) and step-by-step calls
  // read from a pass through each step's widened network: equal up to the float rounding of the split sums.
  const once = applyActions(parent.arch, parent.weights, actions, { space, rng: Rng.fromSeed(seed), batch: x });
  assert.equal(toNotation(once.arch), toNotation(current.arch));
  const inserted = new Set(once.arch.layers.filter((l) => !parent.arch.layers.some((p) => p.id === l.id)).map((l) => `${l.id}/bn/`));
  const isStat = (name: string) => [...inserted].some((p) => name.startsWith(p));
  const keep = (w: Weights) => Object.fromEntries(Object.entries(w).filter(([n]) => !isStat(n)));
  assert.equal(inserted.size, 5);
  assert.ok(weightsBitwiseEqual(keep(once.weights), keep(current.weights)));
  for (const name of Object.keys(once.weights).filter(isStat)) {
    const a = once.weights[name].data;
    const b = current.weights[name].data;
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-4 * Math.max(1, Math.abs(v)), `${name}[${i}]: ${v} vs ${b[i]}`));
  }
  x.dispose();
}

test('Table 1 net on 32×32×3: 4 wider then 5 deeper steps preserve the function', async () => {
  await assertNoLeak(() => {
    paperSequence([32, 32, 3], 11);
    paperSequence([32, 32, 3], 12);
  });
});

test('Table 1 net on 28×28×1: 4 wider then 5 deeper steps preserve the function', async () => {
  await assertNoLeak(() => {
    paperSequence([28, 28, 1], 13);
    paperSequence([28, 28, 1], 14);
  });
});

test("Net2Deeper's statistics mapped from the parent's one pass equal each step's own pass (wider and deeper interleaved, fc on a 2×2 flatten)", async () => {
  // Step-by-step calls read each step's statistics from a forward pass of that step's network; one call maps the
  // parent's moments through the remappings (MomentTracker). Without noise the two must agree up to float rounding, the
  // rest of the weights bit for bit. Interleaving puts wider steps on layers inserted earlier, and the 4×4 input leaves a
  // 2×2 map for the fc block (flattened units (h·W + w)·C + c remapped per channel).
  let fcOnSpatial = 0;
  let wideAfterDeep = 0;
  await assertNoLeak(() => {
    for (let trial = 0; trial < 24; trial++) {
      const input: InputShape = trial % 2 ? [4, 4, 1] : [8, 8, 3];
      const parent = net(trial % 2 ? 'C(16,3,1), C(16,3,1), P(2,2,MAX), FC(64), SM(10)' : 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,AVG), FC(128), FC(64), SM(10)', input, 100 + trial);
      const x = batch(input, 6, trial);
      const actionRng = Rng.fromSeed(500 + trial);
      const rng = Rng.fromSeed(trial);
      const opts = { space, rng, batch: x, wider: { split: 'random' as const } };
      let current = parent;
      let deepened = false;
      const actions: Action[] = [];
      for (let step = 0; step < 6; step++) {
        const action = actionRng.float() < 0.5 ? randomWiderAction(current.arch, space, actionRng) : randomDeeperAction(current.arch, space, actionRng);
        if (!action) continue;
        if (action.type === 'deeper' && action.kernel === undefined && action.position === 0) fcOnSpatial++;
        if (action.type === 'wider' && deepened) wideAfterDeep++;
        if (action.type === 'deeper') deepened = true;
        actions.push(action);
        current = applyActions(current.arch, current.weights, [action], opts);
      }
      const once = applyActions(parent.arch, parent.weights, actions, { ...opts, rng: Rng.fromSeed(trial) });
      assert.equal(toNotation(once.arch), toNotation(current.arch));
      for (const [name, a] of Object.entries(once.weights)) {
        const b = current.weights[name].data;
        assert.equal(a.data.length, b.length, name);
        a.data.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-4 * Math.max(1, Math.abs(v)), `trial ${trial} ${name}[${i}]: ${v} vs ${b[i]}`));
      }
      assert.ok(verifyPreservation(parent, once, x) <= TOL);
      x.dispose();
    }
  });
  assert.ok(fcOnSpatial > 3 && wideAfterDeep > 3, `fc on the flatten ${fcOnSpatial}, wider after deeper ${wideAfterDeep}`);
});

test('widened parameter counts match a hand count', () => {
  const parent = net('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [8, 8, 1]);
  const x = batch([8, 8, 1]);
  const child = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L0', 'L2'] }], { space, rng: Rng.fromSeed(2), batch: x });
  // C(32,3,1) on 8×8×1: 3·3·1·32 + 2·32 = 352; FC(128) on 4·4·32 = 512: 512·128 + 2·128 = 65,792; SM(10): 128·10 + 10 = 1,290.
  const byHand = 352 + 65792 + 1290;
  assert.equal(paramCount(child.arch), byHand);
  const trainable = Object.entries(child.weights)
    .filter(([name]) => !name.includes('moving_'))
    .reduce((s, [, w]) => s + w.data.length, 0);
  assert.equal(trainable, byHand);
  assert.deepEqual(child.weights['L0/kernel'].shape, [3, 3, 1, 32]);
  assert.deepEqual(child.weights['L2/kernel'].shape, [512, 128]);
  assert.deepEqual(child.weights['classifier/kernel'].shape, [128, 10]);
  assert.ok(verifyPreservation(parent, child, x) <= TOL);
  x.dispose();
});

/** Recover G by matching kernel columns (random weights make columns distinct). */
function recoverRemap(oldK: Float32Array, newK: Float32Array, oldW: number, newW: number): number[] {
  const outer = oldK.length / oldW;
  const col = (d: Float32Array, w: number, j: number) => Array.from({ length: outer }, (_, o) => d[o * w + j]).join(',');
  const cols = Array.from({ length: oldW }, (_, u) => col(oldK, oldW, u));
  return Array.from({ length: newW }, (_, j) => cols.indexOf(col(newK, newW, j)));
}

test('Net2Wider follows Eq. 1–3 through a pool and the flatten (conv → fc), per channel', () => {
  const parent = net('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [8, 8, 1], 21);
  const child = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L0'] }], { space, rng: Rng.fromSeed(3) });
  const g = recoverRemap(parent.weights['L0/kernel'].data, child.weights['L0/kernel'].data, 16, 32);
  assert.deepEqual(g.slice(0, 16), [...Array(16).keys()], 'first f entries are the identity');
  assert.ok(g.every((u) => u >= 0 && u < 16), 'every new filter copies an old one');
  for (const p of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
    const oldP = parent.weights[`L0/bn/${p}`].data;
    child.weights[`L0/bn/${p}`].data.forEach((v, j) => assert.equal(v, oldP[g[j]], `${p}[${j}] copied from ${g[j]}`));
  }
  const count = (u: number) => g.filter((v) => v === u).length;
  const oldFc = parent.weights['L2/kernel'].data;
  const newFc = child.weights['L2/kernel'].data;
  // fc input index (h·W + w)·C + c over the 4×4 pooled map: each position's channel block is remapped.
  for (let pos = 0; pos < 16; pos++) {
    for (let j = 0; j < 32; j++) {
      for (let k = 0; k < 64; k += 7) {
        const want = Math.fround(oldFc[(pos * 16 + g[j]) * 64 + k] * Math.fround(1 / count(g[j])));
        assert.equal(newFc[(pos * 32 + j) * 64 + k], want);
      }
    }
  }
  assert.ok(weightsBitwiseEqual({ b: child.weights['classifier/kernel'] }, { b: parent.weights['classifier/kernel'] }));
});

test('Net2Wider: same seed → identical weights; another seed → another remapping; inputs untouched', () => {
  const parent = net('C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), FC(64), FC(64), SM(10)', [8, 8, 3], 5);
  const snapshot = cloneWeights(parent.weights);
  const action: Action = { type: 'wider', layers: ['L0', 'L2', 'L4', 'L5'] };
  const a = applyActions(parent.arch, parent.weights, [action], { space, rng: Rng.fromSeed(42) });
  const b = applyActions(parent.arch, parent.weights, [action], { space, rng: Rng.fromSeed(42) });
  const c = applyActions(parent.arch, parent.weights, [action], { space, rng: Rng.fromSeed(43) });
  assert.ok(weightsBitwiseEqual(a.weights, b.weights));
  assert.ok(!weightsBitwiseEqual(a.weights, c.weights));
  assert.ok(weightsBitwiseEqual(parent.weights, snapshot), 'applyActions does not modify its input');
  assert.equal(toNotation(a.arch), 'C(32,3,1), P(2,2,MAX), C(64,3,1), P(2,2,MAX), FC(128), FC(128), SM(10)');
  validateWeights(a.arch, a.weights);
});

test("split: 'random' is still exactly function-preserving and breaks the replicas' symmetry; noise perturbs a little", () => {
  const parent = net('C(16,3,1), P(2,2,MAX), C(16,3,1), P(2,2,AVG), FC(64), SM(10)', [8, 8, 1], 6);
  const x = batch([8, 8, 1]);
  const equal = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L0', 'L4'] }], { space, rng: Rng.fromSeed(1) });
  const random = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L0', 'L4'] }], { space, rng: Rng.fromSeed(1), wider: { split: 'random' } });
  assert.ok(verifyPreservation(parent, random, x) <= TOL);
  // Outgoing weights of the L4 replicas (classifier rows): each group sums to the parent's row, but not equally split.
  const g = recoverRemap(parent.weights['L4/kernel'].data, random.weights['L4/kernel'].data, 64, 128);
  const oldC = parent.weights['classifier/kernel'].data;
  const newC = random.weights['classifier/kernel'].data;
  const eqC = equal.weights['classifier/kernel'].data;
  const gEq = recoverRemap(parent.weights['L4/kernel'].data, equal.weights['L4/kernel'].data, 64, 128);
  let unequal = 0;
  for (let u = 0; u < 64; u++) {
    const group = g.flatMap((v, j) => (v === u ? [j] : []));
    for (let k = 0; k < 10; k++) {
      const sum = group.reduce((s, j) => s + newC[j * 10 + k], 0);
      assert.ok(Math.abs(sum - oldC[u * 10 + k]) <= 1e-6 * (1 + Math.abs(oldC[u * 10 + k])));
      if (group.length > 1 && newC[group[0] * 10 + k] !== newC[group[1] * 10 + k]) unequal++;
    }
    // (the random split draws from the rng too, so the equal run has its own remapping)
    const eqGroup = gEq.flatMap((v, j) => (v === u ? [j] : []));
    for (let k = 0; k < 10 && eqGroup.length > 1; k++) assert.equal(eqC[eqGroup[0] * 10 + k], eqC[eqGroup[1] * 10 + k], 'equal split gives identical replicas');
  }
  assert.ok(unequal > 0);
  const noisy = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L0'] }], { space, rng: Rng.fromSeed(1), wider: { noise: 0.01 } });
  const d = verifyPreservation(parent, noisy, x);
  assert.ok(d > 1e-6 && d < 1, `noise changes the function slightly (${d})`);
  x.dispose();
});

test('Net2Deeper: identity kernel and a BatchNorm set from the batch statistics of its input', () => {
  const parent = net('C(16,3,1), P(2,2,MAX), C(32,3,1), P(4,4,AVG), FC(64), SM(10)', [8, 8, 1], 9);
  const x = batch([8, 8, 1], 6);
  const child = applyActions(parent.arch, parent.weights, [{ type: 'deeper', block: 1, position: 0, kernel: 5 }], { space, rng: Rng.fromSeed(1), batch: x });
  assert.equal(toNotation(child.arch), 'C(16,3,1), P(2,2,MAX), C(32,3,1), C(32,5,1), P(4,4,AVG), FC(64), SM(10)');
  const id = child.arch.layers[3].id;
  const k = child.weights[`${id}/kernel`];
  assert.deepEqual(k.shape, [5, 5, 32, 32]);
  const ones = Array.from(k.data.keys()).filter((i) => k.data[i] !== 0);
  assert.deepEqual(ones, Array.from({ length: 32 }, (_, c) => ((2 * 5 + 2) * 32 + c) * 32 + c));
  const { mean, variance } = activationMoments(parent.arch, parent.weights, 2, false, x, DEFAULT_BN_EPSILON);
  assert.deepEqual(child.weights[`${id}/bn/moving_mean`].data, mean);
  assert.deepEqual(child.weights[`${id}/bn/beta`].data, mean);
  assert.deepEqual(child.weights[`${id}/bn/moving_variance`].data, variance);
  child.weights[`${id}/bn/gamma`].data.forEach((gamma, c) => assert.equal(gamma, Math.fround(Math.sqrt(variance[c] + DEFAULT_BN_EPSILON))));
  assert.ok(mean.some((m) => m > 0) && variance.some((v) => v > 0), 'statistics come from real activations');
  assert.ok(verifyPreservation(parent, child, x) <= TOL);
  // fc identity after the global pool: 32 units would be outside the space, 64 after widening is inside.
  const wide = applyActions(parent.arch, parent.weights, [{ type: 'wider', layers: ['L2'] }, { type: 'deeper', block: 2, position: 0 }], { space, rng: Rng.fromSeed(1), batch: x });
  assert.equal(toNotation(wide.arch), 'C(16,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(64), FC(64), SM(10)');
  const fcK = wide.weights[`${wide.arch.layers[4].id}/kernel`];
  assert.deepEqual(fcK.shape, [64, 64]);
  assert.ok(fcK.data.every((v, i) => v === (Math.floor(i / 64) === i % 64 ? 1 : 0)));
  assert.ok(verifyPreservation(parent, wide, x) <= TOL);
  x.dispose();
});

test('invalid requests fail with clear messages', () => {
  const maxed = net('C(512,3,1), P(2,2,MAX), FC(64), SM(10)', [4, 4, 1]);
  assert.deepEqual(widenable(maxed.arch, space), [false, false, true]);
  assert.throws(
    () => applyActions(maxed.arch, maxed.weights, [{ type: 'wider', layers: ['L2'] }, { type: 'wider', layers: ['L0'] }], { space, rng: Rng.fromSeed(1) }),
    (e: unknown) =>
      e instanceof TransformError &&
      e.actionIndex === 1 &&
      /already at the space's maximum width 512/.test(e.message) &&
      e.cause instanceof ArchError &&
      e.cause.rule === 'wider-max',
  );
  const small = net('C(16,3,1), P(2,2,MAX), SM(10)', [8, 8, 1]);
  assert.throws(() => applyActions(small.arch, small.weights, [{ type: 'deeper', block: 0, position: 0, kernel: 3 }], { space, rng: Rng.fromSeed(1) }), /action 0: deeper .*needs a batch of real images/);
  const wrong = batch([8, 8, 3], 2);
  assert.throws(() => applyActions(small.arch, small.weights, [{ type: 'deeper', block: 0, position: 0, kernel: 3 }], { space, rng: Rng.fromSeed(1), batch: wrong }), /batch: expected shape \[n, 8, 8, 1\].*got \[2, 8, 8, 3\]/);
  wrong.dispose();
  assert.throws(() => applyActions(small.arch, small.weights, [{ type: 'wider', layers: ['L7'] }], { space, rng: Rng.fromSeed(1) }), /action 0: wider \[L7\] failed: no layer with id "L7"/);
  assert.throws(() => applyActions(small.arch, small.weights, [{ type: 'deeper', block: 0, position: 0, kernel: 2 }], { space, rng: Rng.fromSeed(1) }), /kernel size from \{1, 3, 5\}/);
  assert.throws(() => applyActions(small.arch, small.weights, [{ type: 'sideways' } as unknown as Action], { space, rng: Rng.fromSeed(1) }), /action 0: not a valid action/);
});

test('transform and verify leave no tensors behind', async () => {
  const parent = net('C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(10)', [8, 8, 1], 2);
  const x = batch([8, 8, 1]);
  await assertNoLeak(() => {
    const child = applyActions(
      parent.arch,
      parent.weights,
      [{ type: 'wider', layers: ['L0', 'L2', 'L4'] }, { type: 'deeper', block: 0, position: 0, kernel: 3 }, { type: 'deeper', block: 2, position: 1 }],
      { space, rng: Rng.fromSeed(1), batch: x },
    );
    assert.ok(verifyPreservation(parent, child, x) <= TOL);
  });
  x.dispose();
});

test('float32 inputs of other dtypes are rejected before any model is built', () => {
  const small = net('C(16,3,1), P(2,2,MAX), SM(10)', [2, 2, 1]);
  const ints = tf.zeros([1, 2, 2, 1], 'int32');
  assert.throws(() => verifyPreservation(small, small, ints), /dtype float32/);
  ints.dispose();
});

test('eas check-transform --json prints exactly {"trials":N,"maxAbsDiff":x} and exits 1 above the tolerance', async () => {
  const run = (args: string[]) => runEasInProcess(['check-transform', ...args]);
  const ok = await run(['--trials', '3', '--seed', '5', '--json']);
  assert.equal(ok.code, 0);
  assert.equal(ok.lines.length, 1);
  const parsed = JSON.parse(ok.lines[0]);
  assert.deepEqual(Object.keys(parsed), ['trials', 'maxAbsDiff']);
  assert.equal(parsed.trials, 3);
  assert.ok(parsed.maxAbsDiff > 0 && parsed.maxAbsDiff <= TOL);
  const strict = await run(['--trials', '3', '--seed', '5', '--json', '--tolerance', '1e-12']);
  assert.equal(strict.code, 1);
  assert.deepEqual(JSON.parse(strict.lines[0]), parsed, 'same seed, same result');
});
