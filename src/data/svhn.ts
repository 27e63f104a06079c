import { readMatFile, type MatArray } from './matfile';
import { DataFileError, type ImageSet } from './types';

const SIDE = 32;
const CHANNELS = 3;
const PIXELS = SIDE * SIDE * CHANNELS;
export const SVHN_CLASSES = 10;

function variable(vars: Map<string, MatArray>, name: string, file: string): MatArray {
  const v = vars.get(name);
  if (!v) throw new DataFileError(file, `missing variable '${name}' (found: ${[...vars.keys()].join(', ') || 'none'}); expected SVHN cropped digits X (32×32×3×N uint8) and y (N×1)`);
  return v;
}

/**
 * SVHN cropped digits: X is 32×32×3×N uint8 in MATLAB column-major order (row fastest, then column, channel,
 * image); y is N×1 with labels 1..10, where 10 stands for the digit 0. Returns HWC images and labels 0..9.
 */
/** One image from MATLAB order (row fastest, then column, then channel) to HWC. */
function columnMajorToHwc(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  for (let row = 0; row < SIDE; row++) {
    for (let col = 0; col < SIDE; col++) {
      const s = from + col * SIDE + row;
      const d = to + (row * SIDE + col) * CHANNELS;
      dst[d] = src[s];
      dst[d + 1] = src[s + SIDE * SIDE];
      dst[d + 2] = src[s + 2 * SIDE * SIDE];
    }
  }
}

export function svhnFromMat(vars: Map<string, MatArray>, file: string): ImageSet {
  const X = variable(vars, 'X', file);
  const y = variable(vars, 'y', file);
  if (X.mxClass !== 'uint8' || !(X.data instanceof Uint8Array)) throw new DataFileError(file, `variable 'X' is ${X.mxClass}, expected uint8`);
  const [rows, cols, chans, n = 1] = X.dims;
  if (X.dims.length > 4 || rows !== SIDE || cols !== SIDE || chans !== CHANNELS) {
    throw new DataFileError(file, `variable 'X' has dimensions ${X.dims.join('×')}, expected 32×32×3×N`);
  }
  if (y.data.length !== n) throw new DataFileError(file, `variable 'y' has ${y.data.length} labels but X has ${n} images`);
  const src = X.data;
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = y.data[i];
    if (!Number.isInteger(label) || label < 1 || label > 10) throw new DataFileError(file, `label ${i} is ${label}, expected an integer 1..10`);
    labels[i] = label === 10 ? 0 : label;
    columnMajorToHwc(src, i * PIXELS, images, i * PIXELS);
  }
  return { images, labels, count: n, shape: [SIDE, SIDE, CHANNELS], classes: SVHN_CLASSES };
}

export function readSvhn(file: string): ImageSet {
  return svhnFromMat(readMatFile(file), file);
}
