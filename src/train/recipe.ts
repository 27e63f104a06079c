import { z } from 'zod';

/** How a network is trained: the paper's "Training Details" by default (SGD + Nesterov 0.9, wd 1e-4, batch 64, lr 0.02, cosine). */
export const TrainingRecipeSchema = z
  .object({
    batchSize: z.number().int().positive().default(64),
    learningRate: z.number().positive().default(0.02),
    momentum: z.number().min(0).max(1).default(0.9),
    nesterov: z.boolean().default(true),
    weightDecay: z.number().nonnegative().default(1e-4),
    /** Cosine decay from learningRate to 0 over the run's epochs (per step), or a constant rate. */
    schedule: z.enum(['cosine', 'constant']).default('cosine'),
    /** C10+ augmentation (pad 4, random crop, random flip); only meaningful for 32×32 colour data. */
    augment: z.boolean().default(false),
    dropout: z
      .object({
        conv: z.number().min(0).lt(1).default(0),
        fc: z.number().min(0).lt(1).default(0),
        /** The paper's SVHN setting adds dropout after every conv except the first. */
        skipFirstConv: z.boolean().default(true),
      })
      .strict()
      .default({ conv: 0, fc: 0, skipFirstConv: true }),
  })
  .strict();

export type TrainingRecipe = z.infer<typeof TrainingRecipeSchema>;
export type TrainingRecipeInput = z.input<typeof TrainingRecipeSchema>;
export const DEFAULT_RECIPE: TrainingRecipe = TrainingRecipeSchema.parse({});

/** A phase's overrides of the shared recipe: any recipe field (learning rate, schedule, batch size, …). */
const PhaseOverridesSchema = TrainingRecipeSchema.partial().strict();
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
  return TrainingRecipeSchema.parse({ ...base, ...phases[phase] });
}
