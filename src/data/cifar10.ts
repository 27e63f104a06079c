import * as fs from 'node:fs';
import { concatImageSets, DataFileError, type ImageSet } from './types';

const SIDE = 32;
const CHANNELS = 3;
const PLANE = SIDE * SIDE;
const PIXELS = PLANE * CHANNELS;
/** One record of the CIFAR-10 binary version: a label byte, then the R, G and B planes, each 32×32 row-major. */
export const CIFAR10_RECORD_BYTES = 1 + PIXELS;
export const CIFAR10_CLASSES = 10;

/** Parse the records of one CIFAR-10 binary batch file into HWC images. */
export function parseCifar10Batch(bytes: Uint8Array, file: string): ImageSet {
  if (bytes.length === 0 || bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new DataFileError(
      file,
      `size ${bytes.length} bytes is not a positive multiple of the ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 record (1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch`,
    );
  }
  const count = bytes.length / CIFAR10_RECORD_BYTES;
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const rec = n * CIFAR10_RECORD_BYTES;
    const label = bytes[rec];
    if (label >= CIFAR10_CLASSES) throw new DataFileError(file, `record ${n} has label ${label}, expected 0..9`);
    labels[n] = label;
    const src = rec + 1;
    const dst = n * PIXELS;
    for (let p = 0; p < PLANE; p++) {
      const o = dst + p * CHANNELS;
      images[o] = bytes[src + p];
      images[o + 1] = bytes[src + PLANE + p];
      images[o + 2] = bytes[src + 2 * PLANE + p];
    }
  }
  return { images, labels, count, shape: [SIDE, SIDE, CHANNELS], classes: CIFAR10_CLASSES };
}

/** Read CIFAR-10 binary batch files (data_batch_1..5.bin or test_batch.bin) as one image set, in file order. */
export function readCifar10(files: readonly string[]): ImageSet {
  return concatImageSets(files.map((file) => parseCifar10Batch(fs.readFileSync(file), file)));
}
