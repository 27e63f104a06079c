/**
 * Orchestration overhead of a search: a real Temporal dev server, the real control worker (sampling, transforms with
 * preservation checks, policy updates, results, all in its control child processes) and a training worker whose
 * training is a no-op (it publishes the transformed network as "trained" with a deterministic pseudo-accuracy). Prints
 * the overhead per candidate, its share of one real epoch of the Table-1 start net on Fashion-MNIST (eas's own trainer
 * on the fastest engine it finds here, `backend: auto`), and from the workflow's history the longest workflow task
 * (WorkflowTaskStarted → Completed/TimedOut) and how many workflow tasks timed out.
 *
 *   npm run bench:overhead -- [--json] [--networks N] [--per-episode K] [--epoch-seconds S] [--store DIR]
 *
 * The run store goes to a temporary folder removed at the end, or with --store DIR to DIR, kept (bench/ui.ts measures
 * the dashboard on it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { findTemporalCli } from '../src/temporal/cli-path';
import { DEV_SERVER_ARGS } from '../src/dev/server';
import { createControlWorker } from '../src/workers/control';
import { startOrAttachSearch } from '../src/cli/search-client';
import { SEARCH_ATTRIBUTES } from '../src/workflows/definitions';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TrainNetworkInputSchema, type TrainNetworkInput, type TrainNetworkOutput } from '../src/activities/contract';
import { jobPaths } from '../src/store/layout';
import { networkRef } from '../src/store/network-ref';
import { inStore, storageRoot } from '../src/store/root';
import { deriveSeed } from '../src/util/seed';
import { runTrainJob } from '../src/train/process';
import { TABLE1_START, parseNotation } from '../src/arch';
import { initWeights } from '../src/nn';
import { saveNetwork } from '../src/checkpoint';
import { Rng } from '../src/util/rng';
import { initBackend } from '../src/backend';

const EventType = temporal.api.enums.v1.EventType;

const opts = new Command()
  .option('--json', 'one JSON object')
  .option('--networks <n>', 'networks per stage', (v) => Number(v), 24)
  .option('--per-episode <k>', 'networks per episode', (v) => Number(v), 8)
  .option('--epoch-seconds <s>', 'skip measuring the reference epoch; use this many seconds', (v) => Number(v))
  .option('--store <dir>', 'write the run store here and keep it (default: a temporary folder, removed at the end)')
  .parse()
  .opts<{ json?: boolean; networks: number; perEpisode: number; epochSeconds?: number; store?: string }>();

/**
 * The no-op training: the untrained child is "trained" (its files hard-linked: a real trainer writes its network as part
 * of the training the reference epoch times, so a copy here would count that write twice; published checkpoints are
 * never modified in place, so the link is safe); its accuracy is a deterministic draw from its name.
 */
async function trainNetwork(raw: TrainNetworkInput): Promise<TrainNetworkOutput> {
  const input = TrainNetworkInputSchema.parse(raw);
  const root = storageRoot(input.storageRoot);
  const trained = inStore(root, jobPaths(input.jobDir).trained);
  if (!fs.existsSync(trained)) linkTree(inStore(root, input.from), trained);
  const accuracy = 0.5 + 0.4 * (((deriveSeed(1, input.name) >>> 0) % 1000) / 1000);
  return { network: networkRef(root, input.name, trained, accuracy), trainAccuracy: accuracy, loss: 1 - accuracy, epochs: input.epochs, diverged: false, resumedFromEpoch: 0 };
}

/** Hard-link every file of `from` into a new `to` (written under a temporary name, then renamed, like any artifact). */
function linkTree(from: string, to: string): void {
  const tmp = `${to}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const walk = (src: string, dst: string): void => {
    fs.mkdirSync(dst, { recursive: true });
    for (const e of fs.readdirSync(src, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(src, e.name), path.join(dst, e.name));
      else fs.linkSync(path.join(src, e.name), path.join(dst, e.name));
    }
  };
  walk(from, tmp);
  fs.renameSync(tmp, to);
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN);

/**
 * Workflow-task figures over every run of the search (continue-as-new chains runs; followed back from the latest one
 * through WorkflowExecutionStarted.continuedExecutionRunId).
 */
interface ActivityTimes {
  count: number;
  /** Started → Completed/Failed, summed and at most. */
  totalMs: number;
  maxMs: number;
  /** Scheduled → Started (waiting for a free slot or a poll), summed. */
  waitMs: number;
}

async function workflowTaskStats(
  client: Client,
  workflowId: string,
): Promise<{ runs: number; workflowTasks: number; longestWorkflowTaskMs: number; timedOutWorkflowTasks: number; failedWorkflowTasks: number; activities: Record<string, ActivityTimes> }> {
  const activities: Record<string, ActivityTimes> = {};
  let runId: string | undefined;
  let runs = 0;
  let tasks = 0;
  let longest = 0;
  let timedOut = 0;
  let failed = 0;
  do {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs++;
    let started: number | undefined;
    let prev: string | undefined;
    const scheduled = new Map<string, string>();
    const activityStarted = new Map<string, number>();
    const activityScheduled = new Map<string, number>();
    for (const e of history.events ?? []) {
      const t = ms(e.eventTime);
      switch (e.eventType) {
        case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
          scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?');
          activityScheduled.set(String(e.eventId), t);
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
          activityStarted.set(String(e.activityTaskStartedEventAttributes?.scheduledEventId), t);
          break;
        case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: {
          const a = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
          const id = String(a?.scheduledEventId);
          const name = scheduled.get(id) ?? '?';
          const d = t - (activityStarted.get(id) ?? t);
          const rec = (activities[name] ??= { count: 0, totalMs: 0, maxMs: 0, waitMs: 0 });
          rec.count++;
          rec.waitMs += Math.round((activityStarted.get(id) ?? t) - (activityScheduled.get(id) ?? t));
          rec.totalMs += Math.round(d);
          rec.maxMs = Math.max(rec.maxMs, Math.round(d));
          break;
        }
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
          prev = e.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          started = t;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
          // A schedule-to-start timeout has no started task: only started ones have a processing time.
          if (started !== undefined) {
            tasks++;
            longest = Math.max(longest, t - started);
          }
          if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) timedOut++;
          if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) failed++;
          started = undefined;
          break;
      }
    }
    runId = prev;
  } while (runId);
  return { runs, workflowTasks: tasks, longestWorkflowTaskMs: Math.round(longest), timedOutWorkflowTasks: timedOut, failedWorkflowTasks: failed, activities };
}

async function referenceEpochSeconds(dir: string): Promise<{ seconds: number; backend: string }> {
  const chosen = await initBackend({ log: () => {} });
  const arch = parseNotation(TABLE1_START, [28, 28, 1]);
  const start = path.join(dir, 'ref-start');
  await saveNetwork(start, arch, initWeights(arch, Rng.fromSeed(1)));
  const t0 = performance.now();
  const r = await runTrainJob({ network: start, dataset: { name: 'fashion-mnist', seed: 1 }, mode: 'search', epochs: 1, seed: 1, workDir: path.join(dir, 'ref-work'), output: path.join(dir, 'ref-out'), backend: 'auto' });
  const wall = (performance.now() - t0) / 1000;
  return { seconds: Math.max(wall, r.seconds), backend: chosen.name };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const root = opts.store ? path.resolve(opts.store) : fs.mkdtempSync(path.join(os.tmpdir(), 'eas-bench-overhead-'));
  fs.mkdirSync(root, { recursive: true });
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: findTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES, extraArgs: [...DEV_SERVER_ARGS] } });
  const name = `overhead-${Date.now()}`;
  const stages = [
    { networks: opts.networks, networksPerEpisode: opts.perEpisode, widerSteps: 4, deeperSteps: 5, epochs: 1, bestEpochs: 1 },
    { networks: opts.networks, networksPerEpisode: opts.perEpisode, widerSteps: 4, deeperSteps: 5, epochs: 1, bestEpochs: 0 },
  ];
  let searchSeconds: number;
  let history: Awaited<ReturnType<typeof workflowTaskStats>>;
  try {
    const control = await createControlWorker({ connection: env.nativeConnection, taskQueue: `${name}-control` });
    const train = await Worker.create({ connection: env.nativeConnection, taskQueue: `${name}-train`, activities: { trainNetwork }, maxConcurrentActivityTaskExecutions: 4 });
    const t0 = performance.now();
    await control.runUntil(
      train.runUntil(async () => {
        const { handle } = await startOrAttachSearch(env.client, {
          name,
          dataset: { name: 'fashion-mnist', validationSize: 5000 },
          startNet: { notation: TABLE1_START, epochs: 1 },
          stages,
          final: { topK: 2, epochs: 1 },
          seed: 1,
          storage: { root },
          taskQueues: { control: `${name}-control`, train: `${name}-train` },
        });
        await handle.result();
      }),
    );
    searchSeconds = (performance.now() - t0) / 1000;
    history = await workflowTaskStats(env.client, name);
  } finally {
    await env.teardown();
  }
  const candidates = stages.reduce((a, s) => a + s.networks, 0);
  const perCandidateMs = (searchSeconds * 1000) / candidates;
  const ref = opts.epochSeconds !== undefined ? { seconds: opts.epochSeconds, backend: '(given)' } : await referenceEpochSeconds(root);
  const epochSeconds = ref.seconds;
  const out = {
    candidates,
    episodes: stages.reduce((a, s) => a + Math.ceil(s.networks / s.networksPerEpisode), 0),
    searchSeconds: +searchSeconds.toFixed(2),
    overheadPerCandidateMs: +perCandidateMs.toFixed(1),
    referenceEpochSeconds: +epochSeconds.toFixed(2),
    referenceBackend: ref.backend,
    overheadShareOfOneEpoch: +(perCandidateMs / 1000 / epochSeconds).toFixed(4),
    workflowRuns: history.runs,
    workflowTasks: history.workflowTasks,
    longestWorkflowTaskMs: history.longestWorkflowTaskMs,
    timedOutWorkflowTasks: history.timedOutWorkflowTasks,
    failedWorkflowTasks: history.failedWorkflowTasks,
    activities: history.activities,
    loadAverage: os.loadavg().map((l) => +l.toFixed(2)),
    note: 'per candidate: wall time of the whole search (prepare with dataset statistics, sampling, transforms (Net2Net with BN statistics mapped from the parent’s moments on 16 probe images, the preservation check of the noise-free twin on 1, the save), Temporal round trips, policy updates, results) / candidates; training is a no-op (hard links)',
  };
  if (opts.json) console.log(JSON.stringify(out));
  else {
    console.log(`${out.candidates} candidates (${out.episodes} episodes) in ${out.searchSeconds} s with no-op training`);
    console.log(`orchestration overhead: ${out.overheadPerCandidateMs} ms per candidate`);
    console.log(`= ${(out.overheadShareOfOneEpoch * 100).toFixed(2)}% of one Fashion-MNIST epoch of the start net (${out.referenceEpochSeconds} s on ${out.referenceBackend})`);
    console.log(`workflow tasks: ${out.workflowTasks} in ${out.workflowRuns} runs, longest ${out.longestWorkflowTaskMs} ms, ${out.timedOutWorkflowTasks} timed out, ${out.failedWorkflowTasks} failed`);
  }
  if (opts.store) {
    // The reference epoch's scratch networks are not part of the search's store.
    for (const f of ['ref-start', 'ref-work', 'ref-out']) fs.rmSync(path.join(root, f), { recursive: true, force: true });
    console.error(`run store kept: ${path.join(root, name)}`);
  } else fs.rmSync(root, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
