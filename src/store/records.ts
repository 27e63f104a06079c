import { z } from 'zod';
import { AnyActionSchema } from '../space';

/**
 * The records the run store keeps and the activities exchange (one definition for both): references to networks,
 * candidates with their lineage, and why a candidate failed.
 */

export const NetworkRefSchema = z.object({
  /** A readable name: "start", "s1-e002-c07", "s1-best", "top-1". */
  name: z.string(),
  /** Checkpoint directory of the network (trained where applicable), relative to the run-store root. */
  dir: z.string(),
  notation: z.string(),
  key: z.string(),
  params: z.number().int(),
  /** Validation accuracy (search) or test accuracy (final); null when not measured. */
  accuracy: z.number().nullable(),
});
export type NetworkRef = z.infer<typeof NetworkRefSchema>;

export const CandidateFailureSchema = z.object({
  step: z.enum(['transform', 'train', 'checkpoint']),
  /** The error's type (ApplicationFailure type, or e.g. 'Timeout'). */
  type: z.string(),
  message: z.string(),
});
export type CandidateFailure = z.infer<typeof CandidateFailureSchema>;

export const CandidateRecordSchema = z.object({
  name: z.string(),
  stage: z.number().int(),
  episode: z.number().int(),
  index: z.number().int(),
  parent: z.string(),
  /** The space's actions that made it from its parent (src/space: plain or DenseNet actions). */
  actions: z.array(AnyActionSchema),
  network: NetworkRefSchema,
  diverged: z.boolean(),
  /** Name of an earlier candidate with the same architecture whose result was reused instead of training again. */
  cachedFrom: z.string().nullable(),
  maxAbsDiff: z.number().nullable(),
  /**
   * Set when the candidate's transform, training or checkpoint failed for good (after its bounded retries): the search
   * goes on, the candidate gets reward 0 and is never the best (src/search/rules.ts). Null in older records.
   */
  failed: CandidateFailureSchema.nullable().default(null),
});
export type CandidateRecord = z.infer<typeof CandidateRecordSchema>;
