import { z } from 'zod';
import { SearchSpaceSchema } from '../arch/space';
import { ControllerConfigSchema } from '../controller/config';
import { TrainingRecipeSchema } from '../train/recipe';
import { SyntheticSpecSchema } from '../data/synthetic';

export const DatasetConfigSchema = z
  .object({
    name: z.enum(['cifar10', 'svhn', 'fashion-mnist', 'synthetic']),
    /** Where the dataset's files are; otherwise known system locations, then (if allowed) a download. */
    dataDir: z.string().optional(),
    download: z.boolean().default(false),
    /** Training images held out for validation during the search (the paper: 5,000). */
    validationSize: z.number().int().positive().default(5000),
    /** Keep only the first N images (after a seeded shuffle): for quick runs. */
    limit: z
      .object({ train: z.number().int().positive().optional(), val: z.number().int().positive().optional(), test: z.number().int().positive().optional() })
      .strict()
      .optional(),
    /** Only for name "synthetic": a generated, learnable dataset (tests and demos). */
    synthetic: SyntheticSpecSchema.optional(),
  })
  .strict();

export const StartNetSchema = z.union([
  z
    .object({
      /** The paper's notation, e.g. Table 1's start net. */
      notation: z.string().min(1),
      /** Epochs to train it from scratch before the search (the paper starts from a trained net). */
      epochs: z.number().int().nonnegative().default(20),
    })
    .strict(),
  z.object({ checkpoint: z.string().min(1) }).strict(),
]);

export const StageSchema = z
  .object({
    /** Networks sampled in this stage (the paper: 300, then 150). */
    networks: z.number().int().positive(),
    networksPerEpisode: z.number().int().positive().default(10),
    widerSteps: z.number().int().nonnegative().default(4),
    deeperSteps: z.number().int().nonnegative().default(5),
    /** Training epochs for each sampled network (the paper: 20). */
    epochs: z.number().int().positive().default(20),
    /** The stage's best network is trained this long and becomes the next stage's start (the paper: 100). */
    bestEpochs: z.number().int().nonnegative().default(100),
  })
  .strict();

export const FinalSchema = z
  .object({
    /** How many of the best networks (of the last stage) get the final training. */
    topK: z.number().int().nonnegative().default(5),
    epochs: z.number().int().positive().default(300),
  })
  .strict();

export const SearchConfigSchema = z
  .object({
    /** Names the search: the workflow id and the run-store folder derive from it. */
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit'),
    dataset: DatasetConfigSchema,
    startNet: StartNetSchema,
    space: SearchSpaceSchema.default(SearchSpaceSchema.parse({})),
    controller: ControllerConfigSchema.extend({ kind: z.enum(['rl', 'random']).default('rl') }).default({ kind: 'rl' } as never),
    stages: z
      .array(StageSchema)
      .min(1)
      .default([
        { networks: 300, networksPerEpisode: 10, widerSteps: 4, deeperSteps: 5, epochs: 20, bestEpochs: 100 },
        { networks: 150, networksPerEpisode: 10, widerSteps: 4, deeperSteps: 5, epochs: 20, bestEpochs: 100 },
      ]),
    final: FinalSchema.default({ topK: 5, epochs: 300 }),
    training: TrainingRecipeSchema.default(TrainingRecipeSchema.parse({})),
    /** tfjs backend for training: auto | tfjs-node-gpu | tfjs-node | native | wasm | cpu. */
    backend: z.string().default('auto'),
    seed: z.number().int().default(1),
    storage: z.object({ root: z.string().min(1).default('runs') }).strict().default({ root: 'runs' }),
    taskQueues: z
      .object({ control: z.string().min(1).default('eas-control'), train: z.string().min(1).default('eas-train') })
      .strict()
      .default({ control: 'eas-control', train: 'eas-train' }),
    /**
     * Activity time limits (Temporal duration strings). Training heartbeats every few seconds (carrying its last epoch
     * checkpoint), so a lost worker is noticed after `epochHeartbeat` and its training resumes elsewhere.
     */
    timeouts: z
      .object({ epochHeartbeat: z.string().default('2m'), training: z.string().default('7d') })
      .strict()
      .default({ epochHeartbeat: '2m', training: '7d' }),
  })
  .strict();

export type SearchConfig = z.infer<typeof SearchConfigSchema>;
export type SearchConfigInput = z.input<typeof SearchConfigSchema>;
export type DatasetConfig = z.infer<typeof DatasetConfigSchema>;
export type StageConfig = z.infer<typeof StageSchema>;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(`invalid configuration ${source}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Every problem at once, each with its path, so a user fixes the file in one go. */
export function validateSearchConfig(raw: unknown, source = '(input)'): SearchConfig {
  const r = SearchConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(
      source,
      r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }
  return r.data;
}
