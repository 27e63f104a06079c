import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const EAS = path.join(__dirname, '..', '..', 'bin', 'eas.js');

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * `eas worker` as a real process, resolved once it polls its task queue; one that has not started within
 * `startTimeoutMs` is killed (the caller has no handle on it yet) and the call fails with its output.
 */
export async function spawnWorker(kind: 'control' | 'train', address: string, taskQueue: string, env: NodeJS.ProcessEnv = {}, startTimeoutMs = 60_000): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [EAS, 'worker', '--queue', kind, '--task-queue', taskQueue, '--address', address], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + startTimeoutMs;
  while (!/polling/.test(out)) {
    if (child.exitCode !== null) throw new Error(`eas worker --queue ${kind} exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`eas worker --queue ${kind} did not start within ${startTimeoutMs / 1000} s:\n${out}`);
    }
    await sleep(100);
  }
  return { child, output: () => out, exited };
}

export async function stopWorker(w: WorkerProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill(signal);
  await w.exited;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A deadline for Promise.race: its timer does not keep the test process alive once the race is won. */
export const deadline = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 120_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Live processes whose command line contains every one of `parts` (read from /proc, so nothing is missed by a pattern). */
export function processesMatching(...parts: string[]): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      // A zombie is already dead: it holds no port and no file.
      if (/^\S+ \((?:.*)\) Z /.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8'))) continue;
    } catch {
      continue;
    }
    if (parts.every((p) => cmd.includes(p))) out.push({ pid: Number(d), cmd });
  }
  return out;
}
