import { type ChildProcess, spawn } from 'node:child_process';
import { z } from 'zod';
import { type ErrorLike } from './errors';

/**
 * A small pool of long-lived child processes that run CPU-heavy tasks off the caller's event loop (the control
 * worker's process also runs the workflows, whose tasks must not wait behind a transform). Like the trainer
 * (src/train/process.ts) each child is an isolated `node --require tsx/cjs <script>` with an IPC channel, every message
 * it sends is validated, and an abort kills it at once (SIGKILL). Unlike the trainer a child serves many tasks in turn,
 * so tfjs and the wasm backend load once per child rather than once per task.
 *
 * A child that dies mid-task fails that task with ChildCrashedError (retryable); a new child is started for the next
 * one. Idle children do not keep the parent alive, and they exit when the parent goes away (IPC disconnect).
 */

export const ErrorLikeSchema = z.object({
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  file: z.string().optional(),
  code: z.string().optional(),
  type: z.string().optional(),
  nonRetryable: z.boolean().optional(),
});

/** Parent → child. */
export const RunMessageSchema = z.object({ type: z.literal('run'), id: z.number().int().nonnegative(), task: z.string(), input: z.unknown() }).strict();
export type RunMessage = z.infer<typeof RunMessageSchema>;

/** Child → parent. */
export const ChildMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('done'), id: z.number().int().nonnegative(), output: z.unknown() }).strict(),
  z.object({ type: z.literal('error'), id: z.number().int().nonnegative(), error: ErrorLikeSchema }).strict(),
]);
export type ChildMessage = z.infer<typeof ChildMessageSchema>;

/** The child process died (crash, out of memory, killed) while running a task, or broke the protocol. Retryable. */
export class ChildCrashedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
    this.name = 'ChildCrashedError';
  }
}

/** The task was aborted (activity cancelled): its child was killed. */
export class ChildAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbortError';
  }
}

/** A task failed inside the child: the child's error, with its name, file and code kept for classification. */
export class ChildTaskError extends Error implements ErrorLike {
  readonly file?: string;
  readonly code?: string;
  readonly type?: string;
  readonly nonRetryable?: boolean;
  constructor(e: z.infer<typeof ErrorLikeSchema>) {
    super(e.message);
    this.name = e.name;
    if (e.stack) this.stack = e.stack;
    this.file = e.file;
    this.code = e.code;
    this.type = e.type;
    this.nonRetryable = e.nonRetryable;
  }
}

export interface ChildPoolOptions {
  /** The child's entry module (a .ts file run through tsx). */
  script: string;
  /** Children at most, i.e. tasks at a time; more tasks wait for a free child. */
  size: number;
  /** Replace a child after this many tasks, so that whatever a long run leaks cannot grow without bound. */
  maxTasksPerChild?: number;
  env?: NodeJS.ProcessEnv;
  /** Child output (stdout/stderr); by default only kept for crash reports. */
  onOutput?: (text: string) => void;
  tailBytes?: number;
}

interface Slot {
  child?: ChildProcess;
  tasks: number;
  tail: string;
}

function setRef(child: ChildProcess, ref: boolean): void {
  const handles: Array<{ ref?: () => void; unref?: () => void } | null | undefined> = [child, child.channel, child.stdout as never, child.stderr as never];
  for (const h of handles) {
    if (ref) h?.ref?.();
    else h?.unref?.();
  }
}

export class ChildPool {
  private readonly free: Slot[] = [];
  private readonly waiters: Array<(s: Slot) => void> = [];
  private readonly all: Slot[] = [];
  private nextId = 0;
  private closed = false;

  constructor(private readonly opts: ChildPoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new Error(`ChildPool: size must be a positive integer, got ${opts.size}`);
    for (let i = 0; i < opts.size; i++) {
      const s: Slot = { tasks: 0, tail: '' };
      this.all.push(s);
      this.free.push(s);
    }
  }

  /**
   * Start every child now rather than at its first task: a child spends a second or two loading tfjs and compiling
   * modules, which the worker's first tasks (a search's prepare and first transforms) would otherwise wait for.
   */
  start(): void {
    if (this.closed) throw new Error('ChildPool is closed');
    for (const s of this.free) {
      if (s.child && s.child.exitCode === null && s.child.signalCode === null) continue;
      setRef(this.spawnChild(s), false);
    }
  }

  /** Pids of the running children (tests: kill one; check none is left). */
  pids(): number[] {
    return this.all.flatMap((s) => (s.child?.pid !== undefined && s.child.exitCode === null && s.child.signalCode === null ? [s.child.pid] : []));
  }

  /** Run `task` with `input` in a child; resolves with the child's output (validate it: it crossed a process boundary). */
  async run(task: string, input: unknown, opts: { signal?: AbortSignal } = {}): Promise<unknown> {
    if (this.closed) throw new Error('ChildPool is closed');
    if (opts.signal?.aborted) throw new ChildAbortedError(`${task}: aborted before it started`);
    const slot = await this.acquire();
    try {
      return await this.runIn(slot, task, input, opts.signal);
    } finally {
      this.release(slot);
    }
  }

  /** Kill every child; running tasks fail with ChildCrashedError. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.all.map(async (s) => {
        const c = s.child;
        s.child = undefined;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
        // An idle child is unref'd: ref it so that the process waits for its exit.
        setRef(c, true);
        c.kill('SIGKILL');
        await exited;
      }),
    );
  }

  private acquire(): Promise<Slot> {
    const s = this.free.shift();
    if (s) return Promise.resolve(s);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(s: Slot): void {
    if (s.child) {
      if (this.opts.maxTasksPerChild !== undefined && s.tasks >= this.opts.maxTasksPerChild) {
        s.child.kill('SIGKILL');
        s.child = undefined;
      } else setRef(s.child, false);
    }
    const next = this.waiters.shift();
    if (next) next(s);
    else this.free.push(s);
  }

  private spawnChild(slot: Slot): ChildProcess {
    const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), this.opts.script], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: this.opts.env ?? process.env,
    });
    const tailBytes = this.opts.tailBytes ?? 8192;
    const keep = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.opts.onOutput?.(text);
      slot.tail = (slot.tail + text).slice(-tailBytes);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('exit', () => {
      if (slot.child === child) slot.child = undefined;
    });
    slot.child = child;
    slot.tasks = 0;
    slot.tail = '';
    return child;
  }

  private runIn(slot: Slot, task: string, input: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    const child = slot.child && slot.child.exitCode === null && slot.child.signalCode === null ? slot.child : this.spawnChild(slot);
    setRef(child, true);
    slot.tasks++;
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const cleanup = () => {
        settled = true;
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const crash = (err: Error) => {
        if (settled) return;
        cleanup();
        child.kill('SIGKILL');
        reject(err);
      };
      const onMessage = (raw: unknown) => {
        const parsed = ChildMessageSchema.safeParse(raw);
        if (!parsed.success) {
          crash(new ChildCrashedError(`${task}: the child sent an invalid message: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, null, null));
          return;
        }
        const msg = parsed.data;
        if (msg.id !== id) return crash(new ChildCrashedError(`${task}: the child answered task ${msg.id}, expected ${id}`, null, null));
        cleanup();
        if (msg.type === 'done') resolve(msg.output);
        else reject(new ChildTaskError(msg.error));
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        if (settled) return;
        cleanup();
        reject(new ChildCrashedError(`${task}: the child process ${sig ? `was killed by ${sig}` : `exited with code ${code}`} before it finished; last output:\n${slot.tail}`, code, sig));
      };
      const onError = (err: Error) => crash(new ChildCrashedError(`${task}: child process error: ${err.message}`, null, null));
      const onAbort = () => {
        if (settled) return;
        cleanup();
        child.kill('SIGKILL');
        reject(new ChildAbortedError(`${task}: aborted; its child process was killed`));
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      const msg: RunMessage = { type: 'run', id, task, input };
      child.send(msg, (err) => {
        if (err) crash(new ChildCrashedError(`${task}: cannot send the task to the child: ${err.message}`, null, null));
      });
    });
  }
}

/**
 * The child side: serve `tasks` over IPC until the parent goes away. Each task's result (or error, as ErrorLike) goes
 * back under the task's id.
 */
export function serveTasks(tasks: Record<string, (input: unknown) => Promise<unknown>>, describeError: (err: unknown) => z.infer<typeof ErrorLikeSchema>): void {
  if (!process.send) throw new Error('a task child must be started with an IPC channel');
  process.on('disconnect', () => process.exit(0));
  // One task at a time: the parent sends the next only after this one answered.
  let queue: Promise<void> = Promise.resolve();
  process.on('message', (raw) => {
    queue = queue.then(async () => {
      const parsed = RunMessageSchema.safeParse(raw);
      if (!parsed.success) {
        process.exit(3);
      }
      const { id, task, input } = parsed.data;
      let reply: ChildMessage;
      try {
        const fn = tasks[task];
        if (!fn) throw new Error(`unknown task "${task}" (known: ${Object.keys(tasks).join(', ')})`);
        reply = { type: 'done', id, output: await fn(input) };
      } catch (err) {
        reply = { type: 'error', id, error: describeError(err) };
      }
      await new Promise<void>((resolve) => process.send!(reply, undefined, {}, () => resolve()));
    });
  });
}
