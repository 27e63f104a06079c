import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { ChildPool } from '../../src/activities/child-pool';
import type { PrepareSearchOutput, SamplePolicyOutput, TrainNetworkOutput, TransformOutput } from '../../src/activities/contract';
import { createControlActivities, type TaskRunner } from '../../src/activities/control';
import { SearchConfigSchema, type SearchConfig } from '../../src/config/search-config';
import { jobPaths } from '../../src/store/layout';
import { recipeFor } from '../../src/train/recipe';
import { deriveSeed } from '../../src/util/seed';
import { createTrainWorker } from '../../src/workers/train';
import { tinySearchConfig } from '../helpers/search';
import { startDevServer, tempDir } from '../helpers/temporal';

/**
 * The control activities through a real Temporal dev server: their work runs in control child processes, a child
 * killed mid-task is retried, failures arrive typed and retried or not as classified, and a training host that mounts
 * the run store under another root (a symlink) trains what the control host prepared.
 */

const ID = 'ca-search';
let env: TestWorkflowEnvironment;
let realRoot: string;
let linkRoot: string;
let config: SearchConfig;
let pool: ChildPool;
let killNextTransform = false;
const calls: string[] = [];
let control: Worker;
let train: Worker;
let running: Promise<void>;
let n = 0;

const Q = { control: `${ID}-control`, train: `${ID}-train` };

/** The pool, with a hook that SIGKILLs the child right after a transform was handed to it. */
const runner: TaskRunner = {
  run(task, input, opts) {
    calls.push(task);
    const p = pool.run(task, input, opts);
    if (task === 'transformCandidate' && killNextTransform) {
      killNextTransform = false;
      setImmediate(() => {
        for (const pid of pool.pids()) process.kill(pid, 'SIGKILL');
      });
    }
    return p;
  },
};

async function call<T>(name: string, input: unknown, maximumAttempts = 3): Promise<T> {
  return (await env.client.workflow.execute('callControl', { taskQueue: Q.control, workflowId: `${ID}-${name}-${n++}`, args: [name, input, maximumAttempts] })) as T;
}

async function attempts(workflowId: string): Promise<number> {
  const h = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return (h.events ?? []).filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0).reduce((a, b) => Math.max(a, b), 0);
}

describe('control activities on a real Temporal server', () => {
  before(async () => {
    env = await startDevServer();
    realRoot = tempDir('ca-real');
    linkRoot = path.join(tempDir('ca-mnt'), 'runs');
    fs.symlinkSync(realRoot, linkRoot);
    config = SearchConfigSchema.parse(tinySearchConfig(ID, 'runs-as-configured', { taskQueues: Q }));
    pool = new ChildPool({ script: path.join(__dirname, '../../src/activities/control-child.ts'), size: 2 });
    control = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: Q.control,
      workflowsPath: require.resolve('../fixtures/control-workflows'),
      activities: createControlActivities({ runner, storageRoot: realRoot }),
    });
    // The training host sees the same store under another path.
    train = await createTrainWorker({ connection: env.nativeConnection, taskQueue: Q.train, devices: ['cpu'], storageRoot: linkRoot });
    running = Promise.all([control.run(), train.run()]).then(() => undefined);
  });

  after(async () => {
    control?.shutdown();
    train?.shutdown();
    await running;
    await pool?.close();
    await env?.teardown();
  });

  test('prepare, sample, transform (its child killed once, retried), then train on a host with another root', async () => {
    const prep = await call<PrepareSearchOutput>('prepareSearch', { searchId: ID, config });
    assert.equal(prep.runDir, ID);
    assert.equal(prep.start.dir, `${ID}/start/init`);
    assert.ok(fs.existsSync(path.join(realRoot, ID, 'data', 'probe.json')));
    assert.equal(pool.pids().length >= 1, true, 'the work ran in a control child');

    const sampled = await call<SamplePolicyOutput>('samplePolicy', {
      storageRoot: config.storage.root,
      runDir: prep.runDir,
      stage: 0,
      episode: 0,
      policy: null,
      controller: config.controller,
      searchSpace: config.searchSpace,
      start: prep.start.dir,
      n: 2,
      seed: deriveSeed(config.seed, 'sample', 0, 0),
      policySeed: deriveSeed(config.seed, 'policy'),
      widerSteps: 1,
      deeperSteps: 1,
    });
    assert.equal(sampled.candidates.length, 2);

    killNextTransform = true;
    const before = calls.filter((c) => c === 'transformCandidate').length;
    const workflowId = `${ID}-transform-killed`;
    const output = jobPaths(`${ID}/stage-1/episode-000/candidate-00`).init;
    const transformed = (await env.client.workflow.execute('callControl', {
      taskQueue: Q.control,
      workflowId,
      args: ['transformCandidate', { storageRoot: config.storage.root, runDir: prep.runDir, name: 's1-e000-c00', start: prep.start.dir, actions: sampled.candidates[0].actions, searchSpace: config.searchSpace, transform: config.transform, output, seed: 11 }, 3],
    })) as TransformOutput;
    assert.equal(calls.filter((c) => c === 'transformCandidate').length - before, 2, 'one killed attempt, one that finished');
    assert.equal(await attempts(workflowId), 2);
    assert.equal(transformed.network.dir, output);
    assert.equal(transformed.network.key, sampled.candidates[0].key);

    const trained = (await env.client.workflow.execute('callTrain', {
      taskQueue: Q.control,
      workflowId: `${ID}-train-0`,
      args: [Q.train, { storageRoot: config.storage.root, name: 's1-e000-c00', from: transformed.network.dir, jobDir: `${ID}/stage-1/episode-000/candidate-00`, dataset: config.dataset, dataSeed: deriveSeed(config.seed, 'data'), mode: 'search', epochs: 1, recipe: recipeFor(config.training, 'candidates'), seed: 5, backend: config.backend }],
    })) as TrainNetworkOutput;
    assert.equal(trained.network.dir, `${ID}/stage-1/episode-000/candidate-00/trained`);
    assert.ok(fs.existsSync(path.join(realRoot, trained.network.dir, 'model.json')), 'trained through the symlinked root, visible under the real one');
    assert.ok(trained.network.accuracy !== null);
    assert.ok(fs.existsSync(path.join(realRoot, ID, 'stage-1/episode-000/candidate-00/trained.inputs.json')));
  });

  test('failures arrive typed: a missing network is retried, a function not preserved is not', async () => {
    const base = { storageRoot: config.storage.root, runDir: ID, name: 'x', searchSpace: config.searchSpace, transform: config.transform, seed: 3, actions: [{ type: 'wider', layers: ['L0'] }] };
    const missingId = `${ID}-missing`;
    await assert.rejects(
      env.client.workflow.execute('callControl', { taskQueue: Q.control, workflowId: missingId, args: ['transformCandidate', { ...base, start: `${ID}/no-such/net`, output: `${ID}/t/missing/init` }, 2] }),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure && err.cause.cause instanceof ApplicationFailure);
        assert.equal(err.cause.cause.type, 'CheckpointMissing');
        assert.equal(err.cause.cause.nonRetryable, false);
        return true;
      },
    );
    assert.equal(await attempts(missingId), 2, 'retried up to the attempts allowed');

    const strictId = `${ID}-strict`;
    await assert.rejects(
      env.client.workflow.execute('callControl', { taskQueue: Q.control, workflowId: strictId, args: ['transformCandidate', { ...base, start: `${ID}/start/init`, output: `${ID}/t/strict/init`, tolerance: 1e-30, actions: [{ type: 'wider', layers: ['L0'] }, { type: 'deeper', block: 0, position: 0, kernel: 3 }] }, 3] }),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure && err.cause.cause instanceof ApplicationFailure);
        assert.equal(err.cause.cause.type, 'FunctionNotPreserved');
        assert.equal(err.cause.cause.nonRetryable, true);
        return true;
      },
    );
    assert.equal(await attempts(strictId), 1, 'not retried');
  });
});
