import * as fs from 'node:fs';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { z } from 'zod';
import { DivergedError } from '../train/errors';
import { latestEpochCheckpoint } from '../train/checkpoint';
import { runTrainJob } from '../train/process';
import type { TrainJobSpecInput } from '../train/job';
import { claimInputs, inputsFile } from '../store/inputs';
import { jobPaths } from '../store/layout';
import { networkRef } from '../store/network-ref';
import { inStore, toStore } from '../store/root';
import { type RunStore, openStore } from '../store/storage';
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
const EPOCH_DIR = /^epoch-(\d{4,})$/;

/** Publish `stored` when this host has it (an artifact finished here whose upload an earlier attempt did not finish). */
async function publishIfHere(store: RunStore, stored: string): Promise<void> {
  if (fs.existsSync(store.localPath(stored))) await store.publish(stored);
}

/**
 * The newest epoch checkpoint of a job's work/ folder this attempt can resume from, on this host: the one the last
 * heartbeat named, the newest published one, or a newer one finished on this host (whose upload was cut short),
 * whichever is latest. Published ones are pulled (and verified) first.
 */
async function resumableCheckpoint(store: RunStore, workStored: string, heartbeat: string | undefined): Promise<string | undefined> {
  const epochOf = (dir: string | undefined) => (dir ? Number(/epoch-(\d+)$/.exec(dir)?.[1] ?? 0) : 0);
  const fromHeartbeat = heartbeat && (await store.pull(heartbeat)) ? store.localPath(heartbeat) : undefined;
  const published = (await store.list(workStored)).filter((n) => EPOCH_DIR.test(n)).sort();
  let pulled: string | undefined;
  for (let i = published.length - 1; i >= 0 && !pulled && epochOf(published[i]) > epochOf(fromHeartbeat); i--) {
    const stored = `${workStored}/${published[i]}`;
    if (await store.pull(stored)) pulled = store.localPath(stored);
  }
  const local = latestEpochCheckpoint(store.localPath(workStored));
  return [fromHeartbeat, pulled, local].reduce((best, c) => (epochOf(c) > epochOf(best) ? c : best), undefined as string | undefined);
}

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
      // Files on this host under its root; with an object store, pulled before they are read and published once
      // finished (the store's commit marker last), so the job can run, and resume, on any host.
      const store = openStore(input.storageRoot, deps.storageRoot);
      const root = store.root;
      const jobDir = inStore(root, input.jobDir);
      const from = inStore(root, input.from);
      const paths = jobPaths(jobDir);
      const stored = { ...jobPaths(input.jobDir), outcome: `${input.jobDir}/${OUTCOME_FILE}`, attempts: `${input.jobDir}/${ATTEMPTS_FILE}` };
      const outcomeFile = `${jobDir}/${OUTCOME_FILE}`;
      let resumeFrom: string | undefined;
      try {
        await Promise.all([store.pull(inputsFile(stored.trained)), store.pull(stored.outcome)]);
        const { storageRoot: _root, name: _name, ...determining } = input;
        claimInputs(paths.trained, determining, `the training job ${input.name}`);
        await store.publish(inputsFile(stored.trained));
        const done = readJsonIfExists<TrainNetworkOutput>(outcomeFile);
        if (done) {
          await publishIfHere(store, stored.trained);
          await store.publish(stored.outcome);
          return done;
        }
        // Not there (yet) on this host's view of the store: another host or a later try may see it.
        if (!(await store.pull(input.from)) || !fs.existsSync(from)) throw new StoreFileError(from, `the network to train (${input.from}) is missing under the run-store root ${store.url}`);
        // Uploads of killed attempts that no commit marker names (never read as finished) go once they are old.
        await store.sweep(stored.work).catch((err: unknown) => log.warn(`${input.name}: sweeping ${stored.work}: ${(err as Error).message}`));
        const fromHeartbeat = z.object({ epoch: z.number(), checkpoint: z.string() }).safeParse(ctx.info.heartbeatDetails);
        resumeFrom = await resumableCheckpoint(store, stored.work, fromHeartbeat.success ? fromHeartbeat.data.checkpoint : undefined);
        await store.pull(stored.attempts);
      } catch (err) {
        throw toFailure(err);
      }

      const resumedFromEpoch = resumeFrom ? Number(/epoch-(\d+)/.exec(resumeFrom)?.[1] ?? 0) : 0;
      appendLine(`${jobDir}/${ATTEMPTS_FILE}`, JSON.stringify({ attempt: ctx.info.attempt, resumedFromEpoch, pid: process.pid, at: new Date().toISOString() }));
      await store.publish(stored.attempts, { replace: true }).catch((err: unknown) => log.warn(`${input.name}: publishing ${stored.attempts}: ${(err as Error).message}`));
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
          onEpoch: async (e) => {
            const checkpoint = toStore(root, e.checkpoint);
            // Published before the heartbeat names it: a retry on any host resumes from it.
            await store.publish(checkpoint);
            last = { epoch: e.epoch, checkpoint };
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
        await store.publish(stored.trained);
        writeJsonAtomic(outcomeFile, outcome);
        await store.publish(stored.outcome);
        return outcome;
      } catch (err) {
        if (err instanceof DivergedError) {
          // A diverging candidate is a result (reward 0), not a failure: the search goes on.
          const outcome: TrainNetworkOutput = { network: networkRef(root, input.name, from, 0), trainAccuracy: null, loss: null, epochs: err.epoch ?? 0, diverged: true, resumedFromEpoch };
          try {
            writeJsonAtomic(outcomeFile, outcome);
            await store.publish(stored.outcome);
          } catch (e) {
            throw toFailure(e);
          }
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
