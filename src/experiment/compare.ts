import { deriveSeed } from '../util/seed';
import type { ChildView, ExperimentView } from './results';
import { type Interval, type SignedRankResult, bootstrapMeanCI, wilcoxonSignedRank } from './stats';

/**
 * `eas compare`'s numbers (pure, from an ExperimentView): per arm the mean and a 95 % bootstrap CI of each metric over
 * its seeds; per pair of arms (a − b, in the config's arm order) the differences by seed with their mean, CI and the
 * Wilcoxon signed-rank p-value; and Fig. 5's curves. Only seeds where both arms have the metric are paired. The
 * bootstrap is seeded from the metric and arm names, so the same results give the same intervals.
 */

export const METRICS = ['finalTest', 'bestVal', 'params', 'wallSeconds'] as const;
export type Metric = (typeof METRICS)[number];
export const METRIC_LABELS: Record<Metric, string> = {
  finalTest: 'final test accuracy',
  bestVal: 'best validation accuracy',
  params: 'parameters',
  wallSeconds: 'wall time',
};

export interface ArmStats {
  arm: string;
  kind: 'search' | 'reference';
  seeds: number;
  completed: number;
  failed: number;
  metrics: Record<Metric, Interval | null>;
}

export interface PairStats {
  a: string;
  b: string;
  metric: Metric;
  /** a − b for each seed where both have the metric. */
  diffs: { seed: number; diff: number }[];
  mean: Interval;
  wilcoxon: SignedRankResult;
  /** Seeds where a > b, a < b. */
  wins: number;
  losses: number;
}

export interface Curve {
  arm: string;
  seed: number;
  /** Running best validation accuracy after 1, 2, … evaluated networks. */
  best: number[];
}

export interface Comparison {
  experimentId: string;
  complete: boolean;
  arms: ArmStats[];
  pairs: PairStats[];
  curves: Curve[];
  /** Each seed's final test accuracy per arm (null: not finished or failed). */
  bySeed: { seed: number; finalTest: Record<string, number | null> }[];
}

const BOOTSTRAP = { level: 0.95, resamples: 10_000 };
/** Metrics compared pair-wise: accuracies and size (wall time depends on the machine's company, not the method). */
const PAIRED: Metric[] = ['finalTest', 'bestVal', 'params'];

const valueOf = (c: ChildView, m: Metric): number | null => {
  const v = c.metrics?.[m];
  return v === null || v === undefined || Number.isNaN(v) ? null : v;
};

export function compareExperiment(view: ExperimentView): Comparison {
  const { record } = view;
  const byArm = new Map<string, ChildView[]>(record.arms.map((a) => [a.name, view.children.filter((c) => c.arm === a.name)]));
  const arms: ArmStats[] = record.arms.map((a) => {
    const kids = byArm.get(a.name)!;
    const metrics = Object.fromEntries(
      METRICS.map((m) => {
        const xs = kids.map((c) => valueOf(c, m)).filter((v): v is number => v !== null);
        return [m, xs.length ? bootstrapMeanCI(xs, { ...BOOTSTRAP, seed: deriveSeed(0, 'bootstrap', a.name, m) }) : null];
      }),
    ) as Record<Metric, Interval | null>;
    return {
      arm: a.name,
      kind: a.kind,
      seeds: kids.length,
      completed: kids.filter((c) => c.outcome?.status === 'completed').length,
      failed: kids.filter((c) => c.outcome?.status === 'failed').length,
      metrics,
    };
  });

  const pairs: PairStats[] = [];
  for (let i = 0; i < record.arms.length; i++) {
    for (let j = i + 1; j < record.arms.length; j++) {
      const [a, b] = [record.arms[i].name, record.arms[j].name];
      for (const m of PAIRED) {
        const diffs: PairStats['diffs'] = [];
        for (const seed of record.seeds) {
          const ca = byArm.get(a)!.find((c) => c.seed === seed);
          const cb = byArm.get(b)!.find((c) => c.seed === seed);
          const va = ca ? valueOf(ca, m) : null;
          const vb = cb ? valueOf(cb, m) : null;
          if (va !== null && vb !== null) diffs.push({ seed, diff: va - vb });
        }
        if (!diffs.length) continue;
        const ds = diffs.map((d) => d.diff);
        pairs.push({
          a,
          b,
          metric: m,
          diffs,
          mean: bootstrapMeanCI(ds, { ...BOOTSTRAP, seed: deriveSeed(0, 'bootstrap', a, b, m) }),
          wilcoxon: wilcoxonSignedRank(ds),
          wins: ds.filter((d) => d > 0).length,
          losses: ds.filter((d) => d < 0).length,
        });
      }
    }
  }

  const curves: Curve[] = view.children.filter((c) => c.kind === 'search' && c.metrics && c.metrics.runningBest.length).map((c) => ({ arm: c.arm, seed: c.seed, best: c.metrics!.runningBest }));
  const bySeed = record.seeds.map((seed) => ({
    seed,
    finalTest: Object.fromEntries(record.arms.map((a) => [a.name, ((c) => (c ? valueOf(c, 'finalTest') : null))(byArm.get(a.name)!.find((c) => c.seed === seed))])),
  }));
  return { experimentId: record.experimentId, complete: view.complete, arms, pairs, curves, bySeed };
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const pts = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`;

function fmt(m: Metric, x: number): string {
  if (m === 'params') return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);
  if (m === 'wallSeconds') return `${(x / 60).toFixed(1)}min`;
  return pct(x);
}

function fmtDiff(m: Metric, x: number): string {
  if (m === 'params') return `${x >= 0 ? '+' : '-'}${fmt(m, Math.abs(x))}`;
  return `${pts(x)} pts`;
}

const pad = (s: string, w: number): string => (s.length >= w ? s : s + ' '.repeat(w - s.length));

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => pad(c, widths[i])).join('  ').trimEnd());
}

/** The plain-text comparison `eas compare` prints. */
export function formatComparison(c: Comparison): string {
  const lines = [`experiment ${c.experimentId}${c.complete ? '' : ' (still running: partial results)'}`, '', 'per arm: mean [95% bootstrap CI] over seeds'];
  const head = ['arm', 'done', ...METRICS.map((m) => METRIC_LABELS[m])];
  const rows = c.arms.map((a) => [
    a.arm,
    `${a.completed}/${a.seeds}${a.failed ? ` (${a.failed} failed)` : ''}`,
    ...METRICS.map((m) => {
      const v = a.metrics[m];
      return v ? `${fmt(m, v.mean)} [${fmt(m, v.lo)}, ${fmt(m, v.hi)}]` : '–';
    }),
  ]);
  lines.push(...table([head, ...rows]));
  lines.push('', 'paired by seed: mean difference a − b [95% bootstrap CI], wins/losses, Wilcoxon signed-rank p (two-sided)');
  const prow = c.pairs.map((p) => [
    `${p.a} − ${p.b}`,
    METRIC_LABELS[p.metric],
    `n=${p.diffs.length}`,
    `${fmtDiff(p.metric, p.mean.mean)} [${fmtDiff(p.metric, p.mean.lo)}, ${fmtDiff(p.metric, p.mean.hi)}]`,
    `${p.wins}/${p.losses}`,
    p.wilcoxon.p === null ? 'p=–' : `p=${p.wilcoxon.p.toFixed(4)}${p.wilcoxon.method === 'exact' ? '' : ' (normal approx.)'}`,
  ]);
  if (prow.length) lines.push(...table([['pair', 'metric', 'seeds', 'difference', 'W/L', 'p'], ...prow]));
  else lines.push('(no seed has results in two arms yet)');
  lines.push('', 'by seed: final test accuracy');
  const armNames = c.arms.map((a) => a.arm);
  lines.push(...table([['seed', ...armNames], ...c.bySeed.map((s) => [String(s.seed), ...armNames.map((a) => (s.finalTest[a] === null ? '–' : pct(s.finalTest[a]!)))])]));
  return lines.join('\n');
}
