import * as fs from 'node:fs';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { z } from 'zod';
import { DivergedError } from '../train/errors';
import { latestEpochCheckpoint } from '../train/checkpoint';
import { runTrainJob } from '../train/process';
import type { TrainJobSpecInput } from '../train/job';
import { claimInputs } from '../store/inputs';
import { jobPaths } from '../store/layout';
import { networkRef } from '../store/network-ref';
import { inStore, storageRoot, toStore } from '../store/root';
import { appendLine, readJsonIfExists } from '../util/files';
import { type DevicePool, deviceEnv } from '../train/devices';
import { writeJsonAtomic } from '../util/atomic';
import { type TrainNetworkInput, TrainNetworkInputSchema, type TrainNetworkOutput } from './contract';
import { StoreFileError, toFailure } from './errors';
import { heartbeatEveryMs } from './options';

/** What each epoch heartbeat carries: where a retry resumes (relative to the run-store root: it may run on another host). */
export interface TrainHeartbeat {
  epoch: number;
  checkpoint: string;
}

const OUTCOME_FILE = 'outcome.json';
const ATTEMPTS_FILE = 'attempts.jsonl';

export interface TrainActivityDeps {
  /** This host's training devices: one trainer process per device at a time. */
  devices: DevicePool;
  /** This host's run-store root, overriding the configured one (default: EAS_STORAGE_ROOT, else the configured root). */
  storageRoot?: string;
}

/**
 * The training activity, with its dependencies injected. It imports neither tfjs nor the controller: the training
 * happens in an isolated trainer child (src/train/process.ts); this process only supervises and heartbeats.
 */
export function createTrainActivities(deps: TrainActivityDeps) {
  return {
    /**
     * Trains one network in an isolated trainer process. Heartbeats after every epoch with that epoch's checkpoint; a
     * retry (lost worker, crash) resumes from the last heartbeat or the last complete checkpoint on disk. A finished
     * job's outcome is returned as recorded, never recomputed; a job folder made from other inputs is refused.
     */
    async trainNetwork(raw: TrainNetworkInput): Promise<TrainNetworkOutput> {
      const ctx = Context.current();
      const parsed = TrainNetworkInputSchema.safeParse(raw);
      if (!parsed.success) {
        throw ApplicationFailure.create({ type: 'BadInput', nonRetryable: true, message: `trainNetwork: invalid input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` });
      }
      const input = parsed.data;
      const root = storageRoot(input.storageRoot, deps.storageRoot);
      const jobDir = inStore(root, input.jobDir);
      const from = inStore(root, input.from);
      const paths = jobPaths(jobDir);
      const outcomeFile = `${jobDir}/${OUTCOME_FILE}`;
      try {
        const { storageRoot: _root, name: _name, ...determining } = input;
        claimInputs(paths.trained, determining, `the training job ${input.name}`);
        const done = readJsonIfExists<TrainNetworkOutput>(outcomeFile);
        if (done) return done;
        // Not there (yet) on this host's view of the store: another host or a later try may see it.
        if (!fs.existsSync(from)) throw new StoreFileError(from, `the network to train (${input.from}) is missing under the run-store root ${root}`);
      } catch (err) {
        throw toFailure(err);
      }

      const fromHeartbeat = z.object({ epoch: z.number(), checkpoint: z.string() }).safeParse(ctx.info.heartbeatDetails);
      const heartbeatCkpt = fromHeartbeat.success ? inStore(root, fromHeartbeat.data.checkpoint) : undefined;
      const resumeFrom = heartbeatCkpt && fs.existsSync(heartbeatCkpt) ? heartbeatCkpt : latestEpochCheckpoint(paths.work);
      const resumedFromEpoch = resumeFrom ? Number(/epoch-(\d+)/.exec(resumeFrom)?.[1] ?? 0) : 0;
      appendLine(`${jobDir}/${ATTEMPTS_FILE}`, JSON.stringify({ attempt: ctx.info.attempt, resumedFromEpoch, pid: process.pid, at: new Date().toISOString() }));
      log.info(`${input.name}: attempt ${ctx.info.attempt}, ${resumeFrom ? `resuming after epoch ${resumedFromEpoch}` : 'from the start'}`);

      let last: TrainHeartbeat | undefined = resumeFrom ? { epoch: resumedFromEpoch, checkpoint: toStore(root, resumeFrom) } : undefined;
      // Heartbeats between epochs too, so that cancellation reaches a long epoch promptly (the SDK throttles them).
      const beat = setInterval(() => ctx.heartbeat(last), heartbeatEveryMs(ctx.info.heartbeatTimeoutMs));
      const spec: TrainJobSpecInput = {
        network: from,
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
      const device = await deps.devices.acquire();
      try {
        const result = await runTrainJob(spec, {
          env: { ...process.env, ...deviceEnv(device, deps.devices.devices.length) },
          signal: ctx.cancellationSignal,
          onEpoch: (e) => {
            last = { epoch: e.epoch, checkpoint: toStore(root, e.checkpoint) };
            ctx.heartbeat(last);
            log.info(`${input.name}: epoch ${e.epoch}/${input.epochs} loss ${e.loss.toFixed(4)} acc ${e.trainAcc.toFixed(4)} eval ${e.valAcc?.toFixed(4) ?? '–'} (${e.seconds.toFixed(1)} s)`);
          },
        });
        const accuracy = input.mode === 'final' ? (result.testAcc ?? null) : (result.valAcc ?? null);
        const outcome: TrainNetworkOutput = {
          network: networkRef(root, input.name, result.output, accuracy),
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
          const outcome: TrainNetworkOutput = { network: networkRef(root, input.name, from, 0), trainAccuracy: null, loss: null, epochs: err.epoch ?? 0, diverged: true, resumedFromEpoch };
          writeJsonAtomic(outcomeFile, outcome);
          return outcome;
        }
        if (ctx.cancellationSignal.aborted) throw err;
        throw toFailure(err);
      } finally {
        clearInterval(beat);
        deps.devices.release(device);
      }
    },
  };
}

export type TrainActivities = ReturnType<typeof createTrainActivities>;
