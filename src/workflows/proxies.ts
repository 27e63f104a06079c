import { ActivityFailure, ApplicationFailure, TimeoutFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { RetryPolicy } from '@temporalio/common';
import type { CandidateFailure } from '../activities/contract';
import type { ControlActivities } from '../activities/control';
import { CONTROL_ACTIVITY_TIMEOUTS, NON_RETRYABLE_TYPES } from '../activities/options';
import type { TrainActivities } from '../activities/train';
import type { RetryConfig, SearchConfig } from '../config/search-config';

/**
 * The workflow's typed activity proxies, with their timeouts and retries set here, once (the Temporal TS samples'
 * style): the steps call `acts.transformCandidate(…)` and never repeat options.
 */

/** Bounded attempts with exponential backoff (config.retry), never retrying what the activities call non-retryable. */
export function retryPolicy(r: RetryConfig): RetryPolicy {
  return {
    maximumAttempts: r.maximumAttempts,
    initialInterval: r.initialInterval,
    backoffCoefficient: r.backoffCoefficient,
    maximumInterval: r.maximumInterval,
    nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
  };
}

export function activityProxies(config: SearchConfig) {
  const retry = retryPolicy(config.retry.control);
  // Each control activity has its own timeouts (src/activities/options.ts): the heavy ones heartbeat from a child process.
  const control = <K extends keyof typeof CONTROL_ACTIVITY_TIMEOUTS>(name: K) =>
    proxyActivities<ControlActivities>({ ...CONTROL_ACTIVITY_TIMEOUTS[name], retry })[name];
  // Training goes to the training workers' queue; a missing epoch heartbeat means a lost worker and a retry that resumes.
  const { trainNetwork } = proxyActivities<TrainActivities>({
    taskQueue: config.taskQueues.train,
    startToCloseTimeout: config.timeouts.training,
    heartbeatTimeout: config.timeouts.epochHeartbeat,
    retry: retryPolicy(config.retry.train),
  });
  return {
    prepareSearch: control('prepareSearch'),
    samplePolicy: control('samplePolicy'),
    transformCandidate: control('transformCandidate'),
    updatePolicy: control('updatePolicy'),
    recordStage: control('recordStage'),
    writeResult: control('writeResult'),
    trainNetwork,
  };
}
export type Activities = ReturnType<typeof activityProxies>;

/**
 * An activity that failed for good (non-retryable, or out of attempts or time) as a candidate's failure record; anything
 * else (cancellation, a bug in the workflow) is not a candidate's failure and returns undefined.
 */
export function failureOf(step: 'transform' | 'train', err: unknown): CandidateFailure | undefined {
  if (!(err instanceof ActivityFailure) || isCancellation(err)) return undefined;
  const cause = err.cause;
  const type =
    cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : cause instanceof TimeoutFailure ? 'Timeout' : (cause?.name ?? 'ActivityFailure');
  // A network that cannot be read (src/activities/errors.ts: CheckpointCorrupt / CheckpointMissing) is a checkpoint failure.
  const failedStep = type.startsWith('Checkpoint') ? 'checkpoint' : step;
  return { step: failedStep, type, message: cause?.message || err.message };
}
