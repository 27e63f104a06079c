import type { DatasetConfig, SearchConfig } from '../config/search-config';

/**
 * The reference arm's budget: as many training image-epochs as the search plans to spend, as a pure function of the
 * search config (so the reference needs no finished search and runs beside it, and the same config gives the same
 * number on every host and every replay).
 *
 * Counted: every training the search's plan makes after the start network — each stage's `networks × epochs` on the
 * search-mode training split, each non-last stage's `bestEpochs`, and `topK × final.epochs` on the final-mode training
 * set. The start network's own training is not counted: the reference trains the very same start net first (same seed,
 * same data, same recipe), then trains it further by the final recipe for the counted images, expressed in epochs of
 * the final-mode training set and rounded to the nearest whole epoch (at least 1). It is the plan, an upper bound of
 * what the search spends: a candidate whose architecture was already evaluated in its stage reuses that result, and a
 * failed one stops early. Images, not multiply-adds: the search's grown networks cost more per image than the start net.
 */

/** Training images of the published datasets (SVHN's final training adds its 531,131 "extra" images, as the data layer does). */
const TRAIN_IMAGES: Record<Exclude<DatasetConfig['name'], 'synthetic'>, { search: number; final: number }> = {
  cifar10: { search: 50_000, final: 50_000 },
  'fashion-mnist': { search: 60_000, final: 60_000 },
  svhn: { search: 73_257, final: 73_257 + 531_131 },
};
/** src/data/protocol.ts: the paper's 5,000 validation images (synthetic: a tenth of its training images). */
const PAPER_VALIDATION_SIZE = 5000;
/** src/data/synthetic.ts's default training images. */
const SYNTHETIC_TRAIN_DEFAULT = 3000;

/** Images one epoch trains on, in search mode (after the validation hold-out) and in final mode; both after `limit.train`. */
export function epochImages(d: DatasetConfig): { search: number; final: number } {
  const total = d.name === 'synthetic' ? { search: d.synthetic?.train ?? SYNTHETIC_TRAIN_DEFAULT, final: d.synthetic?.train ?? SYNTHETIC_TRAIN_DEFAULT } : TRAIN_IMAGES[d.name];
  const validation = d.validationSize ?? (d.name === 'synthetic' ? Math.ceil(total.search / 10) : PAPER_VALIDATION_SIZE);
  const cap = d.limit?.train ?? Infinity;
  return { search: Math.min(cap, total.search - validation), final: Math.min(cap, total.final) };
}

export interface SearchBudget {
  /** Training image-epochs of the search after its start net: candidates, stage bests, final trainings. */
  images: number;
  candidateEpochs: number;
  stageBestEpochs: number;
  finalEpochs: number;
  /** Images of one final-mode epoch. */
  finalEpochImages: number;
  /** The reference's final-recipe epochs: images / finalEpochImages, rounded, at least 1. */
  referenceEpochs: number;
}

export function searchBudget(c: SearchConfig): SearchBudget {
  const per = epochImages(c.dataset);
  const candidateEpochs = c.stages.reduce((n, s) => n + s.networks * s.epochs, 0);
  const stageBestEpochs = c.stages.slice(0, -1).reduce((n, s) => n + s.bestEpochs, 0);
  const last = c.stages[c.stages.length - 1];
  const finalEpochs = Math.min(c.final.topK, last.networks) * c.final.epochs;
  const images = (candidateEpochs + stageBestEpochs) * per.search + finalEpochs * per.final;
  return { images, candidateEpochs, stageBestEpochs, finalEpochs, finalEpochImages: per.final, referenceEpochs: Math.max(1, Math.round(images / per.final)) };
}
