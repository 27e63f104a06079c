/**
 * The search's rules about candidates, in one place: which ones count, their reward, the best, the top k, and which
 * architectures are the same. Pure and free of Temporal and tfjs, so the workflow (deterministic), the activities, the
 * reports and the export all decide the same way.
 */

/** Why a candidate has no result: the step that failed for good and its error. */
export interface CandidateFailure {
  step: 'transform' | 'train' | 'checkpoint';
  type: string;
  message: string;
}

/** What the rules need of a candidate record (CandidateRecord has all of it). */
export interface Judged {
  network: { accuracy: number | null };
  diverged: boolean;
  /** Set when the result was reused from an earlier candidate with the same architecture. */
  cachedFrom: string | null;
  /** Records written before failures were recorded have no such field. */
  failed?: CandidateFailure | null;
}

/** A candidate has a usable score: trained, not diverged, not failed, measured. */
export function isScored(c: Judged): boolean {
  return !c.diverged && !c.failed && c.network.accuracy !== null;
}

/** The policy's reward for a candidate: its accuracy, 0 when it diverged, failed or was not measured (the paper's rule for diverged nets). */
export function rewardOf(c: Judged): number {
  return isScored(c) ? (c.network.accuracy as number) : 0;
}

/** Highest accuracy first; ties keep their order (the earlier one wins), so the choice is stable across runs. */
function byAccuracy<T>(items: readonly T[], accuracy: (t: T) => number): T[] {
  return items
    .map((item, i) => ({ item, i, a: accuracy(item) }))
    .sort((x, y) => y.a - x.a || x.i - y.i)
    .map((x) => x.item);
}

/** Scored candidates, best first, each architecture once (reused results are copies of an earlier candidate). */
export function rankCandidates<T extends Judged>(cands: readonly T[]): T[] {
  return byAccuracy(
    cands.filter((c) => isScored(c) && !c.cachedFrom),
    (c) => c.network.accuracy as number,
  );
}

/** The best candidate: highest accuracy, first on ties, never reused, diverged or failed. */
export function bestCandidate<T extends Judged>(cands: readonly T[]): T | undefined {
  return rankCandidates(cands)[0];
}

/** The k best candidates (fewer when fewer are scored). */
export function topCandidates<T extends Judged>(cands: readonly T[], k: number): T[] {
  return rankCandidates(cands).slice(0, Math.max(0, k));
}

/** Measured networks (e.g. the final ones, by test accuracy), best first, first on ties. */
export function rankNetworks<T extends { network: { accuracy: number | null } }>(items: readonly T[]): T[] {
  return byAccuracy(
    items.filter((f) => f.network.accuracy !== null),
    (f) => f.network.accuracy as number,
  );
}

/** The best measured network of `items`, or null. */
export function bestNetwork<N extends { accuracy: number | null }>(items: readonly { network: N }[]): N | null {
  return rankNetworks(items)[0]?.network ?? null;
}

/**
 * The first of each architecture, by canonical key: a later sample with the same key reuses its result instead of
 * training the same network twice. Reused records are never originals.
 */
export function firstByKey<T extends Judged & { network: { key: string } }>(cands: readonly T[]): Map<string, T> {
  const byKey = new Map<string, T>();
  for (const c of cands) if (!c.cachedFrom && !byKey.has(c.network.key)) byKey.set(c.network.key, c);
  return byKey;
}

/** What the pause rule needs of a candidate's outcome (a CandidateRecord has it). */
export type Outcome = Pick<Judged, 'failed' | 'cachedFrom'>;

/**
 * The search pauses itself when the last `n` candidates it evaluated (in the order their outcomes came, reused results
 * not counted) all failed with the same error type: a cause every try shares (a dataset missing on every training host,
 * a bug) would otherwise cost each following candidate its retries the same way. Returns the latest of those failures,
 * or null: fewer than `n` outcomes, another outcome among them, or `n` = 0 (the rule off).
 */
export function repeatedFailure(outcomes: readonly Outcome[], n: number): CandidateFailure | null {
  if (!Number.isInteger(n) || n <= 0) return null;
  const last = outcomes.filter((o) => !o.cachedFrom).slice(-n);
  if (last.length < n) return null;
  const type = last[0].failed?.type;
  if (type === undefined || !last.every((o) => o.failed?.type === type)) return null;
  return last[n - 1].failed ?? null;
}
