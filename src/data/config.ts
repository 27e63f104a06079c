import { z } from 'zod';
import { SyntheticSpecSchema } from './synthetic';
import { DatasetNameSchema } from './types';

const Count = z.number().int().positive();

/**
 * The one dataset schema: a search config's `dataset`, and (with the data seed added, TrainDatasetSchema in
 * src/train/job.ts) a training job's. Pure zod, so the workflow can validate it too.
 */
export const DatasetConfigSchema = z
  .object({
    name: DatasetNameSchema,
    /** Where the dataset's files are; otherwise known system locations, then (if allowed) a download. */
    dataDir: z.string().min(1).optional(),
    download: z.boolean().default(false),
    /** Training images held out for validation during the search; default the paper's 5,000 (synthetic: a tenth). */
    validationSize: Count.optional(),
    /** Keep only the first N images (after a seeded shuffle): for quick runs. */
    limit: z.object({ train: Count.optional(), val: Count.optional(), test: Count.optional() }).strict().optional(),
    /** Only for name "synthetic": a generated, learnable dataset (tests and demos). */
    synthetic: SyntheticSpecSchema.optional(),
  })
  .strict();
export type DatasetConfig = z.infer<typeof DatasetConfigSchema>;
