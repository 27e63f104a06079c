import * as fs from 'node:fs';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { BadInputError, DivergedError } from '../train/errors';
import { latestEpochCheckpoint } from '../train/checkpoint';
import { runTrainJob } from '../train/process';
import type { TrainJobSpecInput } from '../train/job';
import { jobPaths } from '../store/layout';
import { appendLine, readJsonIfExists } from '../util/files';
import { deviceEnv, devicePool } from '../workers/devices';
import { writeJsonAtomic } from '../util/atomic';
import { type TrainNetworkInput, TrainNetworkInputSchema, type TrainNetworkOutput } from './contract';
import { networkRef, nonRetryableFor } from './control';

/** What each epoch heartbeat carries: where a retry resumes. */
export interface TrainHeartbeat {
  epoch: number;
  checkpoint: string;
}

const OUTCOME_FILE = 'outcome.json';
const ATTEMPTS_FILE = 'attempts.jsonl';

/**
 * Trains one network in an isolated trainer process. Heartbeats after every epoch with that epoch's checkpoint; a retry
 * (lost worker, crash) resumes from the last heartbeat or the last complete checkpoint on disk. A finished job's
 * outcome is returned as recorded, never recomputed.
 */
export async function trainNetwork(raw: TrainNetworkInput): Promise<TrainNetworkOutput> {
  const ctx = Context.current();
  let input: ReturnType<typeof TrainNetworkInputSchema.parse>;
  try {
    input = TrainNetworkInputSchema.parse(raw);
  } catch (err) {
    return nonRetryableFor(err);
  }
  const paths = jobPaths(input.jobDir);
  const outcomeFile = `${input.jobDir}/${OUTCOME_FILE}`;
  const done = readJsonIfExists<TrainNetworkOutput>(outcomeFile);
  if (done) return done;

  const fromHeartbeat = ctx.info.heartbeatDetails as TrainHeartbeat | undefined;
  const resumeFrom = fromHeartbeat?.checkpoint && fs.existsSync(fromHeartbeat.checkpoint) ? fromHeartbeat.checkpoint : latestEpochCheckpoint(paths.work);
  const resumedFromEpoch = resumeFrom ? Number(/epoch-(\d+)/.exec(resumeFrom)?.[1] ?? 0) : 0;
  appendLine(`${input.jobDir}/${ATTEMPTS_FILE}`, JSON.stringify({ attempt: ctx.info.attempt, resumedFromEpoch, pid: process.pid, at: new Date().toISOString() }));
  log.info(`${input.name}: attempt ${ctx.info.attempt}, ${resumeFrom ? `resuming after epoch ${resumedFromEpoch}` : 'from the start'}`);

  let last: TrainHeartbeat | undefined = resumeFrom ? { epoch: resumedFromEpoch, checkpoint: resumeFrom } : undefined;
  // Heartbeats between epochs too, so that cancellation reaches a long epoch promptly (the SDK throttles them).
  const beat = setInterval(() => ctx.heartbeat(last), Math.max(500, Math.min(5_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3)));
  const spec: TrainJobSpecInput = {
    network: input.from,
    dataset: { ...input.dataset, seed: input.dataSeed },
    mode: input.mode,
    epochs: input.epochs,
    recipe: input.recipe,
    seed: input.seed,
    workDir: paths.work,
    output: paths.trained,
    resumeFrom,
    backend: input.backend,
  };
  const pool = devicePool();
  const device = await pool.acquire();
  try {
    const result = await runTrainJob(spec, {
      env: { ...process.env, ...deviceEnv(device, pool.devices.length) },
      signal: ctx.cancellationSignal,
      onEpoch: (e) => {
        last = { epoch: e.epoch, checkpoint: e.checkpoint };
        ctx.heartbeat(last);
        log.info(`${input.name}: epoch ${e.epoch}/${input.epochs} loss ${e.loss.toFixed(4)} acc ${e.trainAcc.toFixed(4)} eval ${e.valAcc?.toFixed(4) ?? '–'} (${e.seconds.toFixed(1)} s)`);
      },
    });
    const accuracy = input.mode === 'final' ? (result.testAcc ?? null) : (result.valAcc ?? null);
    const outcome: TrainNetworkOutput = {
      network: networkRef(input.name, result.output, accuracy),
      trainAccuracy: result.trainAcc ?? null,
      loss: result.loss ?? null,
      epochs: result.epochsRun,
      diverged: false,
      resumedFromEpoch,
    };
    writeJsonAtomic(outcomeFile, outcome);
    return outcome;
  } catch (err) {
    if (err instanceof DivergedError) {
      // A diverging candidate is a result (reward 0), not a failure: the search goes on.
      const outcome: TrainNetworkOutput = { network: { ...networkRef(input.name, input.from, 0), name: input.name }, trainAccuracy: null, loss: null, epochs: err.epoch ?? 0, diverged: true, resumedFromEpoch };
      writeJsonAtomic(outcomeFile, outcome);
      return outcome;
    }
    if (err instanceof BadInputError) throw ApplicationFailure.create({ type: 'BadInput', message: err.message, nonRetryable: true });
    return nonRetryableFor(err);
  } finally {
    clearInterval(beat);
    pool.release(device);
  }
}
