import { z } from 'zod';

export const REAL_DATASETS = ['cifar10', 'svhn', 'fashion-mnist'] as const;
export const DatasetNameSchema = z.enum(['cifar10', 'svhn', 'fashion-mnist', 'synthetic']);
export type DatasetName = z.infer<typeof DatasetNameSchema>;
export type RealDatasetName = (typeof REAL_DATASETS)[number];

/** A file-backed part of a dataset. SVHN's `extra` is only read for final training. */
export type Part = 'train' | 'test' | 'extra';

/**
 * Images of one part of a dataset, kept as raw uint8 so that even SVHN's extra set (531k images) fits in memory;
 * normalisation to float happens per batch.
 */
export interface ImageSet {
  /** count × h × w × c, HWC row-major per image, values 0..255. */
  images: Uint8Array;
  /** count labels in 0..classes-1. */
  labels: Uint8Array;
  count: number;
  /** [height, width, channels] */
  shape: [number, number, number];
  classes: number;
}

/** A data file that exists but cannot be used: the message names the file and what is wrong with it. */
export class DataFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'DataFileError';
  }
}

/**
 * A dataset's files are not on this host (and could not be downloaded): retryable (src/activities/errors.ts:
 * DataUnavailable), since another host, or this one once the files are put there, can do the step. The message's first
 * line names the dataset, the host and the folder the files belong in; the next lines list every place searched.
 */
export class DatasetUnavailableError extends Error {
  constructor(
    message: string,
    readonly dataset?: string,
    /** The folder the files belong in. */
    readonly dir?: string,
  ) {
    super(message);
    this.name = 'DatasetUnavailableError';
  }
}

/** Concatenate image sets of the same shape and classes (e.g. the five CIFAR-10 training batches). */
export function concatImageSets(sets: readonly ImageSet[]): ImageSet {
  if (sets.length === 0) throw new Error('concatImageSets: no image sets given');
  if (sets.length === 1) return sets[0];
  const [first] = sets;
  for (const s of sets) {
    if (s.shape.join('x') !== first.shape.join('x') || s.classes !== first.classes) {
      throw new Error(`concatImageSets: shape ${s.shape.join('x')}/${s.classes} classes differs from ${first.shape.join('x')}/${first.classes}`);
    }
  }
  const count = sets.reduce((n, s) => n + s.count, 0);
  const perImage = first.shape[0] * first.shape[1] * first.shape[2];
  const images = new Uint8Array(count * perImage);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const s of sets) {
    images.set(s.images.subarray(0, s.count * perImage), at * perImage);
    labels.set(s.labels.subarray(0, s.count), at);
    at += s.count;
  }
  return { images, labels, count, shape: [...first.shape], classes: first.classes };
}
