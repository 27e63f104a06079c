import type { TopLevelSpec } from 'vega-lite/build/index';
import type { CandidateRecord } from '../store/records';
import { FIGURE_CONFIG } from './render';
import type { RunView } from './runview';
import { isScored, rewardOf } from '../search/rules';

/** Vega-Lite specifications of the report's figures (data inline), built from run views. */

const STAGE_COLORS = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#e45756', '#72b7b2', '#eeca3b', '#9d755d'];
export const STATUS = { trained: 'trained', cached: 'reused (same architecture)', diverged: 'diverged (reward 0)', failed: 'failed (reward 0)' } as const;

export interface ProgressPoint {
  order: number;
  name: string;
  stage: string;
  status: string;
  accuracy: number;
  notation: string;
  params: number;
}

export interface ProgressData {
  points: ProgressPoint[];
  best: { order: number; best: number; series: string }[];
  starts: { stage: string; from: number; to: number; accuracy: number; name: string; series: string }[];
}

const status = (c: CandidateRecord): string => (c.failed ? STATUS.failed : c.diverged ? STATUS.diverged : c.cachedFrom ? STATUS.cached : STATUS.trained);

/** What a candidate is plotted at: its reward (0 when diverged or failed), or nothing when it was never measured. */
const plotted = (c: CandidateRecord): number | null => (c.network.accuracy === null && !c.diverged && !c.failed ? null : rewardOf(c));

/** Figure 4's data: each sampled network's validation accuracy in sampling order, the running best, each stage's start. */
export function progressData(view: RunView): ProgressData {
  const points: ProgressPoint[] = [];
  const best: ProgressData['best'] = [];
  let running = -Infinity;
  view.candidates.forEach((c, i) => {
    const acc = plotted(c);
    if (acc === null) return;
    const order = i + 1;
    points.push({ order, name: c.name, stage: `stage ${c.stage + 1}`, status: status(c), accuracy: acc, notation: c.network.notation, params: c.network.params });
    if (isScored(c) && acc > running) running = acc;
    if (running > -Infinity) best.push({ order, best: running, series: 'running best' });
  });
  const starts: ProgressData['starts'] = [];
  for (const s of view.stages) {
    const orders = view.candidates.map((c, i) => (c.stage === s.stage ? i + 1 : -1)).filter((o) => o > 0);
    if (!s.start || s.start.accuracy === null || orders.length === 0) continue;
    starts.push({ stage: `stage ${s.stage + 1}`, from: Math.min(...orders) - 0.5, to: Math.max(...orders) + 0.5, accuracy: s.start.accuracy, name: s.start.name, series: 'stage start network' });
  }
  return { points, best, starts };
}

const title = (text: string, view: RunView): { text: string; subtitle: string } => ({
  text,
  subtitle: `search ${view.searchId}${view.controller ? ` (${view.controller === 'rl' ? 'RL meta-controller' : 'random search'})` : ''}${view.dataset ? `, ${view.dataset}` : ''}${view.complete ? '' : ' — in progress'}`,
});

/**
 * Percent format for an accuracy axis with enough decimals for its range: candidates of a converged search differ by
 * tenths of a percent, and '.0%' would label every tick "93%".
 */
export function accuracyAxisFormat(values: readonly number[]): string {
  const finite = values.filter(Number.isFinite);
  const range = finite.length ? Math.max(...finite) - Math.min(...finite) : 1;
  return range >= 0.05 ? '.0%' : range >= 0.005 ? '.1%' : '.2%';
}

export function progressSpec(view: RunView): TopLevelSpec {
  const data = progressData(view);
  const stages = [...new Set(data.points.map((p) => p.stage))];
  const domain = [...stages, 'running best', 'stage start network'];
  const range = [...stages.map((_, i) => STAGE_COLORS[i % STAGE_COLORS.length]), '#222222', '#888888'];
  const color = { field: 'series', type: 'nominal' as const, title: 'series', scale: { domain, range }, legend: { orient: 'right' as const, labelLimit: 260 } };
  const y = { type: 'quantitative' as const, title: 'validation accuracy', axis: { format: accuracyAxisFormat([...data.points, ...data.starts].map((p) => p.accuracy)) }, scale: { zero: false, padding: 12 } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: title('Architecture search progress (cf. Figure 4)', view),
    width: 640,
    height: 320,
    config: FIGURE_CONFIG,
    layer: [
      {
        data: { values: data.starts },
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' }, y: { ...y, field: 'accuracy' }, color },
      },
      {
        data: { values: data.best },
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2 },
        encoding: { x: { field: 'order', type: 'quantitative' }, y: { ...y, field: 'best' }, color },
      },
      {
        data: { values: data.points.map((p) => ({ ...p, series: p.stage })) },
        mark: { type: 'point', filled: true, size: 45, opacity: 0.85 },
        encoding: {
          x: { field: 'order', type: 'quantitative', title: 'networks sampled (in order)', axis: { tickMinStep: 1, format: 'd' }, scale: { nice: false, domain: [0, Math.max(1, data.points.length) + 1] } },
          y: { ...y, field: 'accuracy' },
          color,
          shape: {
            field: 'status',
            type: 'nominal',
            title: 'network',
            scale: { domain: Object.values(STATUS), range: ['circle', 'square', 'cross', 'triangle-down'] },
            legend: { orient: 'right', labelLimit: 260 },
          },
          tooltip: [{ field: 'name' }, { field: 'accuracy', format: '.2%' }, { field: 'notation' }, { field: 'params' }],
        },
      },
    ],
    resolve: { scale: { color: 'shared' } },
  } as TopLevelSpec;
}

export interface EpisodeRow {
  run: string;
  episode: number;
  networks: number;
  metric: 'episode mean' | 'running best';
  accuracy: number;
}

/** Figure 5's data for one run: per episode (in sampling order) the mean accuracy of its networks and the best so far. */
export function episodeRows(view: RunView, label: string): EpisodeRow[] {
  const rows: EpisodeRow[] = [];
  const groups: { key: string; accs: number[] }[] = [];
  for (const c of view.candidates) {
    const acc = plotted(c);
    if (acc === null) continue;
    const key = `${c.stage}/${c.episode}`;
    if (groups.at(-1)?.key !== key) groups.push({ key, accs: [] });
    groups.at(-1)!.accs.push(acc);
  }
  let best = -Infinity;
  let networks = 0;
  groups.forEach((g, i) => {
    networks += g.accs.length;
    best = Math.max(best, ...g.accs);
    const mean = g.accs.reduce((a, b) => a + b, 0) / g.accs.length;
    rows.push({ run: label, episode: i + 1, networks, metric: 'episode mean', accuracy: mean });
    rows.push({ run: label, episode: i + 1, networks, metric: 'running best', accuracy: best });
  });
  return rows;
}

export const runLabel = (view: RunView): string => `${view.controller === 'random' ? 'random search' : view.controller === 'rl' ? 'RL' : 'search'}: ${view.searchId}`;

export function compareSpec(a: RunView, b: RunView): TopLevelSpec {
  const rows = [...episodeRows(a, runLabel(a)), ...episodeRows(b, runLabel(b))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'RL meta-controller against random search (cf. Figure 5)', subtitle: `${a.searchId} (${a.candidates.length} networks) vs ${b.searchId} (${b.candidates.length} networks)` },
    config: FIGURE_CONFIG,
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['episode mean', 'running best'], header: { labelFontSize: 13 } } },
    spec: {
      width: 320,
      height: 260,
      layer: [
        { mark: { type: 'line', strokeWidth: 2 } },
        { mark: { type: 'point', filled: true, size: 40 } },
      ],
      encoding: {
        x: { field: 'networks', type: 'quantitative', title: 'networks sampled', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'accuracy', type: 'quantitative', title: 'validation accuracy', axis: { format: accuracyAxisFormat(rows.map((r) => r.accuracy)) }, scale: { zero: false } },
        color: { field: 'run', type: 'nominal', title: null, legend: { orient: 'bottom', direction: 'horizontal', labelLimit: 300 }, scale: { range: ['#4c78a8', '#e45756'] } },
        tooltip: [{ field: 'run' }, { field: 'episode' }, { field: 'metric' }, { field: 'accuracy', format: '.2%' }],
      },
    },
  } as TopLevelSpec;
}
