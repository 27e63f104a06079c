import * as fs from 'node:fs';
import { z } from 'zod';
import { deriveSeed, Rng } from '../util/rng';
import { readCifar10 } from './cifar10';
import { readIdxImageSet } from './idx';
import { locateDataset, type LocatedDataset } from './locate';
import { channelStats, scaleTo01, type Normalization } from './normalize';
import { Split } from './split';
import { readSvhn } from './svhn';
import { makeSynthetic, SyntheticSpecSchema } from './synthetic';
import { concatImageSets, DatasetNameSchema, type DatasetName, type ImageSet, type Part } from './types';

const Count = z.number().int().positive();

export const LoadSplitsOptionsSchema = z
  .object({
    dataset: DatasetNameSchema,
    dataDir: z.string().optional(),
    /** search: train on the training set less a seeded validation hold-out, evaluate on it; final: full training set, test set. */
    mode: z.enum(['search', 'final']),
    /** Seeds the validation hold-out and the `limit` subsets. */
    seed: z.number().int(),
    /** Images held out for validation in search mode (paper: 5,000; synthetic: a tenth of its training set). */
    validationSize: Count.optional(),
    download: z.boolean().default(false),
    mirror: z.string().optional(),
    /** Keep only the first N images (after a seeded shuffle) of a split, for quick runs and tests. */
    limit: z.object({ train: Count.optional(), val: Count.optional(), test: Count.optional() }).strict().optional(),
    /** SVHN final training uses train + extra (paper); false trains on train only. */
    svhnExtra: z.boolean().default(true),
    synthetic: SyntheticSpecSchema.optional(),
  })
  .strict();
export type LoadSplitsOptions = z.input<typeof LoadSplitsOptionsSchema>;

export interface DatasetSplits {
  dataset: DatasetName;
  mode: 'search' | 'final';
  train: Split;
  /** The split to evaluate on: 'val' in search mode, 'test' in final mode (see `eval.name`). */
  eval: Split;
  normalization: Normalization;
  /** Whether the paper trains this dataset with the standard crop + flip augmentation (C10+); SVHN has none. */
  standardAugment: boolean;
  location: LocatedDataset;
}

const PAPER_VALIDATION_SIZE = 5000;

// Parsed parts by file identity, so repeated trainings in one process read each file once.
const cache = new Map<string, ImageSet>();

export function clearDataCache(): void {
  cache.clear();
}

function cached(key: string, read: () => ImageSet): ImageSet {
  let set = cache.get(key);
  if (!set) {
    set = read();
    cache.set(key, set);
  }
  return set;
}

function fileKey(files: readonly string[]): string {
  return files
    .map((f) => {
      const st = fs.statSync(f);
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
}

/** Read one located part of a real dataset. */
export function readPart(dataset: Exclude<DatasetName, 'synthetic'>, files: readonly string[]): ImageSet {
  return cached(`${dataset}|${fileKey(files)}`, () => {
    switch (dataset) {
      case 'cifar10':
        return readCifar10(files);
      case 'svhn':
        return concatImageSets(files.map(readSvhn));
      case 'fashion-mnist':
        return readIdxImageSet(files[0], files[1]);
    }
  });
}

function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

/** The first `limit` rows after a seeded shuffle (all rows when no limit), sorted. */
function limitRows(rows: Int32Array, limit: number | undefined, seed: number, label: string): Int32Array {
  if (limit === undefined || limit >= rows.length) return rows;
  return Rng.fromSeed(deriveSeed(seed, 'data', 'limit', label)).shuffle(rows.slice()).slice(0, limit).sort();
}

/**
 * The paper's data protocol. Search mode: a seeded hold-out of `validationSize` (5,000) training images is the
 * validation split, the rest is trained on. Final mode: the full training set (SVHN: train + extra) against the
 * test set. Normalisation: per-channel mean/std of the training split (CIFAR-10, Fashion-MNIST, synthetic);
 * SVHN divides by 255.
 */
export async function loadSplits(options: LoadSplitsOptions): Promise<DatasetSplits> {
  const parsed = LoadSplitsOptionsSchema.safeParse(options);
  if (!parsed.success) throw new Error(`loadSplits: invalid options: ${z.prettifyError(parsed.error)}`);
  const opts = parsed.data;
  const { dataset, mode, seed } = opts;
  const withExtra = dataset === 'svhn' && mode === 'final' && opts.svhnExtra;
  const parts: Part[] = mode === 'search' ? ['train'] : withExtra ? ['train', 'test', 'extra'] : ['train', 'test'];
  const location = await locateDataset(dataset, { dataDir: opts.dataDir, download: opts.download, mirror: opts.mirror, parts });

  let trainSources: ImageSet[];
  let testSource: ImageSet | null = null;
  if (dataset === 'synthetic') {
    const spec = SyntheticSpecSchema.parse(opts.synthetic ?? {});
    const common = { shape: spec.shape, classes: spec.classes, seed: spec.seed, noise: spec.noise };
    trainSources = [makeSynthetic({ ...common, count: spec.train, stream: 'train' })];
    if (mode === 'final') testSource = makeSynthetic({ ...common, count: spec.test, stream: 'test' });
  } else {
    const files = location.files;
    trainSources = [readPart(dataset, files.train!)];
    if (withExtra) trainSources.push(readPart(dataset, files.extra!));
    if (mode === 'final') testSource = readPart(dataset, files.test!);
  }
  const trainTotal = trainSources.reduce((n, s) => n + s.count, 0);

  let trainRows: Int32Array;
  let evalRows: Int32Array;
  let evalSources: ImageSet[];
  let evalName: 'val' | 'test';
  if (mode === 'search') {
    const validationSize = opts.validationSize ?? (dataset === 'synthetic' ? Math.ceil(trainTotal / 10) : PAPER_VALIDATION_SIZE);
    if (validationSize >= trainTotal) throw new Error(`loadSplits: validationSize ${validationSize} must be smaller than the ${trainTotal}-image training set of '${dataset}'`);
    const perm = Rng.fromSeed(deriveSeed(seed, 'data', 'validation-split')).shuffle(range(trainTotal));
    evalRows = limitRows(perm.slice(0, validationSize).sort(), opts.limit?.val, seed, 'val');
    trainRows = limitRows(perm.slice(validationSize).sort(), opts.limit?.train, seed, 'train');
    evalSources = trainSources;
    evalName = 'val';
  } else {
    trainRows = limitRows(range(trainTotal), opts.limit?.train, seed, 'train');
    evalRows = limitRows(range(testSource!.count), opts.limit?.test, seed, 'test');
    evalSources = [testSource!];
    evalName = 'test';
  }

  const channels = trainSources[0].shape[2];
  let normalization: Normalization;
  if (dataset === 'svhn') normalization = scaleTo01(channels);
  else if (trainSources.length === 1) normalization = channelStats(trainSources[0], trainRows);
  else throw new Error('loadSplits: mean/std normalisation over several sources is not supported');

  return {
    dataset,
    mode,
    train: new Split({ name: 'train', sources: trainSources, rows: trainRows, normalization }),
    eval: new Split({ name: evalName, sources: evalSources, rows: evalRows, normalization }),
    normalization,
    standardAugment: dataset === 'cifar10',
    location,
  };
}
