import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';

/** The one pinned Temporal CLI version (.ci/run reads it from here too). */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli';
export const TEMPORAL_CLI_PACKAGE = `${TEMPORAL_CLI_MODULE}/cmd/temporal@${TEMPORAL_CLI_VERSION}`;
export const TEMPORAL_CLI_INSTALL_HINT =
  `Install the Temporal CLI with Go: \`go install ${TEMPORAL_CLI_PACKAGE}\` ` +
  '(it lands in $(go env GOPATH)/bin; eas does this itself when Go is installed), or download it from ' +
  'https://temporal.io/setup/install-temporal-cli, or set TEMPORAL_CLI_PATH to the binary.';

export class TemporalCliNotFoundError extends Error {
  constructor(tried: string[]) {
    super(`Temporal CLI not found (looked in: ${tried.join(', ')}). ${TEMPORAL_CLI_INSTALL_HINT}`);
    this.name = 'TemporalCliNotFoundError';
  }
}

const isExecutable = (p: string): boolean => {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/** Where `go install` puts binaries: GOBIN, else the first GOPATH entry's bin; undefined without Go. */
function goBin(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const [gobin, gopath] = execFileSync('go', ['env', 'GOBIN', 'GOPATH'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000, env }).split('\n').map((s) => s.trim());
    if (gobin) return gobin;
    return gopath ? path.join(gopath.split(path.delimiter)[0], 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/** What to do to get a Temporal CLI: use the one found, build the pinned one with Go, or give up (no Go). */
export type TemporalCliPlan =
  | { kind: 'found'; path: string }
  | { kind: 'install'; goBin: string; path: string; args: string[] }
  | { kind: 'missing'; error: TemporalCliNotFoundError };

/** Looks in TEMPORAL_CLI_PATH, then PATH, then $(go env GOPATH)/bin (or GOBIN); runs nothing but `go env`. */
export function planTemporalCli(env: NodeJS.ProcessEnv = process.env): TemporalCliPlan {
  const tried: string[] = [];
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (isExecutable(explicit)) return { kind: 'found', path: explicit };
    // An explicit choice is never overridden by a build.
    return { kind: 'missing', error: new TemporalCliNotFoundError([`TEMPORAL_CLI_PATH=${explicit} (not an executable file)`]) };
  }
  tried.push('TEMPORAL_CLI_PATH (unset)');
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const p = path.join(dir, 'temporal');
    if (isExecutable(p)) return { kind: 'found', path: p };
  }
  tried.push('PATH');
  const gb = goBin(env);
  if (!gb) return { kind: 'missing', error: new TemporalCliNotFoundError([...tried, '$(go env GOPATH)/bin (go not found)']) };
  const p = path.join(gb, 'temporal');
  if (isExecutable(p)) return { kind: 'found', path: p };
  return { kind: 'install', goBin: gb, path: p, args: ['install', '-v', TEMPORAL_CLI_PACKAGE] };
}

/** The Temporal CLI: env TEMPORAL_CLI_PATH, then PATH, then $(go env GOPATH)/bin; throws with the install hint. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const plan = planTemporalCli(env);
  if (plan.kind === 'found') return plan.path;
  if (plan.kind === 'missing') throw plan.error;
  throw new TemporalCliNotFoundError(['TEMPORAL_CLI_PATH (unset)', 'PATH', plan.goBin]);
}

export interface EnsureCliOptions {
  env?: NodeJS.ProcessEnv;
  /** One progress line at a time; `final` marks the last one. */
  progress?: (line: string, final: boolean) => void;
  /** Aborting kills the whole `go install` process group (go runs compilers as children). */
  signal?: AbortSignal;
  /** How often the progress line is refreshed. */
  everyMs?: number;
}

export class TemporalCliInstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalCliInstallError';
  }
}

/**
 * The Temporal CLI, built with Go when it is missing and Go is there (`go install …@v1.5.1` into the usual GOPATH bin,
 * 2–7 minutes on a cold cache), so that `npm ci && npm start` needs no manual step. Without Go: the install hint.
 */
export async function ensureTemporalCli(opts: EnsureCliOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const plan = planTemporalCli(env);
  if (plan.kind === 'found') return plan.path;
  if (plan.kind === 'missing') throw plan.error;
  const progress = opts.progress ?? (() => {});
  const started = Date.now();
  const head = `building the Temporal CLI ${TEMPORAL_CLI_VERSION} (go ${plan.args.join(' ')} → ${plan.goBin}; 2–7 minutes the first time)`;
  let downloaded = 0;
  let built = 0;
  let tail: string[] = [];
  const status = () => `${head}: ${downloaded} modules downloaded, ${built} packages built, ${Math.round((Date.now() - started) / 1000)} s`;
  progress(status(), false);
  opts.signal?.throwIfAborted();
  // Its own process group, so that an abort (Ctrl-C of eas) stops the compilers too, not only the go command.
  const child = spawn('go', plan.args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const onLine = (line: string) => {
    if (!line.trim()) return;
    if (line.startsWith('go: downloading ')) downloaded++;
    else if (!line.includes(' ')) built++; // -v prints one package path per line as it is built
    tail = [...tail.slice(-19), line];
  };
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop() ?? '';
    lines.forEach(onLine);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const onAbort = () => kill();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // eas exiting for any other reason must not leave a build running either.
  process.once('exit', kill);
  const timer = setInterval(() => progress(status(), false), opts.everyMs ?? 5000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (buf) onLine(buf);
    opts.signal?.throwIfAborted();
    if (code !== 0) throw new TemporalCliInstallError(`\`go ${plan.args.join(' ')}\` failed (exit ${code}):\n${tail.join('\n')}\n${TEMPORAL_CLI_INSTALL_HINT}`);
    if (!isExecutable(plan.path)) throw new TemporalCliInstallError(`\`go ${plan.args.join(' ')}\` succeeded but ${plan.path} is not there (GOBIN or GOPATH changed?). ${TEMPORAL_CLI_INSTALL_HINT}`);
    progress(`built the Temporal CLI ${TEMPORAL_CLI_VERSION}: ${plan.path} (${Math.round((Date.now() - started) / 1000)} s)`, true);
    return plan.path;
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    process.off('exit', kill);
  }
}
