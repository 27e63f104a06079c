/**
 * Entry point of a trainer child process (started by runTrainJob): argv[2] is the JSON job spec; progress, the result
 * or a classified error go to the parent as TrainerMessages over IPC. The process exits when its parent goes away.
 */
import { ZodError } from 'zod';
import { ArchError } from '../arch';
import { DataFileError, DatasetUnavailableError } from '../data';
import { WeightsError } from '../nn';
import { CheckpointError } from '../checkpoint';
import { BadInputError, DivergedError } from './errors';
import { executeTrainJob } from './job';
import type { TrainerMessage } from './protocol';

function send(msg: TrainerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('trainer-child must be started with an IPC channel'));
    process.send(msg, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

function classify(err: unknown): Extract<TrainerMessage, { type: 'error' }>['kind'] {
  if (err instanceof DivergedError) return 'diverged';
  if (err instanceof DatasetUnavailableError) return 'data-unavailable';
  if (err instanceof BadInputError || err instanceof ZodError || err instanceof ArchError || err instanceof WeightsError || err instanceof CheckpointError || err instanceof DataFileError) {
    return 'bad-input';
  }
  return 'internal';
}

async function main(): Promise<number> {
  process.on('disconnect', () => process.exit(70));
  let spec: unknown;
  try {
    spec = JSON.parse(process.argv[2] ?? '');
  } catch (err) {
    await send({ type: 'error', kind: 'bad-input', message: `trainer-child: argv[2] is not a JSON job spec (${(err as Error).message})` });
    return 2;
  }
  try {
    const result = await executeTrainJob(spec as never, {
      onEpoch: (r) => send({ type: 'epoch', epoch: r.epoch, epochs: r.epochs, loss: r.loss, trainAcc: r.trainAcc, valAcc: r.valAcc, lr: r.lr, seconds: r.seconds, checkpoint: r.checkpoint! }),
      onProgress: (b) => void send({ type: 'progress', ...b }).catch(() => {}),
      log: (m) => process.stderr.write(`${m}\n`),
    });
    await send({ type: 'done', result });
    return 0;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    const where = err instanceof DivergedError ? { epoch: err.epoch, step: err.step } : {};
    await send({ type: 'error', kind: classify(err), message: e.message, stack: e.stack, ...where });
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`trainer-child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(71);
  },
);
