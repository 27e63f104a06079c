import * as fs from 'node:fs';
import { splitTopLevel } from '../util/notation';
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite/build/index';
import type { CandidateRecord, NetworkRef } from '../activities/contract';
import { type CurvePoint, type RunView, STATUS, accuracyAxisFormat, candidateJobDir, describeAction, episodeRows, lineageTo, lineages, progressData, progressSpec, resolveNetworkDir, runLabel, runSpaceKind, stageBestSource, trainingCurve } from '../report';
import { bestCandidate, isScored } from '../search/rules';

/**
 * The dashboard's view model: what the pages and the downloads show, derived from the report's RunView (the one view
 * model the static `eas report` and `eas ui` share) and the report's figure data (Figure 4's points, running best and
 * stage starts; Figure 5's episode rows). Pure functions of a RunView plus reads inside its run store.
 */

/** A sampled candidate as the pages give it before its training finished. */
export interface PendingRow {
  name: string;
  stage: number;
  episode: number;
  index: number;
  parent: string;
  actions: string;
  notation: string;
  params: number;
}

/** One candidate as the table, the CSV and the JSON download give it: its pending row plus what training gave. */
export interface CandidateRow extends PendingRow {
  /** 1-based position among the evaluated candidates (the x of Figure 4). */
  order: number;
  /** Validation accuracy when scored (not diverged, not failed, measured), else null. */
  accuracy: number | null;
  status: string;
  diverged: boolean;
  cachedFrom: string | null;
  maxAbsDiff: number | null;
  failed: string | null;
  /** Best scored accuracy up to and including this candidate. */
  runningBest: number | null;
}

export type LiveState = 'running' | 'paused' | 'stopping' | 'failed' | 'terminated' | 'canceled' | 'timed out' | 'completed' | 'continued' | 'not started';

export interface SearchSummary {
  id: string;
  dataset: string | null;
  space: 'plain' | 'densenet' | null;
  controller: 'rl' | 'random' | null;
  /** 1-based stage and episode of the latest sampled network (null before the first). */
  stage: number | null;
  stages: number | null;
  episode: number | null;
  done: number;
  planned: number | null;
  pending: number;
  failed: number;
  best: { name: string; accuracy: number | null; notation: string } | null;
  bestFinal: { name: string; accuracy: number | null } | null;
  /** From the run store: finished (result.json), stopped (stopped early, finalised) or in progress. */
  stored: 'finished' | 'stopped' | 'in progress';
  /** From Temporal when a server is reachable: what the workflow is doing; null without a server. */
  live: LiveState | null;
  /** Human-readable state: the live one when known, else the stored one. */
  state: string;
  /** Last modification of the run store's top folder or its newest stage (ms since epoch). */
  updated: number;
  error?: string;
}

export function candidateRows(view: RunView): CandidateRow[] {
  let best: number | null = null;
  return view.candidates.map((c, i) => {
    const scored = isScored(c);
    if (scored && (best === null || (c.network.accuracy as number) > best)) best = c.network.accuracy as number;
    return {
      order: i + 1,
      name: c.name,
      stage: c.stage + 1,
      episode: c.episode,
      index: c.index,
      parent: c.parent,
      actions: c.actions.map(describeAction).join('; '),
      notation: c.network.notation,
      params: c.network.params,
      accuracy: scored ? c.network.accuracy : null,
      status: c.failed ? STATUS.failed : c.diverged ? STATUS.diverged : c.cachedFrom ? STATUS.cached : STATUS.trained,
      diverged: c.diverged,
      cachedFrom: c.cachedFrom,
      maxAbsDiff: c.maxAbsDiff,
      failed: c.failed ? `${c.failed.step}: ${c.failed.type}: ${c.failed.message}` : null,
      runningBest: best,
    };
  });
}

export function pendingRows(view: RunView): PendingRow[] {
  return view.pending.map((p) => ({ name: p.name, stage: p.stage + 1, episode: p.episode, index: p.index, parent: p.parent, actions: p.actions.map(describeAction).join('; '), notation: p.notation, params: p.params }));
}

const sampleKey = (c: { stage: number; episode: number; index: number }): number => (c.stage * 1e6 + c.episode) * 1e3 + c.index;

/**
 * How many of the view's candidates are settled: every network sampled before them has been evaluated. Candidates past
 * that point may still shift (a network sampled earlier in the same episode can finish later and take its place in
 * sampling order), so the live page receives them as a provisional tail that each poll replaces.
 */
export function settledCount(view: RunView): number {
  if (view.pending.length === 0) return view.candidates.length;
  const first = Math.min(...view.pending.map(sampleKey));
  let n = 0;
  while (n < view.candidates.length && sampleKey(view.candidates[n]) < first) n++;
  return n;
}

function storeUpdated(view: RunView): number {
  let t = 0;
  for (const p of [view.runDir, ...view.stages.map((s) => path.join(view.runDir, `stage-${s.stage + 1}`)), path.join(view.runDir, 'final')]) {
    try {
      t = Math.max(t, fs.statSync(p).mtimeMs);
    } catch {
      // not there (yet)
    }
  }
  return Math.round(t);
}

export function searchSummary(view: RunView, live: LiveState | null): SearchSummary {
  const last = view.pending.length ? [...view.pending].sort((a, b) => sampleKey(b) - sampleKey(a))[0] : view.candidates.at(-1);
  const planned = view.stages.length || view.config ? (view.config?.stages ?? []).reduce((a, s, i) => a + (view.stages.find((x) => x.stage === i)?.budget ?? s.networks), 0) : null;
  const best = view.best ?? null;
  const bestRecord = best ? view.candidates.find((c) => c.network.name === best.name || (c.network.dir === best.dir && !c.cachedFrom)) : undefined;
  const stored = view.complete ? (view.stopped ? 'stopped' : 'finished') : 'in progress';
  return {
    id: view.searchId,
    dataset: view.dataset,
    space: runSpaceKind(view),
    controller: view.controller,
    stage: last ? last.stage + 1 : null,
    stages: view.config?.stages.length ?? (view.stages.length || null),
    episode: last ? last.episode : null,
    done: view.candidates.length,
    planned,
    pending: view.pending.length,
    failed: view.candidates.filter((c) => c.failed).length,
    best: best ? { name: bestRecord?.name ?? best.name, accuracy: best.accuracy, notation: best.notation } : null,
    bestFinal: view.bestFinal ? { name: view.bestFinal.name, accuracy: view.bestFinal.accuracy } : null,
    stored,
    live,
    state: live && live !== 'completed' ? live : stored,
    updated: storeUpdated(view),
  };
}

/** Figure 4 as the live page draws it: the report's spec, its three layers fed from named datasets the page streams into. */
export function liveProgressSpec(view: RunView): TopLevelSpec {
  const spec = structuredClone(progressSpec(view)) as unknown as {
    layer: { data: unknown; encoding: { x: { scale?: unknown }; color: { scale: { domain: string[]; range: string[] } } } }[];
    width: number | string;
    autosize?: unknown;
    title: unknown;
  };
  const names = ['starts', 'best', 'points'];
  spec.layer.forEach((l, i) => (l.data = { name: names[i] }));
  // The x domain grows with the data (the report fixes it to the networks present when it was written).
  const points = spec.layer[2].encoding.x;
  delete points.scale;
  // Every configured stage has its colour from the start, so that a stage appearing later needs no new spec.
  const stageCount = Math.max(view.config?.stages.length ?? 0, view.stages.length, 1);
  const colors = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#e45756', '#72b7b2', '#eeca3b', '#9d755d'];
  const domain = [...Array.from({ length: stageCount }, (_, i) => `stage ${i + 1}`), 'running best', 'stage start network'];
  const range = [...domain.slice(0, stageCount).map((_, i) => colors[i % colors.length]), '#222222', '#888888'];
  for (const l of spec.layer) {
    l.encoding.color.scale = { domain, range };
    // The report picks the decimals from the data it has; here the data grows, so one decimal always.
    const y = (l.encoding as unknown as { y: { axis?: { format?: string } } }).y;
    if (y.axis) y.axis.format = '.1%';
  }
  spec.width = 'container' as unknown as number;
  // Re-laid out on every update: the axis labels' width changes as the data grows.
  spec.autosize = { type: 'fit-x', contains: 'padding', resize: true };
  return spec as unknown as TopLevelSpec;
}

export interface ChartRows {
  points: ReturnType<typeof progressData>['points'];
  best: ReturnType<typeof progressData>['best'];
  starts: ReturnType<typeof progressData>['starts'];
}

/** Figure 4's rows with order ≥ `from` (1-based order), and all stage-start rules (a handful). */
export function chartRowsFrom(view: RunView, from: number, to = Infinity): ChartRows {
  const d = progressData(view);
  return {
    points: d.points.filter((p) => p.order >= from && p.order < to).map((p) => ({ ...p, series: p.stage })),
    best: d.best.filter((b) => b.order >= from && b.order < to),
    starts: d.starts,
  };
}

/** The lineage tree: start → candidates (with the actions that made them) → stage best → next stage's candidates → final networks. */
export interface TreeNode {
  name: string;
  kind: 'start' | 'candidate' | 'stage-best' | 'final';
  accuracy: number | null;
  metric: 'validation' | 'test';
  notation: string;
  params: number;
  /** How it was made from its parent. */
  via: string;
  status?: string;
  children: TreeNode[];
}

export function lineageTree(view: RunView): TreeNode | null {
  if (!view.start) return null;
  const node = (n: NetworkRef, kind: TreeNode['kind'], via: string, metric: TreeNode['metric'] = 'validation'): TreeNode => ({ name: n.name, kind, accuracy: n.accuracy, metric, notation: n.notation, params: n.params, via, children: [] });
  const root = node(view.start, 'start', '');
  const byName = new Map<string, TreeNode>([['start', root], [view.start.name, root]]);
  const rows = new Map(candidateRows(view).map((r) => [r.name, r]));
  const attach = (parent: string, child: TreeNode) => (byName.get(parent) ?? root).children.push(child);
  const candidateNode = (c: CandidateRecord): TreeNode => {
    const n = { ...node(c.network, 'candidate', c.actions.length ? c.actions.map(describeAction).join('; ') : 'no transformation'), name: c.name, accuracy: isScored(c) ? c.network.accuracy : null, status: rows.get(c.name)?.status };
    byName.set(c.name, n);
    return n;
  };
  for (const s of [...view.stages].sort((a, b) => a.stage - b.stage)) {
    if (s.stage > 0 && s.start && !byName.has(s.start.name)) {
      const source = stageBestSource(view, s.stage - 1);
      const sb = node(s.start, 'stage-best', 'stage best, trained longer');
      byName.set(s.start.name, sb);
      attach(source?.name ?? 'start', sb);
    }
    for (const c of view.candidates.filter((x) => x.stage === s.stage)) attach(c.parent, candidateNode(c));
  }
  // Candidates of stages the view has no stage entry for (should not happen; kept so that none is lost).
  for (const c of view.candidates) if (!byName.has(c.name)) attach(c.parent, candidateNode(c));
  for (const f of view.final) attach(f.from, node(f.network, 'final', 'final training on the full training set', 'test'));
  return root;
}

/** One layer box of the architecture diagram: a part of the notation, split at its top-level commas. */
export interface DiagramPart {
  text: string;
  kind: 'conv' | 'pool' | 'fc' | 'softmax' | 'dense-block' | 'transition' | 'other';
  /** Width (filters, units, growth rate × layers) when the notation gives one. */
  size: number | null;
}

export function diagramParts(notation: string): DiagramPart[] {
  return splitTopLevel(notation).map((text) => {
    const m = /^([A-Z]+)\(([^)]*)\)/.exec(text);
    const kind: DiagramPart['kind'] = !m ? 'other' : ({ C: 'conv', P: 'pool', FC: 'fc', SM: 'softmax', D: 'dense-block', T: 'transition' } as Record<string, DiagramPart['kind']>)[m[1]] ?? 'other';
    let size: number | null = null;
    if (m) {
      const first = m[2].split(',')[0].trim();
      const dense = /^(\d+)\*(\d+)$/.exec(first);
      size = dense ? Number(dense[1]) * Number(dense[2]) : /^\d+$/.test(first) && kind !== 'pool' ? Number(first) : null;
    }
    return { text, kind, size };
  });
}

export interface CandidateDetail {
  searchId: string;
  row: CandidateRow | null;
  pending: PendingRow | null;
  space: 'plain' | 'densenet' | null;
  notation: string;
  diagram: DiagramPart[];
  parentNotation: string | null;
  curve: CurvePoint[];
  curveDone: boolean;
  /** Why the curve could not be read (a damaged file), if so. */
  curveError: string | null;
  /** Whose training the curve is (the original for a reused result). */
  curveOf: string;
  lineage: { name: string; kind: string; accuracy: number | null; metric: string; notation: string; params: number; via: string }[];
  final: { name: string; accuracy: number | null }[];
}

/** Everything the candidate page shows, or null when the search has no such candidate (evaluated or pending). */
export function candidateDetail(view: RunView, name: string): CandidateDetail | null {
  const rows = candidateRows(view);
  const row = rows.find((r) => r.name === name) ?? null;
  const pending = row ? null : (pendingRows(view).find((p) => p.name === name) ?? null);
  if (!row && !pending) return null;
  const record = view.candidates.find((c) => c.name === name);
  const curveSource = record?.cachedFrom ? (view.candidates.find((c) => c.name === record.cachedFrom) ?? record) : (record ?? view.pending.find((p) => p.name === name)!);
  let curve: { points: CurvePoint[]; done: boolean } = { points: [], done: false };
  let curveError: string | null = null;
  const jobDir = candidateJobDir(view, curveSource);
  try {
    if (fs.existsSync(jobDir)) curve = trainingCurve(jobDir);
    // A run store moved since: the recorded network folder's job is its parent folder.
    else if (record) curve = trainingCurve(path.dirname(resolveNetworkDir(view, record.network.dir)));
  } catch (err) {
    // The rest of the page still shows; the page says why there is no curve.
    curveError = (err as Error).message;
  }
  const chain = lineageTo(view, name);
  const lineage = (chain.length ? chain : []).map((s) => ({
    name: s.name,
    kind: s.kind,
    accuracy: s.accuracy,
    metric: s.metric,
    notation: s.notation,
    params: s.params,
    via: !s.via ? '' : s.via.kind === 'transform' ? (s.via.actions.length ? s.via.actions.map(describeAction).join('; ') : 'no transformation') : s.via.kind === 'train-longer' ? 'stage best, trained longer' : 'final training',
  }));
  if (!record && pending) {
    const parentStep = lineageTo(view, pending.parent);
    lineage.splice(0, lineage.length, ...parentStep.map((s) => ({ name: s.name, kind: s.kind, accuracy: s.accuracy, metric: s.metric, notation: s.notation, params: s.params, via: '' })));
    lineage.push({ name, kind: 'candidate', accuracy: null, metric: 'validation', notation: pending.notation, params: pending.params, via: pending.actions || 'no transformation' });
  }
  const notation = row?.notation ?? pending!.notation;
  const parentStep = lineage.length >= 2 ? lineage[lineage.length - 2] : null;
  return {
    searchId: view.searchId,
    row,
    pending,
    space: runSpaceKind(view),
    notation,
    diagram: diagramParts(notation),
    parentNotation: parentStep?.notation ?? null,
    curve: curve.points,
    curveDone: curve.done,
    curveError,
    curveOf: curveSource.name,
    lineage,
    final: view.final.filter((f) => f.from === name).map((f) => ({ name: f.network.name, accuracy: f.network.accuracy })),
  };
}

/** Final networks against the start network and the best candidate (the page's results table). */
export function finalRows(view: RunView): { name: string; from: string; notation: string; params: number; searchAccuracy: number | null; testAccuracy: number | null }[] {
  const byName = new Map(view.candidates.map((c) => [c.name, c]));
  return [...view.final]
    .sort((a, b) => a.network.name.localeCompare(b.network.name, undefined, { numeric: true }))
    .map((f) => ({ name: f.network.name, from: f.from, notation: f.network.notation, params: f.network.params, searchAccuracy: byName.get(f.from)?.network.accuracy ?? null, testAccuracy: f.network.accuracy }));
}

export function stageRows(view: RunView): { stage: number; state: string; start: { name: string; accuracy: number | null; notation: string; params: number } | null; networks: number; budget: number | null; mean: number | null; best: { name: string; accuracy: number | null } | null; betterThanStart: number | null }[] {
  return view.stages.map((s) => {
    const cands = view.candidates.filter((c) => c.stage === s.stage);
    const scored = cands.filter(isScored);
    const best = bestCandidate(cands);
    const mean = scored.length ? scored.reduce((a, c) => a + (c.network.accuracy ?? 0), 0) / scored.length : null;
    const startAcc = s.start?.accuracy ?? null;
    return {
      stage: s.stage + 1,
      state: s.recorded ? 'finished' : 'in progress',
      start: s.start ? { name: s.start.name, accuracy: s.start.accuracy, notation: s.start.notation, params: s.start.params } : null,
      networks: cands.length,
      budget: s.budget,
      mean,
      best: best ? { name: best.name, accuracy: best.network.accuracy } : null,
      betterThanStart: startAcc === null ? null : scored.filter((c) => (c.network.accuracy ?? 0) > startAcc).length,
    };
  });
}

// ---- Comparison (Figure 5, with bands over seeds) ----------------------------------------------------------------

export interface CompareRow {
  group: string;
  run: string;
  episode: number;
  networks: number;
  metric: 'episode mean' | 'running best';
  accuracy: number;
}

export interface BandRow {
  group: string;
  episode: number;
  metric: 'episode mean' | 'running best';
  networks: number;
  mean: number;
  lo: number;
  hi: number;
  runs: number;
}

/**
 * The group a run belongs to for bands: its controller and the search name without a trailing seed suffix
 * ("-seed3", "-s3"); runs of one group are seeds of the same search.
 */
export function compareGroup(view: RunView): string {
  const base = view.searchId.replace(/[-_](?:seed|s)\d+$/i, '');
  return `${runLabel(view).split(':')[0]}: ${base}`;
}

export function compareData(views: RunView[]): { rows: CompareRow[]; bands: BandRow[] } {
  const rows: CompareRow[] = [];
  for (const v of views) for (const r of episodeRows(v, v.searchId)) rows.push({ group: compareGroup(v), run: r.run, episode: r.episode, networks: r.networks, metric: r.metric, accuracy: r.accuracy });
  const groups = new Map<string, CompareRow[]>();
  for (const r of rows) {
    const k = `${r.group}\u0000${r.metric}\u0000${r.episode}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const bands: BandRow[] = [];
  for (const rs of groups.values()) {
    const runs = new Set(rs.map((r) => r.run)).size;
    if (runs < 2) continue;
    const accs = rs.map((r) => r.accuracy);
    bands.push({ group: rs[0].group, episode: rs[0].episode, metric: rs[0].metric, networks: Math.round(rs.reduce((a, r) => a + r.networks, 0) / rs.length), mean: accs.reduce((a, b) => a + b, 0) / accs.length, lo: Math.min(...accs), hi: Math.max(...accs), runs });
  }
  return { rows, bands };
}

/** Figure 5 for any number of runs: per-episode mean and running best, one line per run, a min–max band per group of seeds. */
export function compareLiveSpec(views: RunView[]): TopLevelSpec {
  const { rows, bands } = compareData(views);
  const fmt = accuracyAxisFormat(rows.map((r) => r.accuracy));
  const y = { type: 'quantitative', title: 'validation accuracy', axis: { format: fmt }, scale: { zero: false } };
  const color = { field: 'group', type: 'nominal', title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 400 } };
  const panel = (metric: 'episode mean' | 'running best') => ({
    width: 380,
    height: 280,
    title: metric,
    layer: [
      {
        data: { name: 'bands' },
        transform: [{ filter: { field: 'metric', equal: metric } }],
        mark: { type: 'area', opacity: 0.2 },
        encoding: { x: { field: 'episode', type: 'quantitative' }, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
      },
      {
        data: { name: 'rows' },
        transform: [{ filter: { field: 'metric', equal: metric } }],
        mark: { type: 'line', strokeWidth: 1.6, point: { filled: true, size: 28 } },
        encoding: {
          x: { field: 'episode', type: 'quantitative', title: 'episode (in sampling order)', axis: { tickMinStep: 1, format: 'd' } },
          y: { ...y, field: 'accuracy' },
          color,
          detail: { field: 'run', type: 'nominal' },
          tooltip: [{ field: 'run' }, { field: 'episode' }, { field: 'networks' }, { field: 'metric' }, { field: 'accuracy', format: '.2%' }],
        },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Searches side by side (cf. Figure 5)', subtitle: views.map((v) => `${v.searchId} (${v.candidates.length} networks)`).join(' · '), anchor: 'start' },
    datasets: { rows, bands },
    hconcat: [panel('episode mean'), panel('running best')],
    resolve: { scale: { color: 'shared' } },
  } as unknown as TopLevelSpec;
}

export const CSV_COLUMNS: (keyof CandidateRow)[] = ['order', 'name', 'stage', 'episode', 'index', 'parent', 'actions', 'notation', 'params', 'accuracy', 'runningBest', 'status', 'diverged', 'cachedFrom', 'maxAbsDiff', 'failed'];

/** RFC 4180 CSV of the candidate rows; a cell that a spreadsheet would run as a formula is prefixed with a quote. */
export function rowsCsv(rows: CandidateRow[]): string {
  return toCsv(CSV_COLUMNS, rows);
}

/** RFC 4180 CSV of any rows, the given columns in order (formula-like text cells prefixed with a quote). */
export function toCsv<T>(columns: (keyof T)[], rows: T[]): string {
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    let s = String(v);
    if (/^[=+\-@\t\r]/.test(s) && typeof v === 'string') s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(','), ...rows.map((r) => columns.map((k) => cell(r[k])).join(','))].join('\r\n') + '\r\n';
}

export { lineages };
