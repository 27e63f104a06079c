import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_SPACE, parseNotation } from '../src/arch';
import { type DatasetSplits, loadSplits } from '../src/data';
import { initWeights } from '../src/nn';
import type { Weights } from '../src/nn/weights';
import { TrainingRecipeSchema } from '../src/train/recipe';
import { trainNetwork } from '../src/train/loop';
import { type ApplyOptions, type Network, applyActions, verifyPreservation } from '../src/transform';
import { EXACT_TRANSFORM, SEARCH_TRANSFORM, runTransformChecks } from '../src/transform/check';
import { DEFAULT_TRANSFORM_OPTIONS } from '../src/transform/options';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';

/**
 * Issue 12: exact Net2Wider (equal split, no noise) gives replicas identical incoming and outgoing weights, so they get
 * identical gradients and stay copies: widening adds no capacity. These tests train widened nets with the real training
 * loop and look at the replicas' incoming weights.
 */
const SHAPE: [number, number, number] = [8, 8, 3];
const NOTATION = 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(4)';
const parentArch = parseNotation(NOTATION, SHAPE);
const recipe = TrainingRecipeSchema.parse({ learningRate: 0.05, batchSize: 32 });
let data: DatasetSplits;
let parent: Network;

before(async () => {
  await setupBackend();
  data = await loadSplits({ dataset: 'synthetic', mode: 'search', seed: 11, synthetic: { train: 384, test: 64, shape: SHAPE, classes: 4, noise: 64 } });
  // A trained parent, so its units are distinct and the gradients are not trivial.
  const out = await trainNetwork({ arch: parentArch, weights: initWeights(parentArch, Rng.fromSeed(3)), train: data.train, epochs: 1, recipe, seed: 1 });
  parent = { arch: parentArch, weights: out.weights };
});

/** Column j of a kernel whose last axis is the layer's width. */
function column(w: Weights, name: string, j: number): Float32Array {
  const k = w[name];
  const width = k.shape[k.shape.length - 1];
  const out = new Float32Array(k.data.length / width);
  for (let o = 0; o < out.length; o++) out[o] = k.data[o * width + j];
  return out;
}

const maxAbs = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * For every replica j ≥ oldWidth of `name`, its source unit: the child's column u < oldWidth nearest to column j (the
 * child's, not the parent's: widening the layer below also remaps and rescales this kernel's input rows).
 */
function replicaSources(parentW: Weights, childW: Weights, name: string): [number, number][] {
  const oldWidth = parentW[name].shape.at(-1)!;
  const newWidth = childW[name].shape.at(-1)!;
  const pairs: [number, number][] = [];
  for (let j = oldWidth; j < newWidth; j++) {
    const c = column(childW, name, j);
    let best = 0;
    let bestD = Infinity;
    for (let u = 0; u < oldWidth; u++) {
      const d = maxAbs(column(childW, name, u), c);
      if (d < bestD) [best, bestD] = [u, d];
    }
    pairs.push([best, j]);
  }
  return pairs;
}

/** Largest |incoming weights of a replica − those of its source unit|, relative to the kernel's largest weight. */
function replicaSpread(w: Weights, name: string, pairs: [number, number][]): number {
  const scale = w[name].data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return pairs.reduce((m, [u, j]) => Math.max(m, maxAbs(column(w, name, u), column(w, name, j))), 0) / scale;
}

describe('symmetry breaking of Net2Wider under training', () => {
  const action = [{ type: 'wider' as const, layers: ['L0', 'L2', 'L4'] }];

  async function widenAndTrain(wider: { split: 'equal' | 'random'; noise: number }): Promise<{ before: number[]; after: number[]; preserved: number }> {
    const x = tf.tidy(() => tf.randomNormal([8, ...SHAPE], 0, 1, 'float32', 5));
    try {
      const child = applyActions(parent.arch, parent.weights, action, { space: DEFAULT_SPACE, rng: Rng.fromSeed(9), wider, deeper: { noise: 0 }, batch: x });
      const preserved = verifyPreservation(parent, child, x);
      const kernels = ['L0/kernel', 'L2/kernel', 'L4/kernel'];
      const pairs = kernels.map((k) => replicaSources(parent.weights, child.weights, k));
      const before = kernels.map((k, i) => replicaSpread(child.weights, k, pairs[i]));
      // A few SGD steps (12 batches of 32) with the real training loop: no dropout, same recipe for both runs.
      const trained = await trainNetwork({ arch: child.arch, weights: child.weights, train: data.train, epochs: 1, recipe, seed: 2 });
      const after = kernels.map((k, i) => replicaSpread(trained.weights, k, pairs[i]));
      return { before, after, preserved };
    } finally {
      x.dispose();
    }
  }

  test("split 'equal' + noise 0 (the paper's exact Eq. 1–3): the replicas stay copies of their source unit", async () => {
    const r = await assertNoLeak(() => widenAndTrain({ split: 'equal', noise: 0 }));
    assert.ok(r.preserved <= 1e-4, `function preserved (${r.preserved})`);
    for (const [i, spread] of r.before.entries()) assert.equal(spread, 0, `layer ${i}: replicas start as exact copies`);
    for (const [i, spread] of r.after.entries()) assert.ok(spread <= 1e-5, `layer ${i}: replicas still copies after training (relative spread ${spread})`);
  });

  test("split 'random' + noise 0 (exact mode): starts as copies, function preserved, training separates the replicas", async () => {
    const r = await widenAndTrain({ split: 'random', noise: 0 });
    assert.ok(r.preserved <= 1e-4, `function preserved (${r.preserved})`);
    for (const [i, spread] of r.before.entries()) assert.equal(spread, 0, `layer ${i}: replicas start as exact copies`);
    for (const [i, spread] of r.after.entries()) assert.ok(spread > 1e-3, `layer ${i}: replicas differ after training (relative spread ${spread})`);
  });

  test("the search's defaults (random split, noise 1e-2): replicas start apart and stay apart under training", async () => {
    assert.deepEqual(DEFAULT_TRANSFORM_OPTIONS.wider, { split: 'random', noise: 1e-2 });
    const r = await widenAndTrain(DEFAULT_TRANSFORM_OPTIONS.wider);
    assert.ok(r.preserved > 0 && r.preserved < 0.5, `noise changes the function only slightly (${r.preserved})`);
    for (const [i, spread] of r.before.entries()) assert.ok(spread > 0 && spread < 0.1, `layer ${i}: noise separates the replicas a little (${spread})`);
    // (the equal split's replicas stay within 1e-5 of each other; with split 'random' the conv replicas also drift further apart)
    for (const [i, spread] of r.after.entries()) assert.ok(spread > 1e-3, `layer ${i}: replicas differ after training (${r.before[i]} → ${spread})`);
  });
});

describe('Net2Deeper noise', () => {
  test('noise perturbs every tap of the identity kernel by ≈ noise × its std; 0 is the exact identity; seeded', () => {
    const x = tf.tidy(() => tf.randomNormal([8, ...SHAPE], 0, 1, 'float32', 6));
    try {
      const action = [{ type: 'deeper' as const, block: 1, position: 0, kernel: 3 }];
      const run = (noise: number, seed = 4) => applyActions(parent.arch, parent.weights, action, { space: DEFAULT_SPACE, rng: Rng.fromSeed(seed), batch: x, deeper: { noise } });
      const exact = run(0);
      const id = exact.arch.layers[3].id;
      const k0 = exact.weights[`${id}/kernel`].data;
      assert.equal(k0.filter((v) => v !== 0).length, 16, 'exact: only the 16 centre taps are non-zero');
      assert.ok(verifyPreservation(parent, exact, x) <= 1e-4);

      const noisy = run(1e-3);
      const k1 = noisy.weights[`${id}/kernel`].data;
      assert.ok(k1.every((v, i) => v !== k0[i]), 'every tap moves');
      const mean = k0.reduce((s, v) => s + v, 0) / k0.length;
      const std = Math.sqrt(k0.reduce((s, v) => s + (v - mean) ** 2, 0) / k0.length);
      const diffs = Array.from(k1, (v, i) => v - k0[i]);
      const rms = Math.sqrt(diffs.reduce((s, d) => s + d * d, 0) / diffs.length);
      assert.ok(Math.abs(rms / (1e-3 * std) - 1) < 0.1, `noise std ${rms} ≈ 1e-3 × ${std}`);
      const d = verifyPreservation(parent, noisy, x);
      assert.ok(d > 0 && d < 1e-2, `small change of the function (${d})`);
      assert.deepEqual(run(1e-3).weights[`${id}/kernel`].data, k1, 'same seed, same noise');
      assert.notDeepEqual(run(1e-3, 5).weights[`${id}/kernel`].data, k1);
    } finally {
      x.dispose();
    }
  });
});

describe('eas check-transform modes', () => {
  test("the exact mode (random split, no noise) preserves ≤ 1e-4; the search's defaults move the logits a little, by design", () => {
    assert.deepEqual(EXACT_TRANSFORM, { wider: { split: 'random', noise: 0 }, deeper: { noise: 0 } });
    const exact = runTransformChecks({ trials: 20, seed: 7 });
    assert.ok(exact.maxAbsDiff > 0 && exact.maxAbsDiff <= 1e-4, `exact ${exact.maxAbsDiff}`);
    const noisy = runTransformChecks({ trials: 20, seed: 7, transform: SEARCH_TRANSFORM });
    assert.ok(noisy.maxAbsDiff > 1e-4 && noisy.maxAbsDiff < 1, `search defaults ${noisy.maxAbsDiff}`);
  });
});

describe('the noise-free twin', () => {
  test('a noisy transformation carries its exact twin: bit for bit the noise-free transformation with the same seed, which preserves the function', async () => {
    const x = tf.tidy(() => tf.randomNormal([8, ...SHAPE], 0, 1, 'float32', 8));
    try {
      await assertNoLeak(() => {
        const actions = [
          { type: 'wider' as const, layers: ['L0', 'L2'] },
          { type: 'deeper' as const, block: 1, position: 0, kernel: 3 },
          { type: 'wider' as const, layers: ['L0', 'L4'] },
          { type: 'deeper' as const, block: 0, position: 0, kernel: 1 },
        ];
        const run = (transform: Pick<ApplyOptions, 'wider' | 'deeper'>) => applyActions(parent.arch, parent.weights, actions, { space: DEFAULT_SPACE, rng: Rng.fromSeed(21), batch: x, ...transform });
        const noisy = run(DEFAULT_TRANSFORM_OPTIONS);
        const exact = run(EXACT_TRANSFORM);
        assert.equal(exact.exact, exact.weights, 'without noise the twin is the result itself');
        assert.deepEqual(Object.keys(noisy.exact).sort(), Object.keys(exact.weights).sort());
        for (const [name, w] of Object.entries(exact.weights)) assert.deepEqual(noisy.exact[name].data, w.data, `${name}: the twin is the noise-free transformation`);
        const twin = { arch: noisy.arch, weights: noisy.exact };
        assert.ok(verifyPreservation(parent, twin, x) <= 1e-4, 'the twin preserves the function');
        assert.ok(verifyPreservation(parent, noisy, x) > 1e-6, 'the saved child carries the noise');
        const changed = Object.keys(noisy.weights).filter((n) => !noisy.weights[n].data.every((v, i) => v === noisy.exact[n].data[i]));
        assert.ok(changed.length > 0 && changed.every((n) => n.endsWith('/kernel')), `only kernels get noise (${changed.join(', ')})`);
      });
    } finally {
      x.dispose();
    }
  });
});
