import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import YAML from 'yaml';
import { startDevServer, tempDir } from '../helpers/temporal';
import { policyCheckpoints, tinySearchConfig } from '../helpers/search';
import { freePort, waitFor } from '../helpers/processes';
import { findTemporalCli } from '../../src/temporal/cli-path';
import { createControlWorker } from '../../src/workers/control';
import { createTrainWorker } from '../../src/workers/train';
import { SEARCH_ATTRIBUTES, SEARCH_WORKFLOW_TYPE } from '../../src/workflows/definitions';
import { readSearchResult } from '../../src/store/result';

const EAS = path.join(__dirname, '..', '..', 'bin', 'eas.js');

function runEas(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [EAS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

test('killing `eas dev` mid-search and running it again resumes the same search to the end', async () => {
  const root = tempDir('dev');
  const name = `dev-${Date.now()}`;
  const cfgFile = path.join(root, 'search.yaml');
  fs.writeFileSync(cfgFile, YAML.stringify(tinySearchConfig(name, root)));
  const [port, uiPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TEMPORAL_ADDRESS;
  const args = ['dev', '--config', cfgFile, '--port', String(port), '--ui-port', String(uiPort), '--no-progress'];

  const first = runEas(args, env);
  await waitFor('the first policy update', () => policyCheckpoints(path.join(root, name)).length >= 1 || first.child.exitCode !== null, 240_000);
  assert.equal(first.child.exitCode, null, `eas dev ended early:\n${first.err().slice(-3000)}`);
  assert.match(first.err(), /Web UI: http:\/\/localhost:\d+\/namespaces\/default\/workflows\//);
  assert.match(first.err(), new RegExp(`results: .*${name}`));
  first.child.kill('SIGINT');
  const code1 = await first.exited;
  assert.equal(code1, 130, `Ctrl-C exit code; stderr:\n${first.err().slice(-2000)}`);
  assert.equal(await portOpen(port), false, 'the dev server it started is stopped');
  const policiesBefore = policyCheckpoints(path.join(root, name)).length;

  const second = runEas(args, env);
  const code2 = await second.exited;
  assert.equal(code2, 0, `second run failed:\n${second.err().slice(-3000)}`);
  assert.match(second.err(), /resuming search/);
  assert.match(second.out(), new RegExp(`search ${name} .*8 networks sampled, 4 policy updates`));
  const result = readSearchResult(path.join(root, name, 'result.json'));
  assert.equal(result.candidates.length, 8);
  assert.ok(policiesBefore >= 1);
  assert.equal(policyCheckpoints(path.join(root, name)).length, 4);
  // The finished steps of the first run were reused, not redone: the first episode's samples predate the restart.
  const samples = path.join(root, name, 'stage-1', 'episode-000', 'samples.json');
  assert.ok(fs.statSync(samples).mtimeMs < fs.statSync(path.join(root, name, 'result.json')).mtimeMs);
  assert.equal(await portOpen(port), false);
});

test('the Temporal CLI path: `eas config render` → `temporal workflow start --input-file`, `temporal workflow query` for progress', async () => {
  const env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const root = tempDir('cli');
  const name = `tcli-${Date.now()}`;
  try {
    const cfgFile = path.join(root, 'search.yaml');
    fs.writeFileSync(cfgFile, YAML.stringify(tinySearchConfig(name, root, { stages: [{ networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 }] })));
    const rendered = execFileSync(process.execPath, [EAS, 'config', 'render', cfgFile], { encoding: 'utf8' });
    const inputFile = path.join(root, 'input.json');
    fs.writeFileSync(inputFile, rendered);
    const temporal = findTemporalCli();
    const common = ['--address', env.address, '--namespace', 'default'];
    execFileSync(temporal, ['workflow', 'start', '--type', SEARCH_WORKFLOW_TYPE, '--task-queue', `${name}-control`, '--workflow-id', name, '--input-file', inputFile, ...common], { encoding: 'utf8' });
    const control = await createControlWorker({ connection: env.nativeConnection, taskQueue: `${name}-control` });
    const train = await createTrainWorker({ connection: env.nativeConnection, taskQueue: `${name}-train`, devices: ['cpu'] });
    await control.runUntil(
      train.runUntil(async () => {
        // Asynchronously: the worker answering the query runs in this process.
        const { stdout } = await promisify(execFile)(temporal, ['workflow', 'query', '--workflow-id', name, '--name', 'progress', '--output', 'json', ...common], { encoding: 'utf8' });
        const parsed = JSON.parse(stdout);
        const progress = parsed.queryResult?.[0] ?? parsed.result?.[0] ?? parsed[0] ?? parsed;
        assert.equal(progress.searchId, name);
        assert.equal(progress.plannedTotal, 2);
        const result = await env.client.workflow.getHandle(name).result();
        assert.equal(result.candidates, 2);
      }),
    );
  } finally {
    await env.teardown();
  }
});
