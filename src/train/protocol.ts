import { z } from 'zod';
import { EpochRecordSchema } from './checkpoint';
import { TrainResultSchema } from './job';

/** Messages the trainer child sends its parent over the IPC channel; the parent validates every one. */
export const TrainerMessageSchema = z.discriminatedUnion('type', [
  EpochRecordSchema.extend({ type: z.literal('epoch'), epochs: z.number().int().positive(), checkpoint: z.string().min(1) }).strict(),
  z
    .object({
      type: z.literal('progress'),
      epoch: z.number().int().positive(),
      epochs: z.number().int().positive(),
      batch: z.number().int().positive(),
      batches: z.number().int().positive(),
      loss: z.number(),
      acc: z.number().min(0).max(1),
    })
    .strict(),
  z.object({ type: z.literal('done'), result: TrainResultSchema }).strict(),
  z
    .object({
      type: z.literal('error'),
      /** data-unavailable: the dataset's files are not on this host (DatasetUnavailableError), a retry elsewhere may do. */
      kind: z.enum(['diverged', 'bad-input', 'data-unavailable', 'internal']),
      message: z.string(),
      stack: z.string().optional(),
      /** Where a diverged run stopped. */
      epoch: z.number().int().positive().optional(),
      step: z.number().int().positive().optional(),
    })
    .strict(),
]);
export type TrainerMessage = z.infer<typeof TrainerMessageSchema>;
export type EpochMessage = Extract<TrainerMessage, { type: 'epoch' }>;
export type ProgressMessage = Extract<TrainerMessage, { type: 'progress' }>;
