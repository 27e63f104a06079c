import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { type AnyNet, AnyNetSchema } from '../space';
import type { Weights } from '../nn';
import { publishDirAtomic } from '../util/atomic';
import { BadInputError } from './errors';
import { TrainingRecipeSchema } from './recipe';

/** One finished epoch as reported to callers and kept in the checkpoint history. */
export const EpochRecordSchema = z
  .object({
    epoch: z.number().int().positive(),
    /** Mean softmax cross-entropy over the epoch's training batches (the weight-decay term is not included). */
    loss: z.number(),
    /** Accuracy over the epoch's training batches, in training mode (dropout on, batch statistics). */
    trainAcc: z.number().min(0).max(1),
    /** Held-out accuracy after the epoch: validation in search mode, test in final mode; null when there is none. */
    valAcc: z.number().min(0).max(1).nullable(),
    /** Learning rate of the epoch's last step. */
    lr: z.number().nonnegative(),
    seconds: z.number().nonnegative(),
  })
  .strict();
export type EpochRecord = z.infer<typeof EpochRecordSchema>;

const TensorEntrySchema = z
  .object({
    name: z.string().min(1),
    shape: z.array(z.number().int().nonnegative()),
    /** Offset into tensors.bin, in float32 elements. */
    offset: z.number().int().nonnegative(),
  })
  .strict();

export const CHECKPOINT_FORMAT = 'eas-train-epoch/1';
export const STATE_FILE = 'state.json';
export const TENSORS_FILE = 'tensors.bin';

/** state.json of an epoch checkpoint: everything but the tensor data, which lives in tensors.bin. */
export const EpochCheckpointStateSchema = z
  .object({
    format: z.literal(CHECKPOINT_FORMAT),
    /** Epochs completed (1-based: epoch-0003 holds the state after the third epoch). */
    epoch: z.number().int().positive(),
    /** Epochs of the whole run; the cosine schedule spans them, so a resume must keep it. */
    epochs: z.number().int().positive(),
    /** Optimisation steps completed and steps per epoch. */
    step: z.number().int().nonnegative(),
    stepsPerEpoch: z.number().int().positive(),
    seed: z.number().int(),
    arch: AnyNetSchema,
    recipe: TrainingRecipeSchema,
    /** Serialised Rng states: epoch order and augmentation (dropout seeds derive from seed and step). */
    rng: z.object({ order: z.array(z.number()), augment: z.array(z.number()) }).strict(),
    /** The optimizer's iteration counter (tfjs Optimizer.iterations). */
    optimizerIterations: z.number().int().nonnegative(),
    history: z.array(EpochRecordSchema),
    /** Network weights (incl. BatchNorm moving statistics), by our weight names. */
    weights: z.array(TensorEntrySchema),
    /** Momentum accumulators, by the weight name of the variable they belong to, in the optimizer's order. */
    momentum: z.array(TensorEntrySchema),
  })
  .strict();
export type EpochCheckpointState = z.infer<typeof EpochCheckpointStateSchema>;

export interface EpochCheckpoint {
  dir: string;
  state: EpochCheckpointState;
  weights: Weights;
  /** Momentum accumulator per trainable weight name, in the order the optimizer holds them. */
  momentum: { name: string; shape: number[]; data: Float32Array }[];
}

export type EpochCheckpointInput = Omit<EpochCheckpointState, 'format' | 'weights' | 'momentum'> & {
  weights: Weights;
  momentum: EpochCheckpoint['momentum'];
};

export const epochDirName = (epoch: number): string => `epoch-${String(epoch).padStart(4, '0')}`;
const EPOCH_DIR = /^epoch-(\d{4,})$/;
/** Temporary directories publishDirAtomic leaves when a process dies while writing (`<target>.tmp-<pid>-<hex>`). */
const EPOCH_TMP_DIR = /^epoch-\d{4,}\.tmp-/;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Write the checkpoint of `epoch` to `<workDir>/epoch-NNNN/` atomically (temporary directory, then rename). An existing
 * epoch directory is a finished checkpoint from an earlier attempt and is kept as it is. Returns the directory.
 */
export async function saveEpochCheckpoint(workDir: string, input: EpochCheckpointInput): Promise<string> {
  const target = path.join(workDir, epochDirName(input.epoch));
  const entries: z.infer<typeof TensorEntrySchema>[] = [];
  const momentumEntries: z.infer<typeof TensorEntrySchema>[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (list: typeof entries, name: string, shape: number[], data: Float32Array) => {
    if (data.length !== size(shape)) throw new Error(`checkpoint tensor ${name}: ${data.length} values for shape [${shape.join(', ')}]`);
    list.push({ name, shape: [...shape], offset });
    chunks.push(data);
    offset += data.length;
  };
  for (const [name, w] of Object.entries(input.weights)) add(entries, name, w.shape, w.data);
  for (const m of input.momentum) add(momentumEntries, m.name, m.shape, m.data);
  const { weights: _w, momentum: _m, ...rest } = input;
  const state: EpochCheckpointState = EpochCheckpointStateSchema.parse({ format: CHECKPOINT_FORMAT, ...rest, weights: entries, momentum: momentumEntries });
  await publishDirAtomic(target, (tmp) => {
    const bytes = new Uint8Array(offset * 4);
    const view = new Float32Array(bytes.buffer);
    let at = 0;
    for (const c of chunks) {
      view.set(c, at);
      at += c.length;
    }
    fs.writeFileSync(path.join(tmp, TENSORS_FILE), bytes);
    // state.json last: a directory with it is complete even if the rename step were not atomic.
    fs.writeFileSync(path.join(tmp, STATE_FILE), JSON.stringify(state, null, 1) + '\n');
  });
  return target;
}

/** Read and validate an epoch checkpoint directory; problems raise BadInputError naming the file. */
export function loadEpochCheckpoint(dir: string): EpochCheckpoint {
  const stateFile = path.join(dir, STATE_FILE);
  const tensorsFile = path.join(dir, TENSORS_FILE);
  if (!fs.existsSync(dir)) throw new BadInputError(`epoch checkpoint ${dir} does not exist`);
  if (!fs.existsSync(stateFile)) throw new BadInputError(`${stateFile}: missing; ${dir} is not a complete epoch checkpoint`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  } catch (err) {
    throw new BadInputError(`${stateFile}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = EpochCheckpointStateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BadInputError(`${stateFile}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
  }
  const state = parsed.data;
  if (!fs.existsSync(tensorsFile)) throw new BadInputError(`${tensorsFile}: missing`);
  const bytes = fs.readFileSync(tensorsFile);
  const all = [...state.weights, ...state.momentum];
  const total = all.reduce((n, e) => Math.max(n, e.offset + size(e.shape)), 0);
  if (bytes.length !== total * 4) throw new BadInputError(`${tensorsFile}: ${bytes.length} bytes, ${STATE_FILE} describes ${total * 4}`);
  const floats = new Float32Array(total);
  new Uint8Array(floats.buffer).set(bytes);
  const slice = (e: z.infer<typeof TensorEntrySchema>) => floats.slice(e.offset, e.offset + size(e.shape));
  const weights: Weights = {};
  for (const e of state.weights) weights[e.name] = { shape: [...e.shape], data: slice(e) };
  const momentum = state.momentum.map((e) => ({ name: e.name, shape: [...e.shape], data: slice(e) }));
  return { dir, state, weights, momentum };
}

/** Finished epoch checkpoint directories under `workDir`, oldest first (partial temporary directories are ignored). */
export function listEpochCheckpoints(workDir: string): { epoch: number; dir: string }[] {
  if (!fs.existsSync(workDir)) return [];
  const out: { epoch: number; dir: string }[] = [];
  for (const name of fs.readdirSync(workDir)) {
    const m = EPOCH_DIR.exec(name);
    if (!m) continue;
    const dir = path.join(workDir, name);
    if (fs.existsSync(path.join(dir, STATE_FILE))) out.push({ epoch: Number(m[1]), dir });
  }
  return out.sort((a, b) => a.epoch - b.epoch);
}

/** The newest finished epoch checkpoint under `workDir`, if any. */
export function latestEpochCheckpoint(workDir: string): string | undefined {
  return listEpochCheckpoints(workDir).at(-1)?.dir;
}

/** Remove temporary epoch directories left behind by a process killed while writing. */
export function removeStaleTemporaries(workDir: string): string[] {
  if (!fs.existsSync(workDir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(workDir)) {
    if (!EPOCH_TMP_DIR.test(name)) continue;
    fs.rmSync(path.join(workDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The architecture and recipe a checkpoint was written for must be those of the run resuming from it. */
export function checkResumable(ckpt: EpochCheckpoint, run: { arch: AnyNet; epochs: number; seed: number; recipe: unknown; stepsPerEpoch: number }): void {
  const s = ckpt.state;
  const problems: string[] = [];
  if (JSON.stringify(s.arch) !== JSON.stringify(run.arch)) problems.push('the architecture differs');
  if (s.epochs !== run.epochs) problems.push(`it was written for a run of ${s.epochs} epochs, this run has ${run.epochs}`);
  if (s.seed !== run.seed) problems.push(`its seed is ${s.seed}, this run's is ${run.seed}`);
  if (JSON.stringify(s.recipe) !== JSON.stringify(run.recipe)) problems.push('the training recipe differs');
  if (s.stepsPerEpoch !== run.stepsPerEpoch) problems.push(`it has ${s.stepsPerEpoch} steps per epoch, this run's data gives ${run.stepsPerEpoch}`);
  if (s.epoch > run.epochs) problems.push(`it is at epoch ${s.epoch}, beyond this run's ${run.epochs}`);
  if (problems.length) throw new BadInputError(`cannot resume from ${ckpt.dir}: ${problems.join('; ')}`);
}
