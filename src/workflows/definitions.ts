import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';
import type { NetworkRef } from '../activities/contract';

/** Shared by the workflow and its clients (CLI, tests): names of the query, signals, update and search attributes. */

export const SEARCH_WORKFLOW_TYPE = 'searchWorkflow';

export interface RunningTask {
  kind: 'prepare' | 'train-start' | 'sample' | 'transform' | 'train' | 'update' | 'train-best' | 'final' | 'result';
  name: string;
}

export interface SearchProgress {
  searchId: string;
  phase: 'start' | 'search' | 'stage-best' | 'final' | 'done';
  /** 1-based stage number, and how many stages there are. */
  stage: number;
  stages: number;
  episode: number;
  /** Networks evaluated so far in this stage and in all stages; what is planned. */
  evaluatedInStage: number;
  /** Of those, candidates that failed for good (recorded with reward 0; the search went on). */
  failedInStage: number;
  plannedInStage: number;
  evaluatedTotal: number;
  plannedTotal: number;
  policyUpdates: number;
  best: NetworkRef | null;
  running: RunningTask[];
  paused: boolean;
  /** Why the search paused itself; null when it did not (running, or paused by `eas pause`). */
  pauseReason: PauseReason | null;
  /** Candidates held by that pause: their failed step runs again after `eas resume`. */
  held: string[];
  stopping: boolean;
}

/**
 * The search paused itself: the last `failures` candidates failed for good with the same error type (the config's
 * pauseAfterFailures; src/search/rules.ts repeatedFailure). `eas resume` clears it; the candidates held by the pause
 * then try their failed step again.
 */
export interface PauseReason {
  failures: number;
  /** The failure type (ApplicationFailure type, e.g. DataUnavailable) and the step that failed. */
  type: string;
  step: 'transform' | 'train' | 'checkpoint';
  /** The candidate whose failure completed the run, and the first line of its error. */
  candidate: string;
  message: string;
}

/** One line for people (`eas status`, the Web UI memo, the workflow log). */
export function describePause(r: PauseReason, searchId: string): string {
  return `paused itself: the last ${r.failures} candidates failed with the same error, ${r.type} (${r.step}; latest ${r.candidate}: ${r.message}); fix the cause, then \`eas resume ${searchId}\``;
}

export const progressQuery = defineQuery<SearchProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Finish the running episode, then final-train what exists. */
export const stopSignal = defineSignal('stop');
/** Add networks to a stage's budget (1-based stage; default the current one); returns the new budget. */
export const extendStageUpdate = defineUpdate<number, [{ networks: number; stage?: number }]>('extendStage');

export const SA_DATASET = defineSearchAttributeKey('EasDataset', 'KEYWORD');
export const SA_STAGE = defineSearchAttributeKey('EasStage', 'INT');
export const SA_BEST_ACCURACY = defineSearchAttributeKey('EasBestAccuracy', 'DOUBLE');
export const SEARCH_ATTRIBUTES = [SA_DATASET, SA_STAGE, SA_BEST_ACCURACY];
