import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CandidateRecord, NetworkRef } from '../store/records';
import type { Action } from '../arch';
import { RunLayout } from '../store/layout';
import { type RunView, sameRunPath } from './runview';
import { bestCandidate } from '../search/rules';

/** One network on the way from the start network to a result, and how it was reached from the previous one. */
export interface LineageStep {
  name: string;
  kind: 'start' | 'candidate' | 'stage-best' | 'final';
  notation: string;
  params: number;
  accuracy: number | null;
  /** 'validation' for search networks, 'test' for final ones. */
  metric: 'validation' | 'test';
  /** How this network came from the previous step (empty for the start network). */
  via: { kind: 'transform'; actions: Action[] } | { kind: 'train-longer' } | { kind: 'final-training' } | null;
}

export interface Lineage {
  /** The network the lineage ends at (a final network, or the best candidate when there are no final networks). */
  target: string;
  steps: LineageStep[];
}

export function describeAction(a: Action): string {
  if (a.type === 'wider') return a.layers.length === 0 ? 'Net2Wider (no layer widened)' : `Net2Wider ${a.layers.join(', ')}`;
  return `Net2Deeper block ${a.block}, position ${a.position}${a.kernel !== undefined ? `, kernel ${a.kernel}×${a.kernel}` : ' (FC)'}`;
}

const ref = (n: NetworkRef, kind: LineageStep['kind'], via: LineageStep['via'], metric: LineageStep['metric'] = 'validation'): LineageStep => ({
  name: n.name,
  kind,
  notation: n.notation,
  params: n.params,
  accuracy: n.accuracy,
  metric,
  via,
});

/** Which candidate a stage-best network ("s1-best") was trained from: its checkpoint's startedFrom, else the workflow's rule. */
export function stageBestSource(view: RunView, stage: number): CandidateRecord | undefined {
  const inStage = view.candidates.filter((c) => c.stage === stage);
  const metaFile = path.join(new RunLayout(view.runDir).stageBest(stage), 'trained', 'meta.json');
  if (fs.existsSync(metaFile)) {
    try {
      const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { startedFrom?: unknown };
      if (typeof meta.startedFrom === 'string') {
        const from = meta.startedFrom;
        const found = inStage.find((c) => !c.cachedFrom && sameRunPath(view, c.network.dir, from));
        if (found) return found;
      }
    } catch {
      // fall back to the selection rule below
    }
  }
  return bestCandidate(inStage);
}

/**
 * The chain start → … → `name` for any network of the view (a candidate, a stage best, the start), following each
 * candidate's parent; cached candidates point to the trained original.
 */
export function lineageTo(view: RunView, name: string, seen = new Set<string>()): LineageStep[] {
  if (seen.has(name)) throw new Error(`lineage: cycle at ${name}`);
  seen.add(name);
  if (name === 'start' || (view.start && name === view.start.name)) return view.start ? [ref(view.start, 'start', null)] : [];
  const stageBest = /^s(\d+)-best$/.exec(name);
  if (stageBest) {
    const stage = Number(stageBest[1]) - 1;
    const start = view.stages.find((s) => s.stage === stage + 1)?.start;
    const source = stageBestSource(view, stage);
    const before = source ? lineageTo(view, source.name, seen) : [];
    if (!start) return before;
    return [...before, ref(start, 'stage-best', { kind: 'train-longer' })];
  }
  const c = view.candidates.find((x) => x.name === name);
  if (!c) return [];
  const before = lineageTo(view, c.parent, seen);
  return [...before, { ...ref(c.network, 'candidate', { kind: 'transform', actions: c.actions }), name: c.name }];
}

/** Lineages of the final networks (or of the best candidate when no final network exists yet). */
export function lineages(view: RunView): Lineage[] {
  if (view.final.length > 0) {
    return [...view.final]
      .sort((a, b) => a.network.name.localeCompare(b.network.name, undefined, { numeric: true }))
      .map((f) => ({ target: f.network.name, steps: [...lineageTo(view, f.from), ref(f.network, 'final', { kind: 'final-training' }, 'test')] }));
  }
  const best = bestCandidate(view.candidates);
  return best ? [{ target: best.name, steps: lineageTo(view, best.name) }] : [];
}

