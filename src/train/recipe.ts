import { z } from 'zod';

/** How a network is trained: the paper's "Training Details" by default (SGD + Nesterov 0.9, wd 1e-4, batch 64, lr 0.02, cosine). */
const DropoutSchema = z
  .object({
    conv: z.number().min(0).lt(1),
    fc: z.number().min(0).lt(1),
    /** The paper's SVHN setting adds dropout after every conv except the first. */
    skipFirstConv: z.boolean(),
  })
  .strict();

/** The recipe's fields without defaults: the full recipe adds them, a phase's overrides leave unset fields unset. */
const recipeFields = {
  batchSize: z.number().int().positive(),
  learningRate: z.number().positive(),
  momentum: z.number().min(0).max(1),
  nesterov: z.boolean(),
  weightDecay: z.number().nonnegative(),
  /** Cosine decay from learningRate to 0 over the run's epochs (per step), or a constant rate. */
  schedule: z.enum(['cosine', 'constant']),
  /** Random crop (pad 4) + horizontal flip, the C10+ augmentation; any image size. */
  augment: z.boolean(),
};

export const TrainingRecipeSchema = z
  .object({
    batchSize: recipeFields.batchSize.default(64),
    learningRate: recipeFields.learningRate.default(0.02),
    momentum: recipeFields.momentum.default(0.9),
    nesterov: recipeFields.nesterov.default(true),
    weightDecay: recipeFields.weightDecay.default(1e-4),
    schedule: recipeFields.schedule.default('cosine'),
    augment: recipeFields.augment.default(false),
    dropout: z
      .object({ conv: DropoutSchema.shape.conv.default(0), fc: DropoutSchema.shape.fc.default(0), skipFirstConv: DropoutSchema.shape.skipFirstConv.default(true) })
      .strict()
      .default({ conv: 0, fc: 0, skipFirstConv: true }),
  })
  .strict();

export type TrainingRecipe = z.infer<typeof TrainingRecipeSchema>;
export type TrainingRecipeInput = z.input<typeof TrainingRecipeSchema>;
export const DEFAULT_RECIPE: TrainingRecipe = TrainingRecipeSchema.parse({});

/**
 * A phase's overrides of the shared recipe: any recipe field (learning rate, schedule, batch size, …), dropout field by
 * field. Built without defaults: zod 4 applies a field's default inside .partial(), which gave every phase the default
 * of each field it did not set and silently dropped the shared block's (training.augment: true trained nothing with
 * augmentation).
 */
const PhaseOverridesSchema = z
  .object({
    batchSize: recipeFields.batchSize.optional(),
    learningRate: recipeFields.learningRate.optional(),
    momentum: recipeFields.momentum.optional(),
    nesterov: recipeFields.nesterov.optional(),
    weightDecay: recipeFields.weightDecay.optional(),
    schedule: recipeFields.schedule.optional(),
    augment: recipeFields.augment.optional(),
    dropout: DropoutSchema.partial().strict().optional(),
  })
  .strict();
export type PhaseOverrides = z.infer<typeof PhaseOverridesSchema>;

/**
 * The search's training config (issue 12): a shared recipe plus per-phase overrides. The paper fine-tunes candidates with
 * "a smaller initial learning rate" (0.02, cosine), while the authors' full trainings (start net, stage best, final
 * networks) use 0.1 with cosine decay. Epochs stay where each phase's budget is set (startNet.epochs, stages[].epochs /
 * bestEpochs, final.epochs).
 */
export const TrainingConfigSchema = TrainingRecipeSchema.extend({
  phases: z
    .object({
      start: PhaseOverridesSchema.default({ learningRate: 0.1 }),
      candidates: PhaseOverridesSchema.default({}),
      stageBest: PhaseOverridesSchema.default({ learningRate: 0.1 }),
      final: PhaseOverridesSchema.default({ learningRate: 0.1 }),
    })
    .strict()
    .default({ start: { learningRate: 0.1 }, candidates: {}, stageBest: { learningRate: 0.1 }, final: { learningRate: 0.1 } }),
}).strict();
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
export type TrainingPhase = keyof TrainingConfig['phases'];

/** The recipe one phase trains with: the shared fields, then that phase's overrides. One rule, one place. */
export function recipeFor(training: TrainingConfig, phase: TrainingPhase): TrainingRecipe {
  const { phases, ...base } = training;
  const { dropout, ...overrides } = phases[phase];
  return TrainingRecipeSchema.parse({ ...base, ...overrides, dropout: { ...base.dropout, ...dropout } });
}
