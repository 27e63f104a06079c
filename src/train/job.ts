import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { initBackend } from '../backend';
import { CHECKPOINT_FILES } from '../checkpoint';
import { loadNetwork, saveNetwork } from '../checkpoint/network';
import { DatasetUnavailableError, loadSplits, type DatasetSplits } from '../data';
import { DatasetConfigSchema } from '../data/config';
import { BadInputError } from './errors';
import { EpochRecordSchema, latestEpochCheckpoint, loadEpochCheckpoint, removeStaleTemporaries } from './checkpoint';
import { modelOptionsFor, trainNetwork, type BatchReport, type EpochReport } from './loop';
import { TrainingRecipeSchema } from './recipe';

const Count = z.number().int().positive();

/** The search config's dataset schema (src/config/dataset.ts) plus the seed of the validation hold-out and `limit` subsets. */
export const TrainDatasetSchema = DatasetConfigSchema.extend({
  /** Keep it fixed across a search, so that every candidate is scored on the same validation images. */
  seed: z.number().int().default(0),
});
export type TrainDataset = z.infer<typeof TrainDatasetSchema>;

/** One training job: a network checkpoint trained on a dataset, checkpointing per epoch, published to `output`. */
export const TrainJobSpecSchema = z
  .object({
    /** Network checkpoint directory (saveNetwork) to start from. */
    network: z.string().min(1),
    dataset: TrainDatasetSchema,
    /** search: train on train − validation, report validation accuracy; final: full training set, report test accuracy. */
    mode: z.enum(['search', 'final']),
    epochs: Count,
    recipe: TrainingRecipeSchema.default(TrainingRecipeSchema.parse({})),
    /** Seeds epoch order, augmentation and dropout. */
    seed: z.number().int(),
    /** Epoch checkpoints go to `<workDir>/epoch-NNNN/`. */
    workDir: z.string().min(1),
    /** The trained network is published here (saveNetwork, atomic); its meta.json holds the TrainResult. */
    output: z.string().min(1),
    /** An epoch checkpoint directory to continue from, or 'latest' for the newest one in workDir (none: start fresh). */
    resumeFrom: z.string().min(1).optional(),
    backend: z.string().optional(),
    threads: z.number().int().positive().optional(),
    /** Minimum interval between progress reports within an epoch (0: every batch). */
    progressIntervalMs: z.number().nonnegative().default(2000),
  })
  .strict();
export type TrainJobSpec = z.infer<typeof TrainJobSpecSchema>;
export type TrainJobSpecInput = z.input<typeof TrainJobSpecSchema>;

export const TrainResultSchema = z
  .object({
    mode: z.enum(['search', 'final']),
    /** Validation accuracy after the last epoch (search mode). */
    valAcc: z.number().min(0).max(1).optional(),
    /** Test accuracy after the last epoch (final mode). */
    testAcc: z.number().min(0).max(1).optional(),
    trainAcc: z.number().min(0).max(1),
    loss: z.number(),
    history: z.array(EpochRecordSchema),
    epochs: Count,
    /** Epochs trained by the attempt that finished (fewer than `epochs` when it resumed). */
    epochsRun: z.number().int().nonnegative(),
    /** Resumed from this epoch checkpoint, if any. */
    resumedFrom: z.string().optional(),
    output: z.string(),
    params: z.number().int().nonnegative(),
    trainImages: z.number().int().nonnegative(),
    evalImages: z.number().int().nonnegative(),
    backend: z.string(),
    /** Sum of the epochs' seconds over all attempts. */
    seconds: z.number().nonnegative(),
  })
  .strict();
export type TrainResult = z.infer<typeof TrainResultSchema>;

const OutputMetaSchema = z.object({ trainResult: TrainResultSchema }).passthrough();

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ');
}

export function parseTrainJobSpec(raw: unknown): TrainJobSpec {
  const parsed = TrainJobSpecSchema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(`invalid train job spec: ${issues(parsed.error)}`);
  return parsed.data;
}

/** The recorded result of a finished job whose output was already published; undefined when there is no output yet. */
export function readPublishedResult(output: string): TrainResult | undefined {
  if (!fs.existsSync(output)) return undefined;
  const metaFile = path.join(output, CHECKPOINT_FILES.meta);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
  } catch (err) {
    throw new BadInputError(`output ${output} exists but ${metaFile} cannot be read (${(err as Error).message}); remove it or choose another output`);
  }
  const parsed = OutputMetaSchema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(`output ${output} exists but is not a finished training result: ${metaFile}: ${issues(parsed.error)}`);
  return parsed.data.trainResult;
}

export interface JobHooks {
  onEpoch?: (report: EpochReport) => void | Promise<void>;
  /** Within-epoch progress, at most every spec.progressIntervalMs (and always for the last batch). */
  onProgress?: (report: BatchReport) => void;
  signal?: AbortSignal;
  log?: (msg: string) => void;
}

async function loadData(spec: TrainJobSpec): Promise<DatasetSplits> {
  const d = spec.dataset;
  try {
    return await loadSplits({
      dataset: d.name,
      dataDir: d.dataDir,
      mode: spec.mode,
      seed: d.seed,
      validationSize: d.validationSize,
      limit: d.limit,
      download: d.download,
      synthetic: d.synthetic,
    });
  } catch (err) {
    // Files missing on this host: not the job's fault, another host (or this one, once they are there) can run it.
    if (err instanceof DatasetUnavailableError) throw err;
    throw new BadInputError(`dataset '${d.name}': ${(err as Error).message}`, { cause: err });
  }
}

function loadStart(dir: string): ReturnType<typeof loadNetwork> {
  try {
    return loadNetwork(dir);
  } catch (err) {
    throw new BadInputError(`network: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Run a training job in this process (the trainer child and `eas train` use it). Returns the recorded result at once
 * when `output` was already published by an earlier attempt.
 */
export async function executeTrainJob(specInput: TrainJobSpecInput | TrainJobSpec, hooks: JobHooks = {}): Promise<TrainResult> {
  const spec = parseTrainJobSpec(specInput);
  const published = readPublishedResult(spec.output);
  if (published) return published;

  const backend = await initBackend({ backend: spec.backend, threads: spec.threads, log: hooks.log ?? (() => {}) });
  const start = loadStart(spec.network);
  const data = await loadData(spec);
  const { arch } = start;
  if (data.train.shape.join('x') !== arch.input.join('x')) {
    throw new BadInputError(`network ${spec.network} takes ${arch.input.join('×')} inputs, dataset '${spec.dataset.name}' has ${data.train.shape.join('×')} images`);
  }
  if (data.train.classes !== arch.classes) throw new BadInputError(`network ${spec.network} has ${arch.classes} classes, dataset '${spec.dataset.name}' has ${data.train.classes}`);

  fs.mkdirSync(spec.workDir, { recursive: true });
  removeStaleTemporaries(spec.workDir);
  const resumeDir = spec.resumeFrom === 'latest' ? latestEpochCheckpoint(spec.workDir) : spec.resumeFrom;
  const resume = resumeDir ? loadEpochCheckpoint(resumeDir) : undefined;

  let lastProgress = -Infinity;
  const outcome = await trainNetwork({
    arch,
    weights: start.weights,
    train: data.train,
    evaluate: data.eval,
    epochs: spec.epochs,
    recipe: spec.recipe,
    seed: spec.seed,
    checkpointDir: spec.workDir,
    resume,
    signal: hooks.signal,
    onEpoch: hooks.onEpoch,
    onBatch: hooks.onProgress
      ? (b) => {
          const now = performance.now();
          if (b.batch === b.batches || now - lastProgress >= spec.progressIntervalMs) {
            lastProgress = now;
            hooks.onProgress!(b);
          }
        }
      : undefined,
  });

  const evalAcc = outcome.valAcc ?? undefined;
  const result: TrainResult = {
    mode: spec.mode,
    ...(spec.mode === 'search' ? { valAcc: evalAcc } : { testAcc: evalAcc }),
    trainAcc: outcome.trainAcc,
    loss: outcome.loss,
    history: outcome.history,
    epochs: spec.epochs,
    epochsRun: outcome.epochsRun,
    ...(resumeDir ? { resumedFrom: resumeDir } : {}),
    output: spec.output,
    params: start.space.params(arch),
    trainImages: data.train.count,
    evalImages: data.eval.count,
    backend: backend.name,
    seconds: outcome.history.reduce((s, h) => s + h.seconds, 0),
  };
  // The input normalisation the network was trained with, so an export can carry it (raw pixels in, logits out).
  const meta = { trainResult: TrainResultSchema.parse(result), startedFrom: spec.network, seed: spec.seed, dataset: spec.dataset, recipe: spec.recipe, normalization: data.normalization };
  const publishedNow = await saveNetwork(spec.output, arch, outcome.weights, meta, { model: modelOptionsFor(spec.recipe) });
  // Another attempt may have published first; its result stands (same seed and inputs, same weights).
  return publishedNow ? result : readPublishedResult(spec.output)!;
}
