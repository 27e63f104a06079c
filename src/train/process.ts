import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { BadInputError, DivergedError, TrainAbortedError, TrainerCrashedError, TrainerInternalError } from './errors';
import { parseTrainJobSpec, readPublishedResult, type TrainJobSpecInput, type TrainResult } from './job';
import { type EpochMessage, type ProgressMessage, TrainerMessageSchema } from './protocol';
import { DatasetUnavailableError } from '../data/types';

export const TRAINER_CHILD = path.join(__dirname, 'trainer-child.ts');

export interface RunTrainJobOptions {
  /** Called after every epoch with its record and checkpoint directory (heartbeat here; resume from it on retry). */
  onEpoch?: (epoch: EpochMessage) => void | Promise<void>;
  onProgress?: (progress: ProgressMessage) => void;
  /** Aborting kills the child at once (SIGKILL); finished epoch checkpoints stay valid, partial ones never appear. */
  signal?: AbortSignal;
  /** Lines the child writes to stdout/stderr (default: kept only for the crash report). */
  onOutput?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
  /** How much of the child's output a TrainerCrashedError carries. */
  stderrTailBytes?: number;
}

/**
 * Run one training job in its own child process (node --require tsx/cjs trainer-child.ts) and resolve with its result.
 * When spec.output already holds a published result (an earlier attempt finished), that result is returned without
 * training. Errors: DivergedError, BadInputError, DatasetUnavailableError, TrainerInternalError (reported by the child), TrainerCrashedError (the
 * child died without reporting), TrainAbortedError (signal), or whatever onEpoch throws (the child is killed).
 */
export async function runTrainJob(specInput: TrainJobSpecInput, opts: RunTrainJobOptions = {}): Promise<TrainResult> {
  const spec = parseTrainJobSpec(specInput);
  const published = readPublishedResult(spec.output);
  if (published) return published;
  if (opts.signal?.aborted) throw new TrainAbortedError();

  const tailBytes = opts.stderrTailBytes ?? 8192;
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), TRAINER_CHILD, JSON.stringify(spec)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: opts.env ?? process.env,
  });

  return new Promise<TrainResult>((resolve, reject) => {
    let tail = '';
    let result: TrainResult | undefined;
    let reported: Error | undefined;
    let failure: unknown;
    let aborted = false;
    let settled = false;
    // onEpoch callbacks run in order; the job settles only after the last one finished.
    let callbacks: Promise<void> = Promise.resolve();

    const keep = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      opts.onOutput?.(text);
      tail = (tail + text).slice(-tailBytes);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);

    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const onAbort = () => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (err: unknown) => {
      if (failure === undefined) failure = err;
      kill();
    };

    child.on('message', (raw) => {
      const parsed = TrainerMessageSchema.safeParse(raw);
      if (!parsed.success) {
        fail(new TrainerCrashedError(`trainer sent an invalid message: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, null, null, tail));
        return;
      }
      const msg = parsed.data;
      switch (msg.type) {
        case 'epoch':
          if (opts.onEpoch) {
            // A throwing callback (e.g. a cancelled heartbeat) stops the job.
            callbacks = callbacks.then(() => opts.onEpoch!(msg)).catch(fail);
          }
          break;
        case 'progress':
          try {
            opts.onProgress?.(msg);
          } catch (err) {
            fail(err);
          }
          break;
        case 'done':
          result = msg.result;
          break;
        case 'error':
          reported =
            msg.kind === 'diverged'
              ? new DivergedError(msg.message, msg.epoch, msg.step)
              : msg.kind === 'bad-input'
                ? new BadInputError(msg.message)
                : msg.kind === 'data-unavailable'
                  ? new DatasetUnavailableError(msg.message)
                  : new TrainerInternalError(msg.message);
          if (msg.stack && msg.kind === 'internal') reported.stack = msg.stack;
          break;
      }
    });

    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      void callbacks.then(() => settle(code, signal));
    };
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (aborted) return reject(new TrainAbortedError(`training job was aborted (${spec.output})`));
      if (failure !== undefined) return reject(failure);
      if (reported) return reject(reported);
      if (result && code === 0) return resolve(result);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new TrainerCrashedError(`trainer process ${how} without ${result ? 'exiting cleanly' : 'reporting a result'}; last output:\n${tail}`, code, signal, tail));
    };
    child.on('error', (err) => {
      failure ??= new TrainerCrashedError(`cannot start the trainer process: ${err.message}`, null, null, tail);
      finish(null, null);
    });
    child.on('close', finish);
  });
}
