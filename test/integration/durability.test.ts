import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer, tempDir } from '../helpers/temporal';
import { policyCheckpoints, tinySearchConfig } from '../helpers/search';
import { type WorkerProcess, freePort, spawnWorker, stopWorker, waitFor } from '../helpers/processes';
import { startOrAttachSearch } from '../../src/cli/search-client';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/definitions';

function attempts(jobDir: string): { attempt: number; resumedFromEpoch: number }[] {
  const f = path.join(jobDir, 'attempts.jsonl');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
}

function trainingJobs(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(d, e.name);
      if (fs.existsSync(path.join(p, 'attempts.jsonl'))) out.push(p);
      walk(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

test('(b) SIGKILL of the training worker mid-epoch: the search completes, the training resumes from its last epoch checkpoint, nothing lost or done twice', async () => {
  const env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const root = tempDir('kill');
  const name = `kill-${Date.now()}`;
  const workers: WorkerProcess[] = [];
  try {
    const cfg = tinySearchConfig(name, root, {
      // A start net trained long enough to be killed after its first epoch checkpoint, mid-training, even on the native
      // engine (an epoch of this net takes tens of milliseconds there, seconds on wasm).
      startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(4)', epochs: 40 },
      dataset: { name: 'synthetic', validationSize: 64, synthetic: { train: 1600, test: 128, shape: [8, 8, 1], classes: 4, seed: 3 } },
      stages: [{ networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 }],
      timeouts: { epochHeartbeat: '4s', training: '1h' },
    });
    const { handle, config } = await startOrAttachSearch(env.client, cfg);
    workers.push(await spawnWorker('control', env.address, config.taskQueues.control));
    const first = await spawnWorker('train', env.address, config.taskQueues.train);
    workers.push(first);
    const startJob = path.join(root, name, 'start');
    await waitFor('the start net\'s first epoch checkpoint', () => fs.existsSync(path.join(startJob, 'work', 'epoch-0001')));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(fs.existsSync(path.join(startJob, 'trained')), false, 'killed before the training finished');
    first.child.kill('SIGKILL');
    await first.exited;
    workers.push(await spawnWorker('train', env.address, config.taskQueues.train));

    const result = await handle.result();
    const tries = attempts(startJob);
    assert.ok(tries.length >= 2, `expected a retry, got ${JSON.stringify(tries)}`);
    const resumed = tries.find((t) => t.attempt >= 2);
    assert.ok(resumed && resumed.resumedFromEpoch > 0, `attempt 2 resumed from epoch ${resumed?.resumedFromEpoch}`);
    // Nothing lost, nothing done twice: every planned candidate once, one policy update per episode, one final network.
    assert.equal(result.candidates, 2);
    assert.equal(result.policyUpdates, 1);
    assert.equal(policyCheckpoints(path.join(root, name)).length, 1);
    for (const job of trainingJobs(path.join(root, name))) {
      const epochs = fs.readdirSync(path.join(job, 'work')).filter((f) => /^epoch-\d+$/.test(f));
      assert.equal(new Set(epochs).size, epochs.length);
      assert.ok(fs.existsSync(path.join(job, 'trained', 'model.json')), `${job} finished`);
      assert.equal(fs.readdirSync(path.join(job, 'work')).filter((f) => f.includes('.tmp-')).length, 0, `${job}: no half-written checkpoint`);
    }
    const saved = JSON.parse(fs.readFileSync(path.resolve(root, result.resultFile), 'utf8'));
    assert.equal(saved.start.name, 'start');
    assert.equal(typeof saved.start.accuracy, 'number');
    // The reference (the start net's final training) is one of the finished jobs above, and in the result.
    assert.ok(fs.existsSync(path.join(root, name, 'final', 'reference', 'trained', 'model.json')));
    assert.equal(typeof saved.reference.network.accuracy, 'number');
    assert.equal(saved.gains.length, 1);
  } finally {
    for (const w of workers) await stopWorker(w, 'SIGKILL');
    await env.teardown();
  }
});

test('(c) the dev server (with its database file) stops and restarts in the middle of a search: the search completes', async () => {
  const root = tempDir('restart');
  const dbFilename = path.join(root, 'temporal.db');
  const port = await freePort();
  const name = `restart-${Date.now()}`;
  let env: TestWorkflowEnvironment | undefined = await startDevServer({ dbFilename, port, searchAttributes: SEARCH_ATTRIBUTES });
  const workers: WorkerProcess[] = [];
  try {
    const { handle, config } = await startOrAttachSearch(env.client, tinySearchConfig(name, root, { timeouts: { epochHeartbeat: '20s', training: '1h' } }));
    workers.push(await spawnWorker('control', env.address, config.taskQueues.control));
    workers.push(await spawnWorker('train', env.address, config.taskQueues.train));
    await waitFor('the first policy update', () => policyCheckpoints(path.join(root, name)).length >= 1, 180_000);
    await env.teardown();
    env = undefined;
    await new Promise((r) => setTimeout(r, 1000));
    env = await startDevServer({ dbFilename, port, searchAttributes: SEARCH_ATTRIBUTES });
    const result = await env.client.workflow.getHandle(handle.workflowId).result();
    assert.equal(result.candidates, 8);
    assert.equal(result.policyUpdates, 4);
    assert.equal(typeof result.reference?.accuracy, 'number');
    assert.equal(policyCheckpoints(path.join(root, name)).length, 4);
    for (const w of workers) assert.equal(w.child.exitCode, null, `worker survived the restart:\n${w.output().slice(-2000)}`);
  } finally {
    for (const w of workers) await stopWorker(w, 'SIGKILL');
    await env?.teardown();
  }
});
