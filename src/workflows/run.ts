import { log, patched, setHandler, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CandidateFailure, CandidateRecord, NetworkRef } from '../activities/contract';
import type { SearchConfig } from '../config/search-config';
import { type Outcome, repeatedFailure } from '../search/rules';
import { RunLayout } from '../store/layout';
import { deriveSeed } from '../util/seed';
import {
  type PauseReason,
  type RunningTask,
  type SearchProgress,
  SA_BEST_ACCURACY,
  SA_DATASET,
  SA_STAGE,
  describePause,
  extendStageUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  stopSignal,
} from './definitions';
import { type Activities, activityProxies } from './proxies';

/** State carried across continue-as-new: references, counters and the current stage's compact records only. */
export interface CarriedState {
  runDir: string;
  start: NetworkRef;
  /** Start network of the current stage (the trained Table-1-style net, or the previous stage's best). */
  stageStart: NetworkRef;
  stage: number;
  episode: number;
  budgets: number[];
  policy: string | null;
  policyUpdates: number;
  /** Records of the current stage (earlier stages live in the run store). */
  candidates: CandidateRecord[];
  evaluatedBefore: number;
  best: NetworkRef | null;
  paused: boolean;
  /** Why the search paused itself (absent in states carried before the rule existed). */
  pauseReason?: PauseReason | null;
  /** The latest candidates' outcomes, for the pause rule (at most config.pauseAfterFailures). */
  recentOutcomes?: Outcome[];
  stopping: boolean;
  phase: 'search' | 'final';
}

/** Everything the steps share within one run of the workflow: config, proxies, the state, and what the handlers change. */
export interface Run {
  readonly config: SearchConfig;
  readonly searchId: string;
  readonly dataSeed: number;
  readonly acts: Activities;
  /** Undefined until the run store and the start network exist. */
  state: CarriedState | undefined;
  phase: SearchProgress['phase'];
  paused: boolean;
  pauseReason: PauseReason | null;
  /** Outcomes of the latest candidates, in the order they came (src/search/rules.ts repeatedFailure). */
  recent: Outcome[];
  /** Candidates waiting for a resume to try their failed step again (none at a continue-as-new: they hold their episode). */
  held: Set<string>;
  stopping: boolean;
  /** Networks per stage; extendStage grows them. */
  budgets: number[];
  running: Map<number, RunningTask>;
  taskSeq: number;
}

export function newRun(config: SearchConfig, carried: CarriedState | undefined): Run {
  return {
    config,
    searchId: workflowInfo().workflowId,
    dataSeed: deriveSeed(config.seed, 'data'),
    acts: activityProxies(config),
    state: carried,
    phase: carried ? (carried.phase === 'final' ? 'final' : 'search') : 'start',
    paused: carried?.paused ?? false,
    pauseReason: carried?.pauseReason ?? null,
    recent: carried?.recentOutcomes ?? [],
    held: new Set(),
    stopping: carried?.stopping ?? false,
    budgets: carried?.budgets ?? config.stages.map((s) => s.networks),
    running: new Map(),
    taskSeq: 0,
  };
}

/** The state to continue as new with: the handlers' changes included. */
export const carry = (run: Run, s: CarriedState): CarriedState => ({
  ...s,
  budgets: run.budgets,
  paused: run.paused,
  pauseReason: run.pauseReason,
  recentOutcomes: run.recent,
  stopping: run.stopping,
});

/** A candidate's final outcome, for the pause rule (only the last config.pauseAfterFailures are kept). */
export function noteOutcome(run: Run, o: Outcome): void {
  const n = run.config.pauseAfterFailures;
  if (n === 0) return;
  run.recent.push({ failed: o.failed ? { step: o.failed.step, type: o.failed.type, message: firstLine(o.failed.message) } : null, cachedFrom: o.cachedFrom });
  if (run.recent.length > n) run.recent.splice(0, run.recent.length - n);
}

/**
 * Whether this failure (of `candidate`, not yet final) pauses the search: it does when it completes a run of
 * config.pauseAfterFailures failures of one type, or when the search already paused itself for this type. Pausing says
 * why (progress query, memo, log).
 */
export function pausesFor(run: Run, candidate: string, failed: CandidateFailure): boolean {
  const n = run.config.pauseAfterFailures;
  if (n === 0 || run.stopping) return false;
  if (run.paused && run.pauseReason?.type === failed.type) return true;
  // Searches that ran before the rule existed replay without it.
  if (!patched('pause-on-failures')) return false;
  const latest = repeatedFailure([...run.recent, { failed, cachedFrom: null }], n);
  if (!latest) return false;
  run.paused = true;
  run.pauseReason = { failures: n, type: latest.type, step: latest.step, candidate, message: firstLine(latest.message) };
  log.warn(`${run.searchId} ${describePause(run.pauseReason, run.searchId)}; the search holds its failing candidates until then (training in flight goes on)`);
  publishVisibility(run);
  return true;
}

const firstLine = (m: string): string => {
  const line = m.split('\n')[0].trim();
  return line.length > 400 ? `${line.slice(0, 397)}...` : line;
};

export const layoutOf = (s: CarriedState): RunLayout => new RunLayout(s.runDir);

/** Runs `p` as a task the progress query lists. */
export async function track<T>(run: Run, task: RunningTask, p: () => Promise<T>): Promise<T> {
  const id = run.taskSeq++;
  run.running.set(id, task);
  try {
    return await p();
  } finally {
    run.running.delete(id);
  }
}

/** Pause, resume and stop signals, the extendStage update (validated before it is accepted), the progress query. */
export function installHandlers(run: Run): void {
  const { config } = run;
  setHandler(pauseSignal, () => void (run.paused = true));
  setHandler(resumeSignal, () => {
    const reason = run.pauseReason;
    run.paused = false;
    run.pauseReason = null;
    if (reason) {
      // A fresh count: the held candidates try again, and only new failures can pause the search again.
      run.recent = [];
      log.info(`${run.searchId} resumed after pausing itself for ${reason.type}; the held candidates try their failed step again`);
      publishVisibility(run);
    }
  });
  setHandler(stopSignal, () => void (run.stopping = true));
  setHandler(
    extendStageUpdate,
    ({ networks, stage }) => {
      const s = (stage ?? (run.state ? run.state.stage + 1 : 1)) - 1;
      run.budgets[s] += networks;
      return run.budgets[s];
    },
    {
      validator: ({ networks, stage }) => {
        if (!Number.isInteger(networks) || networks <= 0) throw new Error('networks must be a positive integer');
        const s = stage ?? (run.state ? run.state.stage + 1 : 1);
        if (!Number.isInteger(s) || s < 1 || s > config.stages.length) throw new Error(`stage must be 1..${config.stages.length}`);
        if (run.state && s - 1 < run.state.stage) throw new Error(`stage ${s} is already finished`);
      },
    },
  );
  setHandler(progressQuery, (): SearchProgress => {
    const state = run.state;
    const stageIdx = state?.stage ?? 0;
    const inStage = state?.candidates.length ?? 0;
    return {
      searchId: run.searchId,
      phase: run.phase,
      stage: Math.min(stageIdx + 1, config.stages.length),
      stages: config.stages.length,
      episode: state?.episode ?? 0,
      evaluatedInStage: inStage,
      failedInStage: state?.candidates.filter((c) => c.failed).length ?? 0,
      plannedInStage: run.budgets[Math.min(stageIdx, run.budgets.length - 1)],
      evaluatedTotal: (state?.evaluatedBefore ?? 0) + inStage,
      plannedTotal: run.budgets.reduce((a, b) => a + b, 0),
      policyUpdates: state?.policyUpdates ?? 0,
      best: state?.best ?? null,
      running: [...run.running.values()],
      paused: run.paused,
      pauseReason: run.pauseReason,
      held: [...run.held],
      stopping: run.stopping,
    };
  });
}

const percent = (a: number | null): string => (a === null ? '–' : `${(a * 100).toFixed(2)}%`);

/** Search attributes (list and filter searches) and memo (what `temporal workflow list` shows). */
export function publishVisibility(run: Run): void {
  const { config, state } = run;
  upsertSearchAttributes([
    { key: SA_DATASET, value: config.dataset.name },
    { key: SA_STAGE, value: (state?.stage ?? 0) + 1 },
    ...(state?.best?.accuracy != null ? [{ key: SA_BEST_ACCURACY, value: state.best.accuracy }] : []),
  ]);
  upsertMemo({
    dataset: config.dataset.name,
    stage: `${(state?.stage ?? 0) + 1}/${config.stages.length}`,
    best: state?.best ? `${percent(state.best.accuracy)} ${state.best.notation}` : null,
    runDir: state?.runDir ?? null,
    // Why the search paused itself (a pause by signal shows in `eas status`).
    paused: run.pauseReason ? describePause(run.pauseReason, run.searchId) : null,
  });
}
