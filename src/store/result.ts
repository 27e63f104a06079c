import * as fs from 'node:fs';
import { z } from 'zod';
import { CandidateFailureSchema, CandidateRecordSchema, type NetworkRef, NetworkRefSchema } from './records';
import { SearchConfigSchema } from '../config/search-config';

/**
 * The start network given the final training of the search (same epochs, same recipe, its own job final/reference):
 * what the user would have had without the search. `network` is null when that training failed for good (`failed`
 * says why); the finals are kept either way.
 */
export const ReferenceSchema = z.object({ network: NetworkRefSchema.nullable(), failed: CandidateFailureSchema.nullable() });
export type Reference = z.infer<typeof ReferenceSchema>;

/** A final network against the reference: test accuracy gain in percentage points, and parameters ÷ the reference's. */
export const GainSchema = z.object({
  name: z.string(),
  /** (final − reference) test accuracy × 100; null when either was not measured. */
  testPoints: z.number().nullable(),
  /** final params ÷ reference params (≥ 1 for a grown network); null if the reference had no parameters. */
  paramRatio: z.number().nullable(),
});
export type Gain = z.infer<typeof GainSchema>;

/** Each final network's gain over the reference (none without a trained reference). Pure: the workflow's and the views'. */
export function gainsOver(reference: NetworkRef | null | undefined, finals: readonly { network: NetworkRef }[]): Gain[] {
  if (!reference) return [];
  return finals.map(({ network: n }) => ({
    name: n.name,
    testPoints: n.accuracy !== null && reference.accuracy !== null ? (n.accuracy - reference.accuracy) * 100 : null,
    paramRatio: reference.params > 0 ? n.params / reference.params : null,
  }));
}

/** runs/<id>/result.json: the whole search, reloadable without Temporal. */
export const SearchResultSchema = z.object({
  searchId: z.string(),
  dataset: z.string(),
  controller: z.enum(['rl', 'random']),
  /** Stopped early by the user (then final-trained what existed). */
  stopped: z.boolean(),
  start: NetworkRefSchema,
  stages: z.array(z.object({ stage: z.number().int(), start: NetworkRefSchema, candidates: z.number().int() })),
  /** Every sampled network in order, with its actions, parent (lineage), architecture and validation accuracy. */
  candidates: z.array(CandidateRecordSchema),
  /** The top networks after final training (test accuracy), with the candidate each came from. */
  final: z.array(z.object({ from: z.string(), network: NetworkRefSchema })),
  best: NetworkRefSchema.nullable(),
  bestFinal: NetworkRefSchema.nullable(),
  /** The start network with the same final training (absent in results written before it, or with final.reference off). */
  reference: ReferenceSchema.nullable().optional(),
  /** Each final network against the reference (empty without a trained reference). */
  gains: z.array(GainSchema).optional(),
  policyUpdates: z.number().int(),
  config: SearchConfigSchema,
});
export type SearchResult = z.infer<typeof SearchResultSchema>;

export function readSearchResult(file: string): SearchResult {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the search result (${(err as Error).message})`, { cause: err });
  }
  const r = SearchResultSchema.safeParse(raw);
  if (!r.success) throw new Error(`${file}: not a search result: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}
