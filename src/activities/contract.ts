import { z } from 'zod';
import { DatasetConfigSchema, SearchConfigSchema } from '../config/search-config';
import { AnyActionSchema, SearchSpaceConfigSchema, spaceOf } from '../space';
import { CandidateRecordSchema, NetworkRefSchema } from '../store/records';
import { type Gain, ReferenceSchema } from '../store/result';
import { ControllerConfigSchema } from '../controller/config';
import { TrainingRecipeSchema } from '../train/recipe';
import { TransformOptionsSchema } from '../transform/options';

/**
 * What crosses Temporal: references into the run store and small results, never weights.
 * Workflows import only the types; activities parse their inputs (and child processes' outputs) with these schemas.
 *
 * Every run-store path here (runDir, NetworkRef.dir, start, output, …) is relative to the run-store root, and every
 * input that names such paths carries `storageRoot`, the root as configured (config.storage.root). Each host resolves
 * them against its own root (EAS_STORAGE_ROOT overriding the configured one), so a training host that mounts the shared
 * store at another path works.
 */

/** The configured run-store root (config.storage.root); a host's EAS_STORAGE_ROOT takes precedence over it. */
const StorageRootSchema = z.string().min(1);
/** A path inside the run store, relative to its root ("<search id>/stage-1/…"). */
const StorePathSchema = z.string().min(1);

import type { NetworkRef } from '../store/records';
export { type CandidateFailure, CandidateFailureSchema, type CandidateRecord, CandidateRecordSchema, type NetworkRef, NetworkRefSchema } from '../store/records';

/**
 * Actions cross Temporal typed by their space: an input that carries `searchSpace` and `actions` is refused unless
 * every action is one of that space's (src/space: `actionSchema`), naming the action.
 */
function actionsOfItsSpace(v: { searchSpace: z.infer<typeof SearchSpaceConfigSchema>; actions: unknown[] }, ctx: z.RefinementCtx): void {
  const space = spaceOf(v.searchSpace);
  v.actions.forEach((a, i) => {
    const r = space.actionSchema.safeParse(a);
    if (!r.success) ctx.addIssue({ code: 'custom', path: ['actions', i], message: `not a ${space.kind} action: ${r.error.issues.map((x) => `${x.path.join('.') || 'value'}: ${x.message}`).join('; ')}` });
  });
}

export const PrepareSearchInputSchema = z.object({ searchId: z.string(), config: SearchConfigSchema });
export type PrepareSearchInput = z.infer<typeof PrepareSearchInputSchema>;
export const PrepareSearchOutputSchema = z.object({
  /** The search's folder relative to the run-store root: the search id. */
  runDir: StorePathSchema,
  /** The start network before any training (from notation: freshly initialised; from a checkpoint: as given). */
  start: NetworkRefSchema,
  /** Epochs the start network still needs (0 when it came as a trained checkpoint). */
  startEpochs: z.number().int().nonnegative(),
});
export type PrepareSearchOutput = z.infer<typeof PrepareSearchOutputSchema>;

export const TrainNetworkInputSchema = z.object({
  storageRoot: StorageRootSchema,
  name: z.string(),
  /** Checkpoint to start from. */
  from: z.string(),
  /** Folder of this training job: epoch checkpoints in work/, the finished network in trained/. */
  jobDir: z.string(),
  dataset: DatasetConfigSchema,
  /** Seeds the validation hold-out: the same for every network of a search, so all are scored on the same images. */
  dataSeed: z.number().int(),
  mode: z.enum(['search', 'final']),
  epochs: z.number().int().nonnegative(),
  recipe: TrainingRecipeSchema,
  seed: z.number().int(),
  backend: z.string(),
});
export type TrainNetworkInput = z.infer<typeof TrainNetworkInputSchema>;
export interface TrainNetworkOutput {
  network: NetworkRef;
  trainAccuracy: number | null;
  loss: number | null;
  epochs: number;
  /** The loss became NaN/∞: the network gets reward 0 and the search goes on. */
  diverged: boolean;
  /** Epoch the final attempt resumed from (0 = from the start): shows that a retry did not start over. */
  resumedFromEpoch: number;
}

export const SamplePolicyInputSchema = z.object({
  storageRoot: StorageRootSchema,
  runDir: StorePathSchema,
  stage: z.number().int().nonnegative(),
  episode: z.number().int().nonnegative(),
  /** Latest policy checkpoint, or null for a fresh policy from `seed`. */
  policy: z.string().nullable(),
  controller: ControllerConfigSchema.extend({ kind: z.enum(['rl', 'random']) }),
  /** The search's space (config.searchSpace). */
  searchSpace: SearchSpaceConfigSchema,
  start: z.string(),
  n: z.number().int().positive(),
  seed: z.number().int(),
  /** Seed of a fresh policy (the search seed), so the initial weights are the same whenever they are made. */
  policySeed: z.number().int(),
  /** The stage's Net2Wider / Net2Deeper steps per sample: they override the policy checkpoint's (stages differ). */
  widerSteps: z.number().int().nonnegative(),
  deeperSteps: z.number().int().nonnegative(),
});
export type SamplePolicyInput = z.infer<typeof SamplePolicyInputSchema>;
export const SampledCandidateSchema = z.object({
  index: z.number().int().nonnegative(),
  /** The space's actions (the sampling activity wrote them with the space's schema). */
  actions: z.array(AnyActionSchema),
  notation: z.string(),
  key: z.string(),
  /** Parameters of the sampled network (so the workflow never needs the space's arithmetic). */
  params: z.number().int().nonnegative(),
});
export type SampledCandidate = z.infer<typeof SampledCandidateSchema>;
export const SamplePolicyOutputSchema = z.object({ samplesFile: StorePathSchema, candidates: z.array(SampledCandidateSchema) });
export type SamplePolicyOutput = z.infer<typeof SamplePolicyOutputSchema>;

export const TransformInputSchema = z.object({
  storageRoot: StorageRootSchema,
  /** The search's folder: its stored probe images (prepareSearch) feed the preservation check and Net2Deeper's BN statistics. */
  runDir: StorePathSchema,
  name: z.string(),
  start: StorePathSchema,
  actions: z.array(AnyActionSchema),
  /** The search's space (config.searchSpace): the actions must be its own. */
  searchSpace: SearchSpaceConfigSchema,
  /** How Net2Wider / Net2Deeper break symmetry (config.transform). */
  transform: TransformOptionsSchema,
  output: StorePathSchema,
  seed: z.number().int(),
  /** Largest |Δlogits| accepted between parent and child on a real batch. */
  tolerance: z.number().positive().default(1e-3),
}).superRefine(actionsOfItsSpace);
export type TransformInput = z.input<typeof TransformInputSchema>;
export const TransformOutputSchema = z.object({ network: NetworkRefSchema, maxAbsDiff: z.number() });
export type TransformOutput = z.infer<typeof TransformOutputSchema>;

export const UpdatePolicyInputSchema = z.object({
  storageRoot: StorageRootSchema,
  policy: StorePathSchema.nullable(),
  samplesFile: StorePathSchema,
  /** One accuracy per sampled candidate, in sample order (0 for a diverged one). */
  accuracies: z.array(z.number()),
  /** Params of each candidate's network, for the optional parameter penalty. */
  output: StorePathSchema,
  controller: ControllerConfigSchema.extend({ kind: z.enum(['rl', 'random']) }),
  searchSpace: SearchSpaceConfigSchema,
  policySeed: z.number().int(),
  /**
   * The first episode of a stage after the first: the update forgets the previous stage's baseline and centres the
   * batch as a search's first (src/controller/types.ts UpdateOptions). Absent (not false) otherwise, so the inputs of
   * every other update, and the policy files they name, are the ones they always were.
   */
  stageStart: z.literal(true).optional(),
});
export type UpdatePolicyInput = z.infer<typeof UpdatePolicyInputSchema>;
export const UpdatePolicyOutputSchema = z.object({ policy: StorePathSchema, updates: z.number().int(), baseline: z.number(), meanReward: z.number() });
export type UpdatePolicyOutput = z.infer<typeof UpdatePolicyOutputSchema>;

export const RecordStageInputSchema = z.object({
  storageRoot: StorageRootSchema,
  runDir: StorePathSchema,
  stage: z.number().int().nonnegative(),
  start: NetworkRefSchema,
  candidates: z.array(CandidateRecordSchema),
});
export type RecordStageInput = z.infer<typeof RecordStageInputSchema>;

export const WriteResultInputSchema = z.object({
  runDir: StorePathSchema,
  searchId: z.string(),
  config: SearchConfigSchema,
  start: NetworkRefSchema,
  /** Stages whose summaries (written by recordStage) make up the result. */
  stagesRecorded: z.number().int().nonnegative(),
  final: z.array(z.object({ from: z.string(), network: NetworkRefSchema })),
  /** The start network with the same final training, or why that training failed; absent with final.reference off. */
  reference: ReferenceSchema.optional(),
  policyUpdates: z.number().int(),
  stopped: z.boolean(),
});
export type WriteResultInput = z.infer<typeof WriteResultInputSchema>;
export interface SearchResultSummary {
  resultFile: string;
  best: NetworkRef | null;
  bestFinal: NetworkRef | null;
  candidates: number;
  policyUpdates: number;
  /** The start network with the same final training (null when off or failed; undefined from runs before it existed). */
  reference?: NetworkRef | null;
  /** Each final network's gain over the reference, in test-accuracy points, and its parameter ratio. */
  gains?: Gain[];
}
