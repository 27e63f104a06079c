import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  TEMPORAL_CLI_PACKAGE,
  TEMPORAL_CLI_VERSION,
  TemporalCliNotFoundError,
  ensureTemporalCli,
  findTemporalCli,
  planTemporalCli,
} from '../src/temporal/cli-path';

/**
 * The real `go` against a file-system module proxy that serves a stand-in github.com/temporalio/cli at the pinned
 * version: the exact `go install …@v1.5.1` eas runs, built in seconds instead of the real CLI's minutes.
 */
const realGo = execFileSync('bash', ['-c', 'command -v go'], { encoding: 'utf8' }).trim();

function fakeProxy(root: string): string {
  const proxy = path.join(root, 'proxy');
  const v = TEMPORAL_CLI_VERSION;
  const dir = path.join(proxy, 'github.com', 'temporalio', 'cli', '@v');
  fs.mkdirSync(dir, { recursive: true });
  const gomod = 'module github.com/temporalio/cli\n\ngo 1.21\n';
  fs.writeFileSync(path.join(dir, 'list'), `${v}\n`);
  fs.writeFileSync(path.join(dir, `${v}.info`), JSON.stringify({ Version: v, Time: '2025-01-01T00:00:00Z' }));
  fs.writeFileSync(path.join(dir, `${v}.mod`), gomod);
  const src = path.join(root, 'src');
  const mod = path.join(src, `github.com/temporalio/cli@${v}`);
  fs.mkdirSync(path.join(mod, 'cmd', 'temporal'), { recursive: true });
  fs.writeFileSync(path.join(mod, 'go.mod'), gomod);
  fs.writeFileSync(path.join(mod, 'cmd', 'temporal', 'main.go'), 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("stand-in temporal") }\n');
  execFileSync('zip', ['-qrD', path.join(dir, `${v}.zip`), '.'], { cwd: src });
  return proxy;
}

/** PATH with only `go` on it (no temporal), a fresh GOPATH, the fake proxy. */
function goEnv(root: string, withGo = true): NodeJS.ProcessEnv {
  const bin = path.join(root, 'path-bin');
  fs.mkdirSync(bin, { recursive: true });
  if (withGo && !fs.existsSync(path.join(bin, 'go'))) fs.symlinkSync(realGo, path.join(bin, 'go'));
  return {
    PATH: bin,
    HOME: root,
    GOPATH: path.join(root, 'gopath'),
    GOENV: 'off',
    GOFLAGS: '-modcacherw',
    GOTOOLCHAIN: 'local',
    GOSUMDB: 'off',
    GOPROXY: `file://${fakeProxy(root)}`,
    // The shared build cache keeps the standard library compiled: only the stand-in main package is built.
    GOCACHE: execFileSync('go', ['env', 'GOCACHE'], { encoding: 'utf8' }).trim(),
  };
}

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `eas-${p}-`));

/** Processes whose environment carries this GOPATH: what is left of a `go install` we started. */
function processesWith(gopath: string): number[] {
  const needle = `GOPATH=${gopath}\0`;
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((d) => {
      try {
        return fs.readFileSync(`/proc/${d}/environ`, 'latin1').includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('the plan: Go present and no CLI → install the pinned version into $(go env GOPATH)/bin', () => {
  const root = tmp('cliplan');
  const env = goEnv(root);
  const plan = planTemporalCli(env);
  assert.equal(plan.kind, 'install');
  assert.ok(plan.kind === 'install');
  assert.equal(plan.goBin, path.join(root, 'gopath', 'bin'));
  assert.equal(plan.path, path.join(root, 'gopath', 'bin', 'temporal'));
  assert.deepEqual(plan.args, ['install', '-v', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`]);
  assert.equal(TEMPORAL_CLI_PACKAGE, 'github.com/temporalio/cli/cmd/temporal@v1.5.1');
  // GOBIN wins over GOPATH, as for `go install` itself.
  const gobin = path.join(root, 'gobin');
  const withGobin = planTemporalCli({ ...env, GOBIN: gobin });
  assert.ok(withGobin.kind === 'install' && withGobin.path === path.join(gobin, 'temporal'));
  // findTemporalCli (the test harness) still only looks.
  assert.throws(() => findTemporalCli(env), TemporalCliNotFoundError);
  // An explicit TEMPORAL_CLI_PATH that is wrong is reported, never replaced by a build.
  const explicit = planTemporalCli({ ...env, TEMPORAL_CLI_PATH: path.join(root, 'nope') });
  assert.ok(explicit.kind === 'missing' && /TEMPORAL_CLI_PATH=.*nope/.test(explicit.error.message));
});

test('without Go: the clear message, nothing run', async () => {
  const root = tmp('clinogo');
  const env = goEnv(root, false);
  const plan = planTemporalCli(env);
  assert.equal(plan.kind, 'missing');
  await assert.rejects(ensureTemporalCli({ env }), (err: Error) => {
    assert.ok(err instanceof TemporalCliNotFoundError);
    assert.match(err.message, /go not found/);
    assert.match(err.message, /go install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/);
    return true;
  });
});

test('ensureTemporalCli builds the pinned module with the real go, reports progress, then finds it', async () => {
  const root = tmp('clibuild');
  const env = goEnv(root);
  const lines: { line: string; final: boolean }[] = [];
  const cli = await ensureTemporalCli({ env, progress: (line, final) => lines.push({ line, final }), everyMs: 100 });
  assert.equal(cli, path.join(root, 'gopath', 'bin', 'temporal'));
  assert.equal(execFileSync(cli, { encoding: 'utf8' }).trim(), 'stand-in temporal');
  assert.match(lines[0].line, /building the Temporal CLI v1\.5\.1 .*2–7 minutes/);
  const last = lines.at(-1)!;
  assert.equal(last.final, true);
  assert.match(last.line, new RegExp(`built the Temporal CLI v1\\.5\\.1: ${cli}`));
  // The module really came from the proxy at the pinned version.
  assert.match(execFileSync(realGo, ['version', '-m', cli], { encoding: 'utf8' }), /mod\s+github\.com\/temporalio\/cli\s+v1\.5\.1/);
  assert.deepEqual(planTemporalCli(env), { kind: 'found', path: cli });
  assert.equal(await ensureTemporalCli({ env, progress: () => assert.fail('nothing to build') }), cli);
});

test('aborting the build stops go and its compilers (its whole process group)', async () => {
  const root = tmp('cliabort');
  const env = goEnv(root);
  const ac = new AbortController();
  const build = ensureTemporalCli({ env, signal: ac.signal });
  // Abort once go is running (it has the GOPATH in its environment).
  const deadline = Date.now() + 20_000;
  while (processesWith(env.GOPATH!).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(processesWith(env.GOPATH!).length > 0, 'go started');
  ac.abort(new Error('stop'));
  await assert.rejects(build, /stop/);
  const until = Date.now() + 5_000;
  while (processesWith(env.GOPATH!).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(processesWith(env.GOPATH!), []);
  assert.equal(fs.existsSync(path.join(root, 'gopath', 'bin', 'temporal')), false);
});
