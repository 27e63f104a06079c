import type { Part, RealDatasetName } from './types';

/** A published file (or archive) and its checksum, as given by the dataset's authors or the common loaders. */
export interface DownloadSpec {
  url: string;
  /** File name the download is saved under. */
  file: string;
  md5: string;
  /** Which dataset files this download provides. */
  provides: readonly string[];
  /** A gzipped tarball is extracted into `dir` (relative to the dataset directory), dropping `strip` leading path parts. */
  extract?: { dir: string; strip: number };
}

export interface DatasetSpec {
  name: RealDatasetName;
  /** Files each part reads, by their published names. */
  parts: Partial<Record<Part, readonly string[]>>;
  /** Parts read unless asked otherwise; SVHN's 1.3 GB extra set only for final training. */
  defaultParts: readonly Part[];
  /** Sub-directories of the dataset directory where the files may sit (e.g. an extracted archive's folder). */
  subdirs: readonly string[];
  /** System locations where a distribution package installs the files. */
  systemDirs: readonly string[];
  /** Other names accepted for a file (e.g. Fashion-MNIST's files gunzipped). */
  alternatives: Readonly<Record<string, readonly string[]>>;
  downloads: readonly DownloadSpec[];
  /** Where a person gets the files by hand. */
  homepage: string;
}

const CIFAR_TRAIN = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
const FMNIST_BASE = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
const FMNIST = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
};

export const DATASETS: Record<RealDatasetName, DatasetSpec> = {
  cifar10: {
    name: 'cifar10',
    parts: { train: CIFAR_TRAIN, test: ['test_batch.bin'] },
    defaultParts: ['train', 'test'],
    subdirs: ['cifar-10-batches-bin'],
    systemDirs: [],
    alternatives: {},
    downloads: [
      {
        url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz',
        file: 'cifar-10-binary.tar.gz',
        md5: 'c32a1d4ab5d03f1284b67883e8d87530',
        provides: [...CIFAR_TRAIN, 'test_batch.bin'],
        extract: { dir: 'cifar-10-batches-bin', strip: 1 },
      },
    ],
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 binary version)',
  },
  svhn: {
    name: 'svhn',
    parts: { train: ['train_32x32.mat'], test: ['test_32x32.mat'], extra: ['extra_32x32.mat'] },
    defaultParts: ['train', 'test'],
    subdirs: [],
    systemDirs: [],
    alternatives: {},
    downloads: [
      { url: 'http://ufldl.stanford.edu/housenumbers/train_32x32.mat', file: 'train_32x32.mat', md5: 'e26dedcc434d2e4c54c9b2d4a06d8373', provides: ['train_32x32.mat'] },
      { url: 'http://ufldl.stanford.edu/housenumbers/test_32x32.mat', file: 'test_32x32.mat', md5: 'eb5a983be6a315427106f1b164d9cef3', provides: ['test_32x32.mat'] },
      { url: 'http://ufldl.stanford.edu/housenumbers/extra_32x32.mat', file: 'extra_32x32.mat', md5: 'a93ce644f1a588dc4d68dda5feec44a7', provides: ['extra_32x32.mat'] },
    ],
    homepage: 'http://ufldl.stanford.edu/housenumbers/ (format 2: cropped digits)',
  },
  'fashion-mnist': {
    name: 'fashion-mnist',
    parts: { train: [FMNIST.trainImages, FMNIST.trainLabels], test: [FMNIST.testImages, FMNIST.testLabels] },
    defaultParts: ['train', 'test'],
    subdirs: [],
    // Debian's dataset-fashion-mnist package.
    systemDirs: ['/usr/share/datasets/fashion-mnist'],
    alternatives: Object.fromEntries(Object.values(FMNIST).map((f) => [f, [f.replace(/\.gz$/, '')]])),
    // Checksums of the published .gz files (as in torchvision); Debian recompresses, so its files differ.
    downloads: [
      { url: FMNIST_BASE + FMNIST.trainImages, file: FMNIST.trainImages, md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d', provides: [FMNIST.trainImages] },
      { url: FMNIST_BASE + FMNIST.trainLabels, file: FMNIST.trainLabels, md5: '25c81989df183df01b3e8a0aad5dffbe', provides: [FMNIST.trainLabels] },
      { url: FMNIST_BASE + FMNIST.testImages, file: FMNIST.testImages, md5: 'bef4ecab320f06d8554ea6380940ec79', provides: [FMNIST.testImages] },
      { url: FMNIST_BASE + FMNIST.testLabels, file: FMNIST.testLabels, md5: 'bb300cfdad3c16e7a12a480ee83cd310', provides: [FMNIST.testLabels] },
    ],
    homepage: 'https://github.com/zalandoresearch/fashion-mnist (or Debian: apt-get install dataset-fashion-mnist)',
  },
};
