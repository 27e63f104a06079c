import * as fs from 'node:fs';
import { z } from 'zod';
import { CandidateRecordSchema, NetworkRefSchema } from './records';
import { SearchConfigSchema } from '../config/search-config';

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
