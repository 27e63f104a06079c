import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer, tempDir } from '../helpers/temporal';
import { tinySearchConfig } from '../helpers/search';
import { randomImageSet, writeCifar10Dir } from '../helpers/datasets';
import { type WorkerProcess, spawnWorker, stopWorker, waitFor } from '../helpers/processes';
import { startOrAttachSearch } from '../../src/cli/search-client';
import { SEARCH_ATTRIBUTES, type SearchProgress, progressQuery } from '../../src/workflows/definitions';
import { readSearchResult } from '../../src/store/result';
import { RunLayout, candidateName } from '../../src/store/layout';

const EAS = path.join(__dirname, '..', '..', 'bin', 'eas.js');
const eas = (...args: string[]) => promisify(execFile)(process.execPath, [EAS, ...args], { encoding: 'utf8', timeout: 60_000 });

/** Training attempts recorded in a job folder (one line per attempt, src/activities/train.ts). */
const attempts = (jobDir: string): number => (fs.existsSync(path.join(jobDir, 'attempts.jsonl')) ? fs.readFileSync(path.join(jobDir, 'attempts.jsonl'), 'utf8').trim().split('\n').length : 0);

/** Small CIFAR-10 files in the published binary format (random images: the test is about the pause, not accuracy). */
function writeCifar(dataDir: string): void {
  writeCifar10Dir(path.join(dataDir, 'cifar10'), randomImageSet(320, [32, 32, 3], 10, 5), randomImageSet(64, [32, 32, 3], 10, 6));
}

test('a dataset missing on the training host: the search pauses itself after pauseAfterFailures failures naming DataUnavailable; with the data there, `eas resume` completes it', async (t) => {
  const env: TestWorkflowEnvironment = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const root = tempDir('pause-root');
  // Two "hosts" on one machine: the control worker's data folder has CIFAR-10 (it reads the training split once, for the
  // data probe); the training worker's is empty.
  const controlData = tempDir('pause-control-data');
  const trainData = tempDir('pause-train-data');
  writeCifar(controlData);
  const name = `pause-${Date.now()}`;
  const workers: WorkerProcess[] = [];
  try {
    const cfg = tinySearchConfig(name, root, {
      // No dataDir: each host looks in its own EAS_DATA_DIR.
      dataset: { name: 'cifar10', validationSize: 64 },
      // Not trained before the search: with no data on the training host, the start training would fail the workflow.
      startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(10)', epochs: 0 },
      // Stage 1's one candidate fails and is recorded; the stage ends (continue-as-new, the count carried); stage 2's
      // first failure makes the second in a row and pauses the search, its episode mate fails the same way and is held.
      stages: [
        { networks: 1, networksPerEpisode: 1, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
        { networks: 3, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
      ],
      final: { topK: 1, epochs: 1 },
      pauseAfterFailures: 2,
      retry: { train: { maximumAttempts: 2, initialInterval: '1s', maximumInterval: '1s' } },
    });
    const started = Date.now();
    const { handle, config } = await startOrAttachSearch(env.client, cfg);
    workers.push(await spawnWorker('control', env.address, config.taskQueues.control, { EAS_DATA_DIR: controlData }));
    workers.push(await spawnWorker('train', env.address, config.taskQueues.train, { EAS_DATA_DIR: trainData }));

    const paused = await pollProgress(handle, 'the search to pause itself with both stage-2 candidates held', (p) => p.pauseReason !== null && p.held.length === 2, 150_000);
    t.diagnostic(`paused ${((Date.now() - started) / 1000).toFixed(0)} s after the start`);
    const reason = paused.pauseReason!;
    assert.equal(paused.paused, true);
    assert.deepEqual({ ...reason, message: undefined, candidate: undefined }, { failures: 2, type: 'DataUnavailable', step: 'train', candidate: undefined, message: undefined });
    assert.match(reason.message, /^dataset 'cifar10' not found \(downloading not allowed\) on host .*: its files belong in /);
    assert.ok(reason.message.includes(path.join(trainData, 'cifar10')), reason.message);
    // Stage 1's failure is recorded (reward 0); stage 2's are held, not recorded, and hold their episode.
    assert.equal(paused.stage, 2);
    assert.equal(paused.evaluatedTotal, 1);
    assert.equal(paused.evaluatedInStage, 0);
    const stage2 = [0, 1].map((index) => ({ stage: 1, episode: 0, index }));
    assert.deepEqual([...paused.held].sort(), stage2.map(candidateName));
    assert.ok(paused.held.includes(reason.candidate));
    const runDir = path.join(root, name);
    const heldJobs = stage2.map((c) => new RunLayout(runDir).candidate(c));
    assert.deepEqual(heldJobs.map(attempts), [2, 2], 'each held candidate used its retry.train attempts');
    assert.equal(attempts(new RunLayout(runDir).candidate({ stage: 0, episode: 0, index: 0 })), 2);

    // Said in `eas status`, in the Web UI memo and in the workflow log (the control worker's output).
    const status = await eas('status', name, '--address', env.address);
    assert.match(status.stdout, /\[paused: 2 × DataUnavailable\]/);
    assert.match(status.stdout, /paused itself: the last 2 candidates failed with the same error, DataUnavailable \(train; latest .*dataset 'cifar10' not found/);
    assert.match(status.stdout, new RegExp(`eas resume ${name}`));
    assert.match(status.stdout, /held until then: s2-e000-c0[01], s2-e000-c0[01]/);
    t.diagnostic(`eas status: ${status.stdout.trim().replace(/\n/g, ' // ')}`);
    const memo = (await handle.describe()).memo as Record<string, unknown>;
    assert.match(String(memo.paused), /paused itself: the last 2 candidates failed with the same error, DataUnavailable/);
    await waitFor('the workflow log line', () => /paused itself: the last 2 candidates failed with the same error, DataUnavailable/.test(workers[0].output()), 10_000);

    // Nothing goes on while paused (a bounded look: no new attempt within a few seconds).
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(heldJobs.map(attempts), [2, 2]);

    // A control worker restart: the pause, its reason and the held candidates come back from the history.
    await stopWorker(workers[0]);
    workers[0] = await spawnWorker('control', env.address, config.taskQueues.control, { EAS_DATA_DIR: controlData });
    const replayed = await handle.query(progressQuery);
    assert.deepEqual([replayed.pauseReason, [...replayed.held].sort()], [reason, [...paused.held].sort()]);

    // The data arrives on the training host; `eas resume` (the real CLI) clears the pause and the held steps run again.
    writeCifar(trainData);
    const resumedAt = Date.now();
    const resumed = await eas('resume', name, '--address', env.address);
    assert.match(resumed.stdout, /resume: sent to/);
    const result = await Promise.race([handle.result(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the search did not finish within 150 s of the resume')), 150_000).unref())]);
    t.diagnostic(`finished ${((Date.now() - resumedAt) / 1000).toFixed(0)} s after the resume`);
    assert.deepEqual(heldJobs.map(attempts), [3, 3], 'each held candidate had a fresh try after the resume');

    const saved = readSearchResult(path.resolve(root, result.resultFile));
    assert.equal(saved.candidates.length, 4);
    const failed = saved.candidates.filter((c) => c.failed);
    assert.deepEqual(
      failed.map((c) => [c.name, c.failed!.type]),
      [['s1-e000-c00', 'DataUnavailable']],
      'only the failure before the pause is recorded',
    );
    assert.equal(saved.candidates.filter((c) => c.stage === 1 && !c.failed && typeof c.network.accuracy === 'number').length, 3);
    assert.equal(saved.final.length, 1);
    assert.equal(typeof saved.final[0].network.accuracy, 'number');
    const done = await eas('status', name, '--address', env.address);
    assert.match(done.stdout, /COMPLETED/);

    // Every run of the search replays with the current workflow code (the pause is deterministic).
    for await (const wf of env.client.workflow.list({ query: `WorkflowId = "${name}"` })) {
      const history = await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, history, wf.workflowId);
    }
  } finally {
    for (const w of workers) await stopWorker(w);
    await env.teardown();
  }
});

async function pollProgress(handle: { query: (q: typeof progressQuery) => Promise<SearchProgress> }, what: string, ok: (p: SearchProgress) => boolean, timeoutMs: number): Promise<SearchProgress> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p && ok(p)) return p;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last progress: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
