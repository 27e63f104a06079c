import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExperimentLayout, RunLayout, referencePaths } from '../store/layout';
import { readSearchResult } from '../store/result';
import { type RunStore, openStore } from '../store/storage';
import { type ChildOutcome, ChildOutcomeSchema, type ChildPlan, type ExperimentRecord, ExperimentRecordSchema, type ReferenceRecord, ReferenceRecordSchema } from './records';

/**
 * An experiment as the run store holds it (src/store/layout.ts ExperimentLayout): the plan, each child's outcome, and
 * the numbers `eas compare` works with, per child. Readable while the experiment runs: unfinished children have no
 * metrics yet.
 */

export interface ChildMetrics {
  /** Test accuracy of the final network: a search's top-1 (its best candidate by validation, trained by the final recipe), the reference's network. */
  finalTest: number | null;
  /** Best validation accuracy among the search's candidates (null for the reference: it evaluates no candidates). */
  bestVal: number | null;
  /** Parameters of that final network. */
  params: number | null;
  /** Wall time of the child as its parent saw it, seconds (null until it ends). */
  wallSeconds: number | null;
  /** Running best validation accuracy after each evaluated network, in evaluation order (Fig. 5); empty for the reference. */
  runningBest: number[];
  /** Validation accuracy of the trained start network (the same for every arm of a seed). */
  startVal: number | null;
}

export interface ChildView extends ChildPlan {
  outcome: ChildOutcome | null;
  metrics: ChildMetrics | null;
}

export interface ExperimentView {
  root: string;
  record: ExperimentRecord;
  children: ChildView[];
  /** Every child ended (completed or failed). */
  complete: boolean;
}

function readJson(file: string, what: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read ${what} (${(err as Error).message})`, { cause: err });
  }
}

/** Running maximum of the accuracies measured so far (a failed candidate, null, keeps the previous best). */
export function runningBest(accuracies: readonly (number | null)[]): number[] {
  const out: number[] = [];
  let best = -Infinity;
  for (const a of accuracies) {
    if (a !== null && a > best) best = a;
    out.push(best === -Infinity ? NaN : best);
  }
  return out;
}

function searchMetrics(root: string, id: string): Omit<ChildMetrics, 'wallSeconds'> | null {
  const file = new RunLayout(path.join(root, id)).result();
  if (!fs.existsSync(file)) return null;
  const r = readSearchResult(file);
  const top1 = r.final.find((f) => f.network.name === 'top-1') ?? r.final[0] ?? null;
  return {
    finalTest: top1?.network.accuracy ?? null,
    bestVal: r.best?.accuracy ?? null,
    params: top1?.network.params ?? null,
    runningBest: runningBest(r.candidates.map((c) => (c.failed ? null : c.network.accuracy))),
    startVal: r.start.accuracy,
  };
}

export function readReferenceRecord(file: string): ReferenceRecord {
  const r = ReferenceRecordSchema.safeParse(readJson(file, 'the reference record'));
  if (!r.success) throw new Error(`${file}: not a reference record: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

function referenceMetrics(root: string, id: string): Omit<ChildMetrics, 'wallSeconds'> | null {
  const file = referencePaths(path.join(root, id)).record;
  if (!fs.existsSync(file)) return null;
  const r = readReferenceRecord(file);
  return { finalTest: r.network.accuracy, bestVal: null, params: r.network.params, runningBest: [], startVal: r.start.accuracy };
}

export function readExperimentRecord(file: string): ExperimentRecord {
  const r = ExperimentRecordSchema.safeParse(readJson(file, 'the experiment record'));
  if (!r.success) throw new Error(`${file}: not an experiment record: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** The experiment `experimentId` in the run store at `root` (absolute). */
export function loadExperiment(root: string, experimentId: string): ExperimentView {
  const layout = new ExperimentLayout(path.join(root, experimentId));
  const recordFile = layout.record();
  if (!fs.existsSync(recordFile)) throw new Error(`${recordFile} does not exist: no experiment "${experimentId}" in the run store ${root} (start one with \`eas experiment --config <file>\`, or pass --runs <root>)`);
  const record = readExperimentRecord(recordFile);
  const children = record.children.map((plan): ChildView => {
    const outFile = layout.child(plan.id);
    let outcome: ChildOutcome | null = null;
    if (fs.existsSync(outFile)) {
      const r = ChildOutcomeSchema.safeParse(readJson(outFile, 'a child outcome'));
      if (!r.success) throw new Error(`${outFile}: not a child outcome: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      outcome = r.data;
    }
    const m = outcome?.status === 'failed' ? null : plan.kind === 'search' ? searchMetrics(root, plan.id) : referenceMetrics(root, plan.id);
    const metrics = m ? { ...m, wallSeconds: outcome ? (outcome.endedAt - outcome.startedAt) / 1000 : null } : null;
    return { ...plan, outcome, metrics };
  });
  return { root, record, children, complete: children.every((c) => c.outcome !== null) };
}

/**
 * An experiment's records and every child's folder (but its epoch checkpoints: they are for resuming, not for readers)
 * made readable on this host: on an object store pulled into this host's cache, on a directory as they are. `store`
 * is an opened store, or the `--runs` value (default: $EAS_STORAGE_ROOT or ./runs). Returns the local root.
 */
export async function pullExperiment(store: RunStore | string | undefined, experimentId: string): Promise<string> {
  const s = typeof store === 'object' ? store : openStore('runs', store);
  if (s.kind === 's3' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(experimentId)) {
    await s.pullAll(experimentId);
    const record = new ExperimentLayout(path.join(s.root, experimentId)).record();
    if (fs.existsSync(record)) await Promise.all(readExperimentRecord(record).children.map((c) => s.pullAll(c.id, { except: /\/work\// })));
  }
  return s.root;
}
