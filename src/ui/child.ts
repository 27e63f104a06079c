import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** The `eas` command (bin/eas.js): the dashboard runs as `eas ui` in a process of its own. */
const EAS_BIN = path.resolve(__dirname, '..', '..', 'bin', 'eas.js');
/** Set in the dashboard's environment: it stops when its standard input closes (its parent exited or was killed). */
export const EXIT_WITH_PARENT = 'EAS_UI_EXIT_WITH_PARENT';

export interface DashboardProcess {
  url: string;
  close(): Promise<void>;
}

/**
 * `eas ui` as a child process, for `eas dev`: the dashboard reads the run store on every poll, and that reading must
 * not run on the process whose event loop serves the workflows. Resolves with its address once it listens; rejects
 * with its last words when it exits first (a port already taken) or does not listen within `startMs`.
 */
export function startDashboardProcess(opts: { root: string; port: number; address?: string; webUi?: string | null; log: (line: string) => void; startMs?: number }): Promise<DashboardProcess> {
  const args = [EAS_BIN, 'ui', '--port', String(opts.port), '--runs', opts.root];
  if (opts.address) args.push('--address', opts.address);
  if (opts.webUi) args.push('--temporal-ui', opts.webUi);
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, [EXIT_WITH_PARENT]: '1' } });
  const said: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    said.push(line);
    opts.log(line.replace(/^\[eas ui\] /, ''));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    await exited;
    clearTimeout(killer);
  };
  return new Promise<DashboardProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      void close();
      reject(new Error(`it did not listen within ${(opts.startMs ?? 60_000) / 1000} s`));
    }, opts.startMs ?? 60_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^eas ui: (\S+)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve({ url: m[1], close });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`eas ui exited (${signal ?? `code ${code}`}): ${said.slice(-3).join(' | ') || 'no output'}`));
    });
  });
}
