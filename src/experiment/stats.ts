import { Rng } from '../util/rng';

/**
 * The statistics of `eas compare` (pure, seeded): a percentile bootstrap of the mean, and the Wilcoxon signed-rank test
 * of paired differences — exact for small samples (the distribution enumerated over every sign assignment of the
 * ranks, ties included), normal approximation with tie correction above EXACT_MAX pairs. Written here rather than taken
 * from npm: the one maintained implementation (@stdlib/stats-wilcoxon) brings ~20 @stdlib packages for ~60 lines, and
 * simple-statistics has only the rank-sum (unpaired) test. Conventions follow scipy.stats.wilcoxon's defaults
 * (zero differences dropped, two-sided, no continuity correction), so its p-values are the reference in the tests.
 */

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

export interface Interval {
  n: number;
  mean: number;
  /** Bounds of the confidence interval; equal to the mean for n = 1, NaN for n = 0. */
  lo: number;
  hi: number;
}

/** The q-quantile of sorted values, linearly interpolated (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const i = Math.floor(pos);
  const frac = pos - i;
  return i + 1 < sorted.length ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/**
 * Percentile bootstrap confidence interval of the mean: `resamples` resamples with replacement drawn from a seeded
 * generator, so the same values and seed give the same interval.
 */
export function bootstrapMeanCI(xs: readonly number[], opts: { level?: number; resamples?: number; seed?: number } = {}): Interval {
  const level = opts.level ?? 0.95;
  const resamples = opts.resamples ?? 10_000;
  const n = xs.length;
  const m = mean(xs);
  if (n <= 1) return { n, mean: m, lo: m, hi: m };
  const rng = Rng.fromSeed(opts.seed ?? 0);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[rng.int(0, n - 1)];
    means[b] = s / n;
  }
  const sorted = Array.from(means).sort((a, b) => a - b);
  const alpha = (1 - level) / 2;
  return { n, mean: m, lo: quantile(sorted, alpha), hi: quantile(sorted, 1 - alpha) };
}

/** Ranks of |values| from 1, ties given their average rank. */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [Math.abs(v), i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = r;
    i = j + 1;
  }
  return ranks;
}

export interface SignedRankResult {
  /** Pairs with a nonzero difference (zeros are dropped). */
  n: number;
  /** Sums of the ranks of the positive and of the negative differences. */
  wPlus: number;
  wMinus: number;
  /** Two-sided p-value; null when no difference is nonzero. */
  p: number | null;
  method: 'exact' | 'normal';
}

/** Above this many nonzero differences the exact distribution (2^n sign assignments, by counting) gives way to the normal. */
export const EXACT_MAX = 50;

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 for erf; |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/**
 * Wilcoxon signed-rank test of paired differences against a median of 0, two-sided. Exact: the number of the 2^n sign
 * assignments whose positive rank sum is at most min(W+, W−), counted by dynamic programming over the (doubled, hence
 * integer) ranks, times two, capped at 1 — scipy's `wilcoxon(d, method='exact')`, which with ties is the exact
 * permutation test on the average ranks.
 */
export function wilcoxonSignedRank(diffs: readonly number[]): SignedRankResult {
  const d = diffs.filter((x) => x !== 0);
  const n = d.length;
  if (n === 0) return { n, wPlus: 0, wMinus: 0, p: null, method: 'exact' };
  const ranks = averageRanks(d);
  let wPlus = 0;
  for (let i = 0; i < n; i++) if (d[i] > 0) wPlus += ranks[i];
  const total = (n * (n + 1)) / 2;
  const wMinus = total - wPlus;
  const w = Math.min(wPlus, wMinus);
  if (n <= EXACT_MAX) {
    // counts[s] = sign assignments with doubled positive rank sum s.
    const doubled = ranks.map((r) => Math.round(r * 2));
    const max = doubled.reduce((a, b) => a + b, 0);
    let counts = new Float64Array(max + 1);
    counts[0] = 1;
    for (const r of doubled) {
      const next = counts.slice();
      for (let s = 0; s + r <= max; s++) if (counts[s]) next[s + r] += counts[s];
      counts = next;
    }
    let below = 0;
    for (let s = 0; s <= Math.round(w * 2); s++) below += counts[s];
    return { n, wPlus, wMinus, p: Math.min(1, (2 * below) / 2 ** n), method: 'exact' };
  }
  const ties = new Map<number, number>();
  for (const r of ranks) ties.set(r, (ties.get(r) ?? 0) + 1);
  let tieTerm = 0;
  for (const t of ties.values()) tieTerm += t * t * t - t;
  const sd = Math.sqrt((n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48);
  const z = (w - total / 2) / sd;
  return { n, wPlus, wMinus, p: Math.min(1, 2 * normalCdf(z)), method: 'normal' };
}
