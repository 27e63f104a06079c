import type { CandidateFailure, NetworkRef } from '../store/records';
import { type Gain, type SearchResult, gainsOver } from '../store/result';

/**
 * The start network given the final training (every result's reference) and each final network's gain over it, as the
 * command line, the report and the export show them: "did the search help?" at a glance.
 */
export interface ReferenceView {
  /** The start network after the final training (test accuracy), or null when that training failed or is running. */
  network: NetworkRef | null;
  failed: CandidateFailure | null;
  /** One per final network: test-accuracy points over the reference and the parameter ratio. */
  gains: Gain[];
}

/** The reference of a finished search's result; null when it has none (final.reference off, or written before it). */
export function referenceOfResult(r: Pick<SearchResult, 'reference' | 'gains' | 'final'>): ReferenceView | null {
  if (!r.reference) return null;
  return { network: r.reference.network, failed: r.reference.failed, gains: r.gains ?? gainsOver(r.reference.network, r.final) };
}

/** "85.40 %" (null: "–"). */
export const percentText = (a: number | null | undefined): string => (a === null || a === undefined ? '–' : `${(a * 100).toFixed(2)} %`);

/** Parameter counts at a glance: "8,932" below 10,000, else millions: "0.14 M", "3.5 M", "26 M". */
export function paramsText(n: number): string {
  if (n < 1e4) return n.toLocaleString('en-US');
  const m = n / 1e6;
  return `${m >= 10 ? m.toFixed(0) : m >= 1 ? m.toFixed(1) : m.toFixed(2)} M`;
}

/** "+0.70 pt", "−1.20 pt" ("±0.00 pt" for none). */
export function pointsText(p: number | null): string {
  if (p === null) return '–';
  const r = Math.round(p * 100) / 100;
  return `${r > 0 ? '+' : r < 0 ? '−' : '±'}${Math.abs(r).toFixed(2)} pt`;
}

/** "26×", "1.4×". */
export function ratioText(r: number | null): string {
  if (r === null) return '–';
  return r >= 10 ? `${Math.round(r)}×` : `${r.toFixed(1)}×`;
}

/** "+0.70 pt, 26× the parameters" for one final network (its gain looked up by name). */
export function gainText(ref: ReferenceView | null, name: string): string | null {
  const g = ref?.gains.find((x) => x.name === name);
  return g ? `${pointsText(g.testPoints)}, ${ratioText(g.paramRatio)} the parameters` : null;
}

/**
 * The lines that answer "did the search help?": the reference, each final network against it, and a verdict on the
 * best final network. Empty when the result has no reference.
 */
export function referenceLines(ref: ReferenceView | null, finals: readonly { network: NetworkRef }[], bestFinal: NetworkRef | null): string[] {
  if (!ref) return [];
  if (!ref.network) {
    const why = ref.failed ? `its final training failed (${ref.failed.type}: ${ref.failed.message})` : 'its final training has not finished';
    return [`start net (same final training): no result, ${why}; the finals cannot be compared with it`];
  }
  const r = ref.network;
  const parts = [...finals]
    .sort((a, b) => a.network.name.localeCompare(b.network.name, undefined, { numeric: true }))
    .map((f) => {
      const g = ref.gains.find((x) => x.name === f.network.name);
      return `${f.network.name}: ${percentText(f.network.accuracy)} (${pointsText(g?.testPoints ?? null)}), ${paramsText(f.network.params)} params (${ratioText(g?.paramRatio ?? null)})`;
    });
  const lines = [`start net (same final training): ${percentText(r.accuracy)} test, ${paramsText(r.params)} params${parts.length ? `; ${parts.join('; ')}` : ''}`];
  const best = bestFinal ? ref.gains.find((g) => g.name === bestFinal.name) : undefined;
  if (best && best.testPoints !== null) {
    const small = Math.abs(best.testPoints) < 1 ? ' (less than 1 pt: one run cannot tell that from noise; several seeds can)' : '';
    lines.push(
      best.testPoints > 0
        ? `the search gained ${pointsText(best.testPoints)} of test accuracy: its best final network (${best.name}) against the start net given the same final training, with ${ratioText(best.paramRatio)} its parameters${small}`
        : `the search gained nothing: its best final network (${best.name}) tests ${pointsText(best.testPoints)} against the start net given the same final training, with ${ratioText(best.paramRatio)} its parameters${small}`,
    );
  }
  return lines;
}
