import { z } from 'zod';
import { SearchSpaceSchema } from '../arch/space';
import { DEFAULT_SEARCH_SPACE, SearchSpaceConfigSchema } from '../space/config';
import { ControllerConfigSchema } from '../controller/config';
import { TrainingConfigSchema } from '../train/recipe';
import { DEFAULT_TRANSFORM_OPTIONS, TransformOptionsSchema } from '../transform/options';
import { BACKEND_CHOICES } from '../backend/names';
import { DurationSchema } from './duration';
import { DatasetConfigSchema } from '../data/config';

export { DatasetConfigSchema, type DatasetConfig } from '../data/config';

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
    /** Networks sampled in this stage (the paper: 300, then 150). widerSteps defaults to 10 in a DenseNet search. */
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
    /**
     * Also give the start network the same final training (job final/reference), so that every result says what the
     * search gained over it: each final network's test accuracy gain and parameter ratio. On by default.
     */
    reference: z.boolean().default(true),
  })
  .strict();

/** A retry policy with its own defaults (training and control activities differ). */
function retrySchema(d: { maximumAttempts: number; initialInterval: string; backoffCoefficient: number; maximumInterval: string }) {
  return z
    .object({
      /** Attempts in all, the first included (1: no retry). */
      maximumAttempts: z.number().int().min(1).max(1000).default(d.maximumAttempts),
      initialInterval: DurationSchema.prefault(d.initialInterval),
      backoffCoefficient: z.number().min(1).max(100).default(d.backoffCoefficient),
      maximumInterval: DurationSchema.prefault(d.maximumInterval),
    })
    .strict()
    .prefault({});
}
export type RetryConfig = z.infer<ReturnType<typeof retrySchema>>;

/** A search's name: the workflow id and its run-store folder (no separators, no leading dot). */
export const SEARCH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The paper's two stages: 300 then 150 networks, 10 per episode, 4 wider + 5 deeper steps, 20 epochs each. */
const DEFAULT_STAGES = [
  { networks: 300, networksPerEpisode: 10, widerSteps: 4, deeperSteps: 5, epochs: 20, bestEpochs: 100 },
  { networks: 150, networksPerEpisode: 10, widerSteps: 4, deeperSteps: 5, epochs: 20, bestEpochs: 100 },
];

const SearchConfigObject = z
  .object({
    /** Names the search: the workflow id and the run-store folder derive from it. */
    name: z.string().regex(SEARCH_NAME, 'letters, digits, ".", "_" and "-", starting with a letter or digit'),
    dataset: DatasetConfigSchema,
    startNet: StartNetSchema,
    /**
     * Which space the search explores and its settings (src/space/config.ts): the paper's plain CNNs (the default) or
     * DenseNet-BC. The start network's notation is parsed in this space.
     */
    searchSpace: SearchSpaceConfigSchema.default(DEFAULT_SEARCH_SPACE),
    controller: ControllerConfigSchema.extend({ kind: z.enum(['rl', 'random']).default('rl') }).prefault({}),
    stages: z
      .array(StageSchema)
      .min(1)
      .default(DEFAULT_STAGES),
    final: FinalSchema.prefault({}),
    /** The shared training recipe and its per-phase overrides (start, candidates, stageBest, final). */
    training: TrainingConfigSchema.default(TrainingConfigSchema.parse({})),
    /** Symmetry breaking of the search's Net2Wider / Net2Deeper (default on). */
    transform: TransformOptionsSchema.default(DEFAULT_TRANSFORM_OPTIONS),
    /** tfjs backend for training: auto (the fastest that loads), or one of src/backend/names.ts's names. */
    backend: z.enum(BACKEND_CHOICES, { error: (i) => `unknown backend ${JSON.stringify(i.input)}; expected one of ${BACKEND_CHOICES.join(', ')}` }).default('auto'),
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
      .object({
        epochHeartbeat: DurationSchema.prefault('2m'),
        training: DurationSchema.prefault('7d'),
      })
      .strict()
      .prefault({}),
    /**
     * Bounded attempts with exponential backoff for every activity: a deterministic crash (e.g. out of memory) ends
     * after `maximumAttempts`; a candidate whose activity fails for good is recorded as failed and the search goes on.
     */
    retry: z
      .object({
        control: retrySchema({ maximumAttempts: 5, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' }),
        train: retrySchema({ maximumAttempts: 8, initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m' }),
      })
      .strict()
      .prefault({}),
    /**
     * The search pauses itself when this many candidates in a row failed for good with the same error type (a dataset
     * missing on every training host, say), says why (`eas status`, the Web UI memo, the log) and goes on with `eas
     * resume`; the candidates held by the pause try their failed step again. 0 turns it off.
     */
    pauseAfterFailures: z
      .number({ error: (i) => `expected a whole number of failures (0 turns pausing off), got ${JSON.stringify(i.input)}` })
      .int({ error: (i) => `expected a whole number of failures (0 turns pausing off), got ${JSON.stringify(i.input)}` })
      .min(0, { error: 'must be 0 (never pause) or more' })
      .max(1000, { error: 'at most 1000 (0 turns pausing off)' })
      .default(5),
  })
  .strict();

/**
 * Configs (and run stores' config.json) written before the space contract had the plain space's settings in a top-level
 * `space` and only the kind in `searchSpace`; they load as the one `searchSpace` field. A `space` that sets plain widths
 * beside a DenseNet `searchSpace` cannot mean anything and is refused, naming both fields.
 */
function migrateLegacySpace(raw: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof raw !== 'object' || raw === null || !('space' in raw)) return raw;
  const { space, ...rest } = raw as Record<string, unknown>;
  const searchSpace = (rest.searchSpace ?? { kind: 'plain' }) as Record<string, unknown>;
  if (typeof searchSpace !== 'object' || searchSpace === null) return raw;
  if (searchSpace.kind === 'plain' || searchSpace.kind === undefined) {
    return { ...rest, searchSpace: { ...(space as object), ...searchSpace, kind: 'plain' } };
  }
  const defaults = SearchSpaceSchema.parse({});
  const parsed = SearchSpaceSchema.safeParse(space);
  if (!parsed.success || JSON.stringify(parsed.data) !== JSON.stringify(defaults)) {
    ctx.addIssue({ code: 'custom', path: ['space'], message: `"space" (the plain space's widths; now searchSpace's fields) has no meaning with searchSpace.kind "${String(searchSpace.kind)}": remove it` });
  }
  return rest;
}

/** Net2Wider steps per sampled network in the authors' DenseNet search (episode_config wider_action_num). */
export const DENSE_WIDER_STEPS = 10;

/**
 * Per-space defaults: a DenseNet search's stages take the authors' 10 wider steps per network where the config does
 * not say (the plain space keeps the paper's 4).
 */
function spaceDefaults(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null) return raw;
  const c = raw as Record<string, unknown>;
  const kind = (c.searchSpace as { kind?: unknown } | undefined)?.kind;
  if (kind !== 'densenet') return raw;
  const stages = c.stages === undefined ? DEFAULT_STAGES.map(({ widerSteps: _w, ...st }) => st) : c.stages;
  if (!Array.isArray(stages)) return raw;
  return { ...c, stages: stages.map((st) => (typeof st === 'object' && st !== null && !('widerSteps' in st) ? { ...st, widerSteps: DENSE_WIDER_STEPS } : st)) };
}

export const SearchConfigSchema = z.preprocess((raw, ctx) => spaceDefaults(migrateLegacySpace(raw, ctx)), SearchConfigObject);

export type SearchConfig = z.infer<typeof SearchConfigSchema>;
/** A config as written (every default optional); a legacy top-level `space` is accepted too (migrateLegacySpace). */
export type SearchConfigInput = z.input<typeof SearchConfigObject> & { space?: unknown };
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
