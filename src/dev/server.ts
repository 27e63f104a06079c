import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ensureTemporalCli } from '../temporal/cli-path';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

export interface DevServer {
  address: string;
  uiUrl: string | null;
  /** True when a server was already listening there (started by an earlier `eas dev` or by you). */
  reused: boolean;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  /** SQLite file: the server's state survives restarts, so a search can be resumed. */
  dbFile: string;
  port: number;
  uiPort: number;
  log: (msg: string) => void;
  /** A progress line that replaces the previous one (the Temporal CLI build); defaults to log. */
  progress?: (line: string, final: boolean) => void;
  /** Abort (Ctrl-C) at any moment: whatever was started is stopped, and the promise rejects with the abort reason. */
  signal?: AbortSignal;
}

function listening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
    sock.setTimeout(1000, () => {
      sock.destroy();
      resolve(false);
    });
  });
}

const SA_TYPE: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', DOUBLE: 'Double' };

/**
 * Dev-server settings for eas's traffic: one partition per task queue. With the default four, an activity task
 * scheduled while no poller waits is written to one partition's backlog and can sit there about a second before a
 * poller on another partition gets it (measured: the 7th of an episode's 8 transforms started 2 s after it was
 * scheduled, 1.1 s after a control slot freed). A search's queues carry a few tasks per second, far below what one
 * partition serves. A production cluster sets these in its own dynamic config (README, multi-host).
 */
export const DEV_SERVER_ARGS: readonly string[] = ['--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1', '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1'];

/**
 * The embedded default: reuse a Temporal server already listening on the port, or start `temporal server start-dev` from
 * the Temporal CLI with its state in `dbFile` and the Web UI on. The server outlives nothing: stop() ends its process group, and so
 * do an abort during start-up and the exit of eas.
 */
export async function startOrReuseDevServer(opts: DevServerOptions): Promise<DevServer> {
  const address = `localhost:${opts.port}`;
  if (await listening(opts.port)) {
    const ui = (await listening(opts.uiPort)) ? `http://localhost:${opts.uiPort}` : null;
    opts.log(`reusing the Temporal server already listening on ${address}`);
    return { address, uiUrl: ui, reused: true, stop: async () => {} };
  }
  // The server would die at start-up with "address already in use" in its log; say it here, with the way out.
  if (await listening(opts.uiPort)) {
    throw new Error(
      `--ui-port ${opts.uiPort}: something already listens there (another eas dev or Temporal server?); a second eas dev on this machine needs its own --port and --ui-port`,
    );
  }
  const cli = await ensureTemporalCli({ progress: opts.progress ?? ((line) => opts.log(line)), signal: opts.signal });
  opts.signal?.throwIfAborted();
  fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--port', String(opts.port), '--ui-port', String(opts.uiPort), '--log-level', 'warn'];
  for (const k of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${k.name}=${SA_TYPE[k.type]}`);
  args.push(...DEV_SERVER_ARGS);
  const logFile = path.join(path.dirname(opts.dbFile), 'server.log');
  const out = fs.openSync(logFile, 'a');
  // Its own process group, so that Ctrl-C in the terminal reaches eas first and eas stops the server in order.
  const child: ChildProcess = spawn(cli, args, { stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  let exited = false;
  const gone = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  // The whole group, whatever happens to eas: an abort, an error, or an exit that skips stop().
  const killGroup = (signal: NodeJS.Signals) => {
    if (exited) return;
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const killNow = () => killGroup('SIGKILL');
  process.on('exit', killNow);
  const stop = async () => {
    opts.signal?.removeEventListener('abort', onAbort);
    killGroup('SIGTERM');
    const timer = setTimeout(() => killGroup('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
    process.off('exit', killNow);
  };
  let aborted: Promise<void> | undefined;
  const onAbort = () => (aborted = stop());
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const deadline = Date.now() + 60_000;
  try {
    while (!(await listening(opts.port))) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (exited) throw new Error(`temporal server start-dev exited early; see ${logFile}`);
      if (Date.now() > deadline) throw new Error(`temporal server start-dev did not listen on ${address} within 60 s; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    opts.signal?.throwIfAborted();
  } catch (err) {
    await (aborted ?? stop());
    throw err;
  }
  // From here on the caller stops it, after its workers have shut down (they need the server to do so in order).
  opts.signal?.removeEventListener('abort', onAbort);
  opts.log(`started the Temporal dev server on ${address} (state in ${opts.dbFile}, log ${logFile})`);
  return { address, uiUrl: `http://localhost:${opts.uiPort}`, reused: false, stop: () => aborted ?? stop() };
}
