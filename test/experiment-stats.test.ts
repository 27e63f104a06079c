import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { averageRanks, bootstrapMeanCI, normalCdf, quantile, wilcoxonSignedRank } from '../src/experiment/stats';
import { childId, mergeOverrides, validateExperimentConfig } from '../src/experiment/config';
import { epochImages, searchBudget } from '../src/experiment/plan';
import { validateSearchConfig } from '../src/config/search-config';
import { runningBest } from '../src/experiment/results';

/** Exact two-sided p by brute force over all 2^n sign assignments (independent of the counting in stats.ts). */
function bruteForceP(d: number[]): number {
  const nz = d.filter((x) => x !== 0);
  const r = averageRanks(nz);
  const wPlus = nz.reduce((s, x, i) => s + (x > 0 ? r[i] : 0), 0);
  const total = (nz.length * (nz.length + 1)) / 2;
  const w = Math.min(wPlus, total - wPlus);
  let below = 0;
  for (let mask = 0; mask < 1 << nz.length; mask++) {
    let s = 0;
    for (let i = 0; i < nz.length; i++) if (mask & (1 << i)) s += r[i];
    if (s <= w + 1e-9) below++;
  }
  return Math.min(1, (2 * below) / 2 ** nz.length);
}

describe('Wilcoxon signed-rank test', () => {
  test('scipy.stats.wilcoxon reference values (exact, two-sided)', () => {
    // Every difference positive: only the all-positive assignment is as extreme, on either side: 2/2^n.
    assert.equal(wilcoxonSignedRank([1, 2, 3, 4, 5]).p, 0.0625); // scipy: 0.0625
    assert.equal(wilcoxonSignedRank([0.5, 0.1, 0.3, 0.2, 0.4, 0.6]).p, 0.03125); // scipy: 0.03125
    // scipy's docs (Fisher's Zea mays differences): statistic 24, p-value 0.041259765625.
    const zea = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75];
    const r = wilcoxonSignedRank(zea);
    assert.equal(Math.min(r.wPlus, r.wMinus), 24);
    assert.equal(r.p, 0.041259765625);
    assert.equal(r.method, 'exact');
  });

  test('by hand: d = [1, -2, 3, -4, 5] → W+ = 9, W− = 6; 2 · #{subsets of 1..5 with sum ≤ 6} / 32 = 2 · 13 / 32', () => {
    // Subsets of {1..5} with sum ≤ 6: {}, 1, 2, 3, 4, 5, 12, 13, 14, 15, 23, 24, 123: 13.
    const r = wilcoxonSignedRank([1, -2, 3, -4, 5]);
    assert.equal(r.wPlus, 9);
    assert.equal(r.wMinus, 6);
    assert.equal(r.p, (2 * 13) / 32);
  });

  test('zeros are dropped, ties get average ranks; the counting agrees with brute force', () => {
    assert.deepEqual(averageRanks([1, -1, 2, -3]), [1.5, 1.5, 3, 4]);
    assert.equal(wilcoxonSignedRank([1, 1, 2, -3]).p, 0.75); // W+ = 6, W− = 4; 6 of 16 assignments ≤ 4
    assert.equal(wilcoxonSignedRank([0, 0, 1, 2, 3, 4, 5]).n, 5);
    assert.equal(wilcoxonSignedRank([0, 0, 1, 2, 3, 4, 5]).p, 0.0625);
    assert.equal(wilcoxonSignedRank([0, 0]).p, null);
    const cases = [
      [0.003, -0.001, 0.002, 0.004, -0.0005],
      [1, 1, 1, -1, 2, -2, 3],
      [5, -3, 2, 2, -2, 7, 1, -1, 4],
      [0.1, 0.2, -0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, 1.1, -1.2],
    ];
    for (const d of cases) assert.ok(Math.abs(wilcoxonSignedRank(d).p! - bruteForceP(d)) < 1e-12, `p of ${d.join(', ')}`);
  });

  test('large samples use the normal approximation (scipy: n=60 differences 1..60 alternating sign)', () => {
    const d = Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? i + 1 : -(i + 1)));
    const r = wilcoxonSignedRank(d);
    assert.equal(r.method, 'normal');
    // W+ = 1+3+…+59 = 900, W− = 930; mean 915, sd = sqrt(60·61·121/24) = 135.83…; z = −0.1104; p = 0.912
    assert.equal(r.wPlus, 900);
    assert.ok(Math.abs(r.p! - 0.9121) < 1e-3, `p ${r.p}`);
    assert.ok(Math.abs(normalCdf(1.959964) - 0.975) < 1e-6);
  });
});

describe('bootstrap CI of the mean', () => {
  test('seeded: the same values and seed give the same interval; it contains the mean; constants have no width', () => {
    const xs = [0.912, 0.915, 0.909, 0.921, 0.917];
    const a = bootstrapMeanCI(xs, { seed: 5 });
    assert.deepEqual(bootstrapMeanCI(xs, { seed: 5 }), a);
    assert.ok(a.lo <= a.mean && a.mean <= a.hi && a.lo >= 0.909 && a.hi <= 0.921);
    assert.ok(Math.abs(a.mean - 0.9148) < 1e-12);
    assert.deepEqual(bootstrapMeanCI([2, 2, 2], { seed: 1 }), { n: 3, mean: 2, lo: 2, hi: 2 });
    assert.deepEqual(bootstrapMeanCI([7]), { n: 1, mean: 7, lo: 7, hi: 7 });
  });

  test('width shrinks like 1/√n: sd of the mean for a ±1 coin is 1/√n, the 95% interval about ±1.96/√n', () => {
    const xs = Array.from({ length: 400 }, (_, i) => (i % 2 ? 1 : -1));
    const ci = bootstrapMeanCI(xs, { seed: 2, resamples: 4000 });
    assert.ok(Math.abs(ci.hi - 1.96 / 20) < 0.02 && Math.abs(ci.lo + 1.96 / 20) < 0.02, JSON.stringify(ci));
  });

  test('quantile interpolates linearly (numpy default)', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([1, 2, 3, 4], 0), 1);
    assert.equal(quantile([1, 2, 3, 4], 1), 4);
  });
});

describe('experiment config and plan', () => {
  const search = { dataset: { name: 'fashion-mnist', validationSize: 5000, limit: { train: 8000 } }, startNet: { notation: 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)', epochs: 2 }, stages: [{ networks: 8, epochs: 1, bestEpochs: 1 }, { networks: 4, epochs: 2, bestEpochs: 9 }], final: { topK: 2, epochs: 5 } };

  test('children: seed by seed, deterministic ids, overrides merged, the experiment sets name, seed and root', () => {
    const { children } = validateExperimentConfig({
      name: 'e',
      search,
      arms: [{ name: 'rl', kind: 'search', overrides: { controller: { kind: 'rl' } } }, { name: 'random', kind: 'search', overrides: { controller: { kind: 'random' } } }, { name: 'reference', kind: 'reference' }],
      seeds: [1, 2],
      storage: { root: '/tmp/x' },
    });
    assert.deepEqual(children.map((c) => c.id), ['e-rl-s1', 'e-random-s1', 'e-reference-s1', 'e-rl-s2', 'e-random-s2', 'e-reference-s2']);
    assert.equal(children[1].config.controller.kind, 'random');
    assert.equal(children[3].config.seed, 2);
    assert.equal(children[3].config.storage.root, '/tmp/x');
    assert.equal(children[3].config.name, 'e-rl-s2');
    assert.equal(childId('e', 'rl', -3), 'e-rl-sm3');
    assert.deepEqual(mergeOverrides({ a: { b: 1, c: [1] } }, { a: { c: [2] } }), { a: { b: 1, c: [2] } });
  });

  test('errors name the field', () => {
    assert.throws(() => validateExperimentConfig({ name: 'e', search, arms: [{ name: 'rl', kind: 'search', overrides: { controller: { kind: 'greedy' } } }], seeds: [1] }), /arms\.0 \(search \+ overrides\)\.controller\.kind/);
    assert.throws(() => validateExperimentConfig({ name: 'e', search, arms: [{ name: 'rl', kind: 'search', overrides: { seed: 4 } }], seeds: [1] }), /arms\.0\.overrides\.seed/);
    assert.throws(() => validateExperimentConfig({ name: 'e', search, arms: [{ name: 'rl', kind: 'search' }], seeds: [1, 1] }), /seeds\.1: seed 1 appears twice/);
    assert.throws(() => validateExperimentConfig({ name: 'e', search, arms: [{ name: 'ref', kind: 'reference' }], seeds: [1] }), /arms: at least one arm must be of kind "search"/);
    assert.throws(() => validateExperimentConfig({ name: 'e', search, arms: [{ name: 'rl', kind: 'search' }], seeds: [1], concurrency: 0 }), /concurrency/);
  });

  test('the reference budget: planned training images after the start net, in final-mode epochs', () => {
    const c = validateSearchConfig({ name: 'x', ...search });
    assert.deepEqual(epochImages(c.dataset), { search: 8000, final: 8000 });
    const b = searchBudget(c);
    // candidates 8·1 + 4·2 = 16 epochs, stage-1 best 1 (the last stage's bestEpochs is not spent), finals 2 × 5.
    assert.deepEqual([b.candidateEpochs, b.stageBestEpochs, b.finalEpochs, b.referenceEpochs], [16, 1, 10, 27]);
    const full = validateSearchConfig({ name: 'x', ...search, dataset: { name: 'fashion-mnist' } });
    assert.deepEqual(epochImages(full.dataset), { search: 55_000, final: 60_000 });
    assert.equal(searchBudget(full).referenceEpochs, Math.round((17 * 55_000 + 10 * 60_000) / 60_000));
  });

  test('running best keeps the previous best through failures', () => {
    assert.deepEqual(runningBest([null, 0.5, 0.4, null, 0.7]), [NaN, 0.5, 0.5, 0.5, 0.7]);
  });
});

describe('compareExperiment', () => {
  test('per arm intervals, pairs in arm order, by seed, curves; unfinished children left out of the pairs', async () => {
    const { compareExperiment, formatComparison } = await import('../src/experiment/compare');
    const m = (finalTest: number, bestVal: number | null, params: number, runningBest: number[] = []) => ({ finalTest, bestVal, params, wallSeconds: 60, runningBest, startVal: 0.8 });
    const child = (arm: string, kind: 'search' | 'reference', seed: number, metrics: ReturnType<typeof m> | null) => ({
      id: `e-${arm}-s${seed}`,
      arm,
      kind,
      seed,
      outcome: metrics ? { id: `e-${arm}-s${seed}`, arm, kind, seed, status: 'completed' as const, resultFile: 'x', startedAt: 0, endedAt: 60_000, error: null } : null,
      metrics,
    });
    const view = {
      root: '/r',
      complete: false,
      record: {
        experimentId: 'e',
        arms: [{ name: 'rl', kind: 'search' as const }, { name: 'random', kind: 'search' as const }, { name: 'reference', kind: 'reference' as const }],
        seeds: [1, 2, 3],
        concurrency: 2,
        children: [],
        referenceBudget: null,
        config: {},
      },
      children: [
        child('rl', 'search', 1, m(0.91, 0.9, 300, [0.8, 0.9])),
        child('random', 'search', 1, m(0.9, 0.88, 200, [0.85, 0.88])),
        child('reference', 'reference', 1, m(0.905, null, 100)),
        child('rl', 'search', 2, m(0.92, 0.91, 300, [0.91, 0.91])),
        child('random', 'search', 2, m(0.9, 0.9, 250, [0.9, 0.9])),
        child('reference', 'reference', 2, m(0.91, null, 100)),
        child('rl', 'search', 3, m(0.93, 0.92, 300, [0.92])),
        child('random', 'search', 3, null),
        child('reference', 'reference', 3, m(0.9, null, 100)),
      ],
    };
    const c = compareExperiment(view);
    assert.deepEqual(c.arms.map((a) => [a.arm, a.completed, a.metrics.finalTest?.n]), [['rl', 3, 3], ['random', 2, 2], ['reference', 3, 3]]);
    assert.ok(Math.abs(c.arms[0].metrics.finalTest!.mean - 0.92) < 1e-12);
    assert.equal(c.arms[2].metrics.bestVal, null);
    const ft = c.pairs.filter((p) => p.metric === 'finalTest');
    assert.deepEqual(ft.map((p) => [p.a, p.b, p.diffs.map((d) => d.seed)]), [['rl', 'random', [1, 2]], ['rl', 'reference', [1, 2, 3]], ['random', 'reference', [1, 2]]]);
    assert.deepEqual(ft[1].diffs.map((d) => Math.round(d.diff * 1e4)), [50, 100, 300]);
    assert.equal(ft[1].wilcoxon.p, 0.25); // 3 of 3 positive: 2/2^3
    assert.equal(ft[1].wins, 3);
    assert.equal(c.pairs.some((p) => p.metric === 'bestVal' && p.b === 'reference'), false, 'the reference has no validation accuracy to pair');
    assert.deepEqual(c.bySeed[2].finalTest, { rl: 0.93, random: null, reference: 0.9 });
    assert.equal(c.curves.length, 5);
    const text = formatComparison(c);
    assert.match(text, /still running/);
    assert.match(text, /rl − reference\s+final test accuracy\s+n=3\s+\+1\.50 pts/);
  });
});
