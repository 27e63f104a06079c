import { z } from 'zod';
import { NetworkRefSchema } from '../store/records';

/**
 * What an experiment keeps in the run store (src/store/layout.ts ExperimentLayout): its plan, one outcome per finished
 * child, and each reference child's record. Every path is relative to the run-store root.
 */

export const ChildPlanSchema = z.object({
  id: z.string(),
  arm: z.string(),
  kind: z.enum(['search', 'reference']),
  seed: z.number().int(),
});
export type ChildPlan = z.infer<typeof ChildPlanSchema>;

export const BudgetSchema = z.object({
  images: z.number(),
  candidateEpochs: z.number(),
  stageBestEpochs: z.number(),
  finalEpochs: z.number(),
  finalEpochImages: z.number(),
  referenceEpochs: z.number().int(),
});

/** <root>/<experiment>/experiment.json: the experiment's config (base search inline) and its grid. */
export const ExperimentRecordSchema = z.object({
  experimentId: z.string(),
  arms: z.array(z.object({ name: z.string(), kind: z.enum(['search', 'reference']) })),
  seeds: z.array(z.number().int()),
  concurrency: z.number().int(),
  children: z.array(ChildPlanSchema),
  /** The reference arm's budget (src/experiment/plan.ts), from the base search config; null without a reference arm. */
  referenceBudget: BudgetSchema.nullable(),
  config: z.record(z.string(), z.unknown()),
});
export type ExperimentRecord = z.infer<typeof ExperimentRecordSchema>;

/** <root>/<experiment>/children/<child>.json: how a child ended, and its wall time as the parent saw it. */
export const ChildOutcomeSchema = ChildPlanSchema.extend({
  status: z.enum(['completed', 'failed']),
  /** The child's result file (search: result.json; reference: reference.json), relative to the root; null if it failed. */
  resultFile: z.string().nullable(),
  /** Epoch ms when the parent started the child and saw it end (workflow time). */
  startedAt: z.number(),
  endedAt: z.number(),
  error: z.string().nullable(),
});
export type ChildOutcome = z.infer<typeof ChildOutcomeSchema>;

/** <root>/<reference child>/reference.json: the start net, and the start net trained further by the final recipe. */
export const ReferenceRecordSchema = z.object({
  searchId: z.string(),
  seed: z.number().int(),
  /** The trained start network (validation accuracy), the same as the searches' of this seed. */
  start: NetworkRefSchema,
  /** The start network after `epochs` final-recipe epochs (test accuracy). */
  network: NetworkRefSchema,
  epochs: z.number().int(),
  budget: BudgetSchema,
});
export type ReferenceRecord = z.infer<typeof ReferenceRecordSchema>;
