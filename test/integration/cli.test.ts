import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import YAML from 'yaml';
import { startDevServer, tempDir } from '../helpers/temporal';
import { policyCheckpoints, tinySearchConfig } from '../helpers/search';
import { deadline, freePort, processesMatching, sleep, waitFor } from '../helpers/processes';
import { findTemporalCli } from '../../src/temporal/cli-path';
import { createControlWorker } from '../../src/workers/control';
import { createTrainWorker } from '../../src/workers/train';
import { SEARCH_ATTRIBUTES, SEARCH_WORKFLOW_TYPE } from '../../src/workflows/definitions';
import { readSearchResult } from '../../src/store/result';
import { parseSearchConfig } from '../../src/config/load';

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
  const args = ['dev', '--config', cfgFile, '--port', String(port), '--ui-port', String(uiPort), '--no-progress', '--no-ui'];

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
  // Its last lines: the start net given the same final training beside the finals, and whether the search helped.
  const last = second.out().trim().split('\n').slice(-2);
  assert.match(last[0], /^start net \(same final training\): \d+\.\d\d % test, [\d.,]+( M)? params; top-1: \d+\.\d\d % \([+−±]\d+\.\d\d pt\), [\d.,]+( M)? params \(\d+(\.\d)?×\)$/);
  assert.match(last[1], /^the search gained ([+−±]\d+\.\d\d pt of test accuracy|nothing): its best final network \(top-1\)/);
  assert.equal(typeof result.reference?.network?.accuracy, 'number');
  assert.equal(result.gains?.length, 1);
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
        assert.equal(result.reference?.name, 'reference');
        assert.equal(result.gains?.length, 1);
      }),
    );
  } finally {
    await env.teardown();
  }
});

/** `eas dev` on a tiny search with its own run store and ports, sent SIGTERM at the moment `ready` first holds. */
async function devStoppedAt(moment: string, ready: (stderr: string, root: string) => boolean, opts: { env?: NodeJS.ProcessEnv; twice?: boolean } = {}) {
  const root = tempDir('sig');
  const name = `sig-${Date.now()}`;
  const cfgFile = path.join(root, 'search.yaml');
  fs.writeFileSync(cfgFile, YAML.stringify(tinySearchConfig(name, root)));
  const [port, uiPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  delete env.TEMPORAL_ADDRESS;
  const run = runEas(['dev', '--config', cfgFile, '--port', String(port), '--ui-port', String(uiPort), '--no-progress', '--no-ui'], env);
  try {
    await waitFor(moment, () => ready(run.err(), root) || run.child.exitCode !== null, 120_000, 10);
    assert.equal(run.child.exitCode, null, `eas dev ended before ${moment}:\n${run.err().slice(-3000)}`);
    run.child.kill('SIGTERM');
    if (opts.twice) {
      await sleep(300);
      run.child.kill('SIGTERM');
    }
    const code = await Promise.race([run.exited, deadline(60_000).then(() => 'still running')]);
    assert.equal(code, 130, `SIGTERM ${moment}: exit code; stderr:\n${run.err().slice(-3000)}`);
    // The server's command line names its database in this run store: nothing of it may be left.
    await waitFor('the dev server to be gone', () => processesMatching('start-dev', root).length === 0, 15_000).catch(() => undefined);
    assert.deepEqual(processesMatching('start-dev', root), [], `SIGTERM ${moment} left the dev server running`);
    assert.equal(await portOpen(port), false);
    return { stderr: run.err(), root };
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
    for (const p of processesMatching('start-dev', root)) process.kill(p.pid, 'SIGKILL');
  }
}

test('SIGTERM of `eas dev` while it builds the Temporal CLI: go is stopped, nothing left', async () => {
  // A module proxy that never answers: the real `go install` is stuck downloading, as on a slow first run.
  let requests = 0;
  const proxy = http.createServer(() => requests++);
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const root = tempDir('sig-go');
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(execFileSync('bash', ['-c', 'command -v go'], { encoding: 'utf8' }).trim(), path.join(bin, 'go'));
  const gopath = path.join(root, 'gopath');
  try {
    const { stderr } = await devStoppedAt('the CLI build', (err) => /building the Temporal CLI v1\.5\.1/.test(err) && requests > 0, {
      env: { PATH: bin, GOPATH: gopath, GOENV: 'off', GOFLAGS: '-modcacherw', GOSUMDB: 'off', GOTOOLCHAIN: 'local', GOPROXY: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, TEMPORAL_CLI_PATH: '' },
    });
    assert.match(stderr, /go install -v github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/);
    await waitFor('go to be gone', () => processesMatching('install', 'github.com/temporalio/cli/cmd/temporal@v1.5.1').length === 0, 10_000).catch(() => undefined);
    assert.deepEqual(processesMatching('install', 'github.com/temporalio/cli/cmd/temporal@v1.5.1'), []);
    assert.equal(fs.existsSync(path.join(gopath, 'bin', 'temporal')), false);
  } finally {
    proxy.closeAllConnections();
    proxy.close();
  }
});

test('SIGTERM of `eas dev` while its dev server starts: the server is stopped', async () => {
  await devStoppedAt('the server start-up', (err, root) => processesMatching('start-dev', root).length > 0 && !/started the Temporal dev server/.test(err));
});

test('SIGTERM of `eas dev` while its workers start: the server is stopped', async () => {
  const { stderr } = await devStoppedAt('the worker start-up', (err) => /started the Temporal dev server/.test(err));
  assert.doesNotMatch(stderr, /started search/);
});

test('SIGTERM of `eas dev` mid-search: workers stop, the server is stopped, no "No workflows registered" warning', async () => {
  let seen = 0;
  const { stderr } = await devStoppedAt('mid-search', (err) => /started search/.test(err) && (seen ||= Date.now()) < Date.now() - 2000);
  assert.match(stderr, /stopping: the workers finish or checkpoint/);
  assert.doesNotMatch(stderr, /No workflows registered/);
});

test('a second SIGTERM while `eas dev` shuts down: it stops at once, and the server with it', async () => {
  const { stderr } = await devStoppedAt('mid-search, twice', (err) => /started search/.test(err), { twice: true });
  assert.match(stderr, /stopping now/);
});

test('`eas start` / `eas dev` with a config that differs from the running or the recorded one refuse, with the diff', async () => {
  const env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const root = tempDir('diff');
  const name = `diff-${Date.now()}`;
  try {
    const write = (file: string, cfg: object) => (fs.writeFileSync(path.join(root, file), YAML.stringify(cfg)), path.join(root, file));
    const base = tinySearchConfig(name, root);
    const same = write('a.yaml', base);
    const changed = write('b.yaml', { ...base, seed: 8, stages: [{ ...base.stages![0], epochs: 2 }, base.stages![1]] });
    const shell: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: env.address };
    const eas = async (...args: string[]) => {
      const run = runEas(args, shell);
      const code = await Promise.race([run.exited, deadline(120_000).then(() => 'timeout')]);
      return { code, out: run.out(), err: run.err() };
    };

    assert.match((await eas('start', '--config', same)).out, new RegExp(`started search ${name}`));
    const refused = await eas('start', '--config', changed);
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.err, new RegExp(`search "${name}" already exists with a different configuration \\(it is running on Temporal\\)`));
    assert.match(refused.err, /^ {2}seed: 7 → 8$/m);
    assert.match(refused.err, /^ {2}stages\[0\]\.epochs: 1 → 2$/m);
    assert.match(refused.err, new RegExp(`give it another \`name\` \\(e\\.g\\. name: ${name}-2\\) in ${changed.replace(/[.]/g, '\\.')}`));
    const dev = await eas('dev', '--config', changed, '--no-progress', '--no-ui');
    assert.equal(dev.code, 1, dev.err);
    assert.match(dev.err, /stages\[0\]\.epochs: 1 → 2/);
    assert.doesNotMatch(dev.err, /started search|resuming search/);
    // The same config attaches, as before.
    assert.match((await eas('start', '--config', same)).out, new RegExp(`attached to running search ${name}`));

    // No longer running: the run store's record (what the search's first step writes) is what it is compared with.
    await env.client.workflow.getHandle(name).terminate('test');
    fs.mkdirSync(path.join(root, name), { recursive: true });
    fs.writeFileSync(path.join(root, name, 'config.json'), JSON.stringify(parseSearchConfig(base, 'a.yaml'), null, 2));
    const recorded = await eas('start', '--config', changed);
    assert.equal(recorded.code, 1, recorded.err);
    assert.match(recorded.err, new RegExp(`\\(recorded in ${path.join(root, name, 'config.json').replace(/[.]/g, '\\.')}\\)`));
    assert.match(recorded.err, /seed: 7 → 8/);
    const restarted = await eas('start', '--config', same);
    assert.equal(restarted.code, 0, restarted.err);
    assert.match(restarted.out, new RegExp(`started search ${name}`));
    await env.client.workflow.getHandle(name).terminate('test');
  } finally {
    await env.teardown();
  }
});
