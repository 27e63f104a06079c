import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Worker } from '@temporalio/worker';
import { startDevServer } from './helpers/temporal';
import { findTemporalCli, TemporalCliNotFoundError } from '../src/temporal/cli-path';
import * as activities from './fixtures/smoke-activities';

test('a real workflow calls a real activity through a real worker on a real dev server', async () => {
  const env = await startDevServer();
  try {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'smoke',
      workflowsPath: require.resolve('./fixtures/smoke-workflows'),
      activities,
    });
    const result = await worker.runUntil(env.client.workflow.execute('smokeWorkflow', { taskQueue: 'smoke', workflowId: `smoke-${Date.now()}`, args: ['eas'] }));
    assert.equal(result, `hello eas from pid ${process.pid}`);
    // The server is a real `temporal server start-dev` process, listening where the client is connected.
    const procs = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    assert.match(procs, /temporal server start-dev/);
  } finally {
    await env.teardown();
  }
});

test('without a Temporal CLI the harness fails with the install hint', () => {
  assert.throws(
    () => findTemporalCli({ PATH: '/nonexistent', TEMPORAL_CLI_PATH: undefined } as NodeJS.ProcessEnv),
    (e: unknown) => e instanceof TemporalCliNotFoundError && /go install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/.test(e.message),
  );
});
