/**
 * Timeouts of the control activities, for the workflow's proxies (plain constants: this module is safe to import from
 * workflow code). The CPU-heavy ones run in a control child process while the activity heartbeats every few seconds,
 * so a lost control worker is noticed after `heartbeatTimeout`, not after `startToCloseTimeout`; the latter bounds a
 * task that hangs, with room for a slow host (measured: a Table-1 transform with 4 wider + 5 deeper steps takes about
 * a second, the first task of a child a few more while tfjs loads; prepareSearch reads the whole training set once).
 */
export const CONTROL_ACTIVITY_TIMEOUTS = {
  /** Creates the run folder, the start network and the data probe; may download the dataset when the config allows. */
  prepareSearch: { startToCloseTimeout: '30m', heartbeatTimeout: '30s' },
  samplePolicy: { startToCloseTimeout: '5m', heartbeatTimeout: '30s' },
  transformCandidate: { startToCloseTimeout: '10m', heartbeatTimeout: '30s' },
  updatePolicy: { startToCloseTimeout: '5m', heartbeatTimeout: '30s' },
  /** Small file writes in the worker itself. */
  recordStage: { startToCloseTimeout: '2m' },
  writeResult: { startToCloseTimeout: '2m' },
} as const;

/** How often an activity heartbeats while its child process works, given its heartbeat timeout. */
export function heartbeatEveryMs(heartbeatTimeoutMs: number | undefined): number {
  return Math.max(200, Math.min(5_000, (heartbeatTimeoutMs ?? 30_000) / 3));
}

/**
 * Failure types the activities throw as non-retryable (what a retry cannot fix); see src/activities/errors.ts.
 * Everything else (a dataset missing on one host, a checkpoint not yet visible, a crashed child) is retried.
 */
export const NON_RETRYABLE_TYPES = ['ConfigError', 'BadInput', 'ArchError', 'CheckpointCorrupt', 'FunctionNotPreserved', 'InputsChanged'] as const;
