import { z } from 'zod';
import { ActionSchema } from '../arch/actions';
import { SearchSpaceSchema } from '../arch/space';
import { DatasetConfigSchema, SearchConfigSchema } from '../config/search-config';
import { ControllerConfigSchema } from '../controller/config';
import { TrainingRecipeSchema } from '../train/recipe';

/**
 * What crosses Temporal: references into the run store and small results, never weights.
 * Workflows import only the types; activities parse their inputs with these schemas.
 */

export const NetworkRefSchema = z.object({
  /** A readable name: "start", "s1-e002-c07", "s1-best", "top-1". */
  name: z.string(),
  /** Checkpoint directory of the network (trained where applicable). */
  dir: z.string(),
  notation: z.string(),
  key: z.string(),
  params: z.number().int(),
  /** Validation accuracy (search) or test accuracy (final); null when not measured. */
  accuracy: z.number().nullable(),
});
export type NetworkRef = z.infer<typeof NetworkRefSchema>;

export const PrepareSearchInputSchema = z.object({ searchId: z.string(), config: SearchConfigSchema });
export type PrepareSearchInput = z.infer<typeof PrepareSearchInputSchema>;
export interface PrepareSearchOutput {
  runDir: string;
  /** The start network before any training (from notation: freshly initialised; from a checkpoint: as given). */
  start: NetworkRef;
  /** Epochs the start network still needs (0 when it came as a trained checkpoint). */
  startEpochs: number;
}

export const TrainNetworkInputSchema = z.object({
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
  runDir: z.string(),
  stage: z.number().int().nonnegative(),
  episode: z.number().int().nonnegative(),
  /** Latest policy checkpoint, or null for a fresh policy from `seed`. */
  policy: z.string().nullable(),
  controller: ControllerConfigSchema.extend({ kind: z.enum(['rl', 'random']) }),
  space: SearchSpaceSchema,
  start: z.string(),
  n: z.number().int().positive(),
  seed: z.number().int(),
  /** Seed of a fresh policy (the search seed), so the initial weights are the same whenever they are made. */
  policySeed: z.number().int(),
});
export type SamplePolicyInput = z.infer<typeof SamplePolicyInputSchema>;
export interface SampledCandidate {
  index: number;
  actions: z.infer<typeof ActionSchema>[];
  notation: string;
  key: string;
}
export interface SamplePolicyOutput {
  samplesFile: string;
  candidates: SampledCandidate[];
}

export const TransformInputSchema = z.object({
  name: z.string(),
  start: z.string(),
  actions: z.array(ActionSchema),
  space: SearchSpaceSchema,
  dataset: DatasetConfigSchema,
  dataSeed: z.number().int(),
  output: z.string(),
  seed: z.number().int(),
  /** Largest |Δlogits| accepted between parent and child on a real batch. */
  tolerance: z.number().positive().default(1e-3),
});
export type TransformInput = z.input<typeof TransformInputSchema>;
export interface TransformOutput {
  network: NetworkRef;
  maxAbsDiff: number;
}

export const UpdatePolicyInputSchema = z.object({
  policy: z.string().nullable(),
  samplesFile: z.string(),
  /** One accuracy per sampled candidate, in sample order (0 for a diverged one). */
  accuracies: z.array(z.number()),
  /** Params of each candidate's network, for the optional parameter penalty. */
  output: z.string(),
  controller: ControllerConfigSchema.extend({ kind: z.enum(['rl', 'random']) }),
  space: SearchSpaceSchema,
  policySeed: z.number().int(),
});
export type UpdatePolicyInput = z.infer<typeof UpdatePolicyInputSchema>;
export interface UpdatePolicyOutput {
  policy: string;
  updates: number;
  baseline: number;
  meanReward: number;
}

export const CandidateRecordSchema = z.object({
  name: z.string(),
  stage: z.number().int(),
  episode: z.number().int(),
  index: z.number().int(),
  parent: z.string(),
  actions: z.array(ActionSchema),
  network: NetworkRefSchema,
  diverged: z.boolean(),
  /** Name of an earlier candidate with the same architecture whose result was reused instead of training again. */
  cachedFrom: z.string().nullable(),
  maxAbsDiff: z.number().nullable(),
});
export type CandidateRecord = z.infer<typeof CandidateRecordSchema>;

export const RecordStageInputSchema = z.object({
  runDir: z.string(),
  stage: z.number().int().nonnegative(),
  start: NetworkRefSchema,
  candidates: z.array(CandidateRecordSchema),
});
export type RecordStageInput = z.infer<typeof RecordStageInputSchema>;

export const WriteResultInputSchema = z.object({
  runDir: z.string(),
  searchId: z.string(),
  config: SearchConfigSchema,
  start: NetworkRefSchema,
  /** Stages whose summaries (written by recordStage) make up the result. */
  stagesRecorded: z.number().int().nonnegative(),
  final: z.array(z.object({ from: z.string(), network: NetworkRefSchema })),
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
}
