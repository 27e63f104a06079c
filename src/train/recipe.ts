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
