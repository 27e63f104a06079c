import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { DataFileError, type ImageSet } from './types';

/** IDX magic numbers: two zero bytes, 0x08 (unsigned byte data), then the number of dimensions. */
export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parse an IDX file of unsigned bytes (gzipped or not), checking its magic number and size. */
export function parseIdx(raw: Uint8Array, file: string, expectedMagic: number): IdxArray {
  let bytes = raw;
  if (isGzip(raw)) {
    try {
      bytes = zlib.gunzipSync(raw);
    } catch (err) {
      throw new DataFileError(file, `bad gzip data (${(err as Error).message}); the file is truncated or corrupt`);
    }
  } else if (file.endsWith('.gz')) {
    throw new DataFileError(file, 'bad gzip data: the file does not start with the gzip signature 1f 8b');
  }
  if (bytes.length < 4) throw new DataFileError(file, `only ${bytes.length} bytes; an IDX file starts with a 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectedMagic) {
    throw new DataFileError(file, `bad magic number ${magic}, expected ${expectedMagic} (${expectedMagic === IDX_IMAGES_MAGIC ? 'IDX images' : 'IDX labels'})`);
  }
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) throw new DataFileError(file, `truncated header: ${ndims} dimensions need ${headerBytes} bytes, file has ${bytes.length}`);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== expected) {
    throw new DataFileError(file, `wrong size: dimensions ${dims.join('×')} need ${expected} bytes, file has ${bytes.length}${bytes.length < expected ? ' (truncated)' : ''}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Read an IDX images file and its labels file (MNIST / Fashion-MNIST layout) as one image set of h×w×1 images. */
export function readIdxImageSet(imagesFile: string, labelsFile: string, classes = 10): ImageSet {
  const images = parseIdx(fs.readFileSync(imagesFile), imagesFile, IDX_IMAGES_MAGIC);
  const labels = parseIdx(fs.readFileSync(labelsFile), labelsFile, IDX_LABELS_MAGIC);
  const [count, h, w] = images.dims;
  if (labels.dims[0] !== count) throw new DataFileError(labelsFile, `${labels.dims[0]} labels but ${imagesFile} has ${count} images`);
  for (let i = 0; i < count; i++) {
    if (labels.data[i] >= classes) throw new DataFileError(labelsFile, `label ${i} is ${labels.data[i]}, expected 0..${classes - 1}`);
  }
  return { images: images.data, labels: labels.data, count, shape: [h, w, 1], classes };
}
