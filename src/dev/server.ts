import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { findTemporalCli } from '../temporal/cli-path';
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
 * The embedded default: reuse a Temporal server already listening on the port, or start `temporal server start-dev` from
 * the Temporal CLI with its state in `dbFile` and the Web UI on. The server outlives nothing: stop() ends it.
 */
export async function startOrReuseDevServer(opts: DevServerOptions): Promise<DevServer> {
  const address = `localhost:${opts.port}`;
  if (await listening(opts.port)) {
    const ui = (await listening(opts.uiPort)) ? `http://localhost:${opts.uiPort}` : null;
    opts.log(`reusing the Temporal server already listening on ${address}`);
    return { address, uiUrl: ui, reused: true, stop: async () => {} };
  }
  const cli = findTemporalCli();
  fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--db-filename', opts.dbFile, '--port', String(opts.port), '--ui-port', String(opts.uiPort), '--log-level', 'warn'];
  for (const k of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${k.name}=${SA_TYPE[k.type]}`);
  const logFile = path.join(path.dirname(opts.dbFile), 'server.log');
  const out = fs.openSync(logFile, 'a');
  // Its own process group, so that Ctrl-C in the terminal reaches eas first and eas stops the server in order.
  const child: ChildProcess = spawn(cli, args, { stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  while (!(await listening(opts.port))) {
    if (exited) throw new Error(`temporal server start-dev exited early; see ${logFile}`);
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`temporal server start-dev did not listen on ${address} within 60 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  opts.log(`started the Temporal dev server on ${address} (state in ${opts.dbFile}, log ${logFile})`);
  return {
    address,
    uiUrl: `http://localhost:${opts.uiPort}`,
    reused: false,
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
