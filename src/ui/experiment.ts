import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite/build/index';
import { type Comparison, METRICS, METRIC_LABELS, compareExperiment } from '../experiment/compare';
import { type ExperimentView, loadExperiment, readExperimentRecord } from '../experiment/results';
import { bands, experimentFig5Spec } from '../report/compare-experiment';
import { ExperimentLayout, RunLayout } from '../store/layout';
import type { LiveState } from './model';

/**
 * Experiments (issue 21) on the dashboard: the list's row and the experiment page's payload, from H4's view
 * (src/experiment/results.ts loadExperiment), comparison and statistics (src/experiment/compare.ts compareExperiment:
 * bootstrap CIs, Wilcoxon signed-rank p-values) and Fig. 5 (src/report/compare-experiment.ts experimentFig5Spec) —
 * the numbers `eas compare` prints, shown as tables, with links from every arm and seed to its search's page.
 */

/** Whether `<root>/<id>` holds an experiment (its experiment.json). */
export function isExperimentDir(root: string, id: string): boolean {
  return fs.existsSync(new ExperimentLayout(path.join(root, id)).record());
}

export interface ExperimentSummary {
  id: string;
  kind: 'experiment';
  arms: { name: string; kind: 'search' | 'reference' }[];
  seeds: number[];
  /** Children ended (completed or failed) / planned. */
  done: number;
  planned: number;
  completed: number;
  failed: number;
  /** Children with a result in the run store whose parent has not recorded their end yet (e.g. still finishing). */
  stored: 'finished' | 'in progress';
  live: LiveState | null;
  state: string;
  /** Best mean final test accuracy over the arms, and its arm. */
  best: { arm: string; mean: number } | null;
  updated: number;
  error?: string;
}

function updatedOf(root: string, view: ExperimentView): number {
  const layout = new ExperimentLayout(path.join(root, view.record.experimentId));
  let t = 0;
  for (const p of [layout.dir, path.dirname(layout.child('x')), layout.summary()]) {
    try {
      t = Math.max(t, fs.statSync(p).mtimeMs);
    } catch {
      // not there yet
    }
  }
  return Math.round(t);
}

export function experimentSummary(root: string, view: ExperimentView, comparison: Comparison, live: LiveState | null): ExperimentSummary {
  const ended = view.children.filter((c) => c.outcome !== null);
  const stored = view.complete ? 'finished' : 'in progress';
  const means = comparison.arms.filter((a) => a.metrics.finalTest).map((a) => ({ arm: a.arm, mean: a.metrics.finalTest!.mean }));
  const best = means.length ? means.reduce((a, b) => (b.mean > a.mean ? b : a)) : null;
  return {
    id: view.record.experimentId,
    kind: 'experiment',
    arms: view.record.arms,
    seeds: view.record.seeds,
    done: ended.length,
    planned: view.children.length,
    completed: ended.filter((c) => c.outcome!.status === 'completed').length,
    failed: ended.filter((c) => c.outcome!.status === 'failed').length,
    stored,
    live,
    state: live && live !== 'completed' ? live : stored,
    best,
    updated: updatedOf(root, view),
  };
}

/** One child as the page's grid and the CSV give it. */
export interface ChildRow {
  id: string;
  arm: string;
  kind: 'search' | 'reference';
  seed: number;
  /** completed / failed (from the experiment's record), else what the run store shows: running, or planned. */
  status: 'completed' | 'failed' | 'running' | 'planned';
  /** Whether the child's folder is a search the dashboard has a page for. */
  page: boolean;
  finalTest: number | null;
  bestVal: number | null;
  params: number | null;
  wallSeconds: number | null;
  startVal: number | null;
  evaluated: number;
  error: string | null;
}

export function childRows(root: string, view: ExperimentView): ChildRow[] {
  return view.children.map((c) => {
    const dir = path.join(root, c.id);
    const layout = new RunLayout(dir);
    const isSearch = c.kind === 'search' && (fs.existsSync(layout.result()) || fs.existsSync(layout.config()) || fs.existsSync(layout.start()));
    const status = c.outcome ? c.outcome.status : fs.existsSync(dir) ? 'running' : 'planned';
    const m = c.metrics;
    return {
      id: c.id,
      arm: c.arm,
      kind: c.kind,
      seed: c.seed,
      status,
      page: isSearch,
      finalTest: m?.finalTest ?? null,
      bestVal: m?.bestVal ?? null,
      params: m?.params ?? null,
      wallSeconds: m?.wallSeconds ?? null,
      startVal: m?.startVal ?? null,
      evaluated: m?.runningBest.length ?? 0,
      error: c.outcome?.error ?? null,
    };
  });
}

export const CHILD_CSV_COLUMNS: (keyof ChildRow)[] = ['id', 'arm', 'kind', 'seed', 'status', 'finalTest', 'bestVal', 'params', 'wallSeconds', 'startVal', 'evaluated', 'error'];

/** Fig. 5 for the page: H4's figure, sized to the page's column. */
export function experimentPageSpec(c: Comparison): TopLevelSpec | null {
  if (!c.curves.length) return null;
  const spec = experimentFig5Spec(c) as unknown as { width: number | string; autosize?: unknown };
  spec.width = 'container';
  spec.autosize = { type: 'fit-x', contains: 'padding' };
  return spec as unknown as TopLevelSpec;
}

export interface ExperimentPayload {
  summary: ExperimentSummary;
  comparison: Comparison;
  metrics: { key: string; label: string }[];
  children: ChildRow[];
  /** Per arm and networks evaluated: min, max and mean over the seeds (the bands of Fig. 5). */
  bands: ReturnType<typeof bands>;
  spec: TopLevelSpec | null;
}

/** Everything the experiment page shows. Throws (with the file named) when the experiment cannot be read. */
export function experimentPayload(root: string, id: string, live: LiveState | null): ExperimentPayload {
  const view = loadExperiment(root, id);
  const comparison = compareExperiment(view);
  return {
    summary: experimentSummary(root, view, comparison, live),
    comparison,
    metrics: METRICS.map((m) => ({ key: m, label: METRIC_LABELS[m] })),
    children: childRows(root, view),
    bands: bands(comparison),
    spec: experimentPageSpec(comparison),
  };
}

/** The child ids of an experiment (to sync them from an object store before reading). */
export function experimentChildIds(root: string, id: string): string[] {
  try {
    return readExperimentRecord(new ExperimentLayout(path.join(root, id)).record()).children.map((c) => c.id);
  } catch {
    return [];
  }
}
