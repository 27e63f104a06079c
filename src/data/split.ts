import type { Rng } from '../util/rng';
import { normalizationTable, type Normalization } from './normalize';
import type { ImageSet } from './types';

/** Zero padding of the standard CIFAR augmentation (Huang et al.; He et al.): pad 4, random crop back, random flip. */
export const AUGMENT_PAD = 4;

/**
 * Where a crop takes the output image from: output pixel (y, x) is source pixel (y + dy, x' + dx) with
 * x' = w − 1 − x when flipped, else x; source pixels outside the image are the padding.
 * dy, dx ∈ [−4, 4] are the standard random 32×32 crop of the 4-padded 40×40 image (offset − 4), and the flip is
 * applied after cropping.
 */
export interface CropFlip {
  dy: number;
  dx: number;
  flip: boolean;
}

/**
 * Normalise one HWC uint8 image into `dst` (through the lookup table), optionally cropped and flipped.
 * Padding is zero in normalised space, i.e. the channel mean in raw space: normalise first, then pad, as in the
 * paper's code and Huang et al.'s scheme, so padding carries no signal after normalisation.
 */
export function writeImage(
  src: Uint8Array,
  srcOffset: number,
  shape: readonly [number, number, number],
  lut: Float32Array,
  dst: Float32Array,
  dstOffset: number,
  crop: CropFlip | null,
): void {
  const [h, w, c] = shape;
  if (!crop) {
    const pixels = h * w;
    const lutEnd = c * 256;
    for (let p = 0, s = srcOffset, d = dstOffset; p < pixels; p++) {
      for (let lutBase = 0; lutBase < lutEnd; lutBase += 256) dst[d++] = lut[lutBase + src[s++]];
    }
    return;
  }
  const { dy, dx, flip } = crop;
  const rowLen = w * c;
  for (let y = 0; y < h; y++) {
    const sy = y + dy;
    const out = dstOffset + y * rowLen;
    if (sy < 0 || sy >= h) {
      dst.fill(0, out, out + rowLen);
      continue;
    }
    const srcRow = srcOffset + sy * rowLen;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + dx;
      const o = out + x * c;
      if (sx < 0 || sx >= w) {
        for (let ch = 0; ch < c; ch++) dst[o + ch] = 0;
      } else {
        const s = srcRow + sx * c;
        for (let ch = 0; ch < c; ch++) dst[o + ch] = lut[ch * 256 + src[s + ch]];
      }
    }
  }
}

/** Draw a standard C10+ crop and flip: offsets uniform in [−4, 4] (the 9 crops of the padded image), flip with p = ½. */
export function drawCropFlip(rng: Rng, pad = AUGMENT_PAD): CropFlip {
  return { dy: rng.int(-pad, pad), dx: rng.int(-pad, pad), flip: rng.int(0, 1) === 1 };
}

export interface Batch {
  /** n × h × w × c, NHWC, normalised. */
  x: Float32Array;
  /** n labels. */
  y: Int32Array;
  n: number;
  /** [n, h, w, c] */
  shape: [number, number, number, number];
}

export interface MakeBatchOptions {
  /** Random crop + flip (C10+); needs `rng`. */
  augment?: boolean;
  rng?: Rng;
  /**
   * Buffers to fill instead of allocating (lengths ≥ n·h·w·c and n). Only reuse them once the previous batch's
   * tensors are disposed: tf.tensor may keep a reference to the array instead of copying it.
   */
  out?: { x: Float32Array; y: Int32Array };
}

export interface SplitInit {
  name: string;
  /** Image sets the rows index into, as if concatenated (SVHN final training: train then extra). */
  sources: readonly ImageSet[];
  /** Rows of the concatenated sources that form this split, in split order. */
  rows: Int32Array;
  normalization: Normalization;
}

/** A split (train / val / test) over uint8 images, normalised per batch into Float32Array. */
export class Split {
  readonly name: string;
  readonly count: number;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly normalization: Normalization;
  /** Rows of the concatenated sources, in split order (which source images this split holds). */
  readonly rows: Int32Array;
  private readonly sources: readonly ImageSet[];
  private readonly sourceOf: Uint8Array;
  private readonly byteOffset: Float64Array;
  private readonly labelOf: Int32Array;
  private readonly lut: Float32Array;

  constructor(init: SplitInit) {
    const [first] = init.sources;
    if (!first) throw new Error(`split '${init.name}': no image sources`);
    for (const s of init.sources) {
      if (s.shape.join('x') !== first.shape.join('x') || s.classes !== first.classes) throw new Error(`split '${init.name}': sources differ in shape or classes`);
    }
    if (init.normalization.mean.length !== first.shape[2]) throw new Error(`split '${init.name}': normalisation has ${init.normalization.mean.length} channels, images have ${first.shape[2]}`);
    this.name = init.name;
    this.count = init.rows.length;
    this.shape = [...first.shape];
    this.classes = first.classes;
    this.normalization = init.normalization;
    this.sources = init.sources;
    this.rows = init.rows;
    this.lut = normalizationTable(init.normalization);
    const perImage = this.shape[0] * this.shape[1] * this.shape[2];
    const starts: number[] = [];
    let total = 0;
    for (const s of init.sources) {
      starts.push(total);
      total += s.count;
    }
    this.sourceOf = new Uint8Array(this.count);
    this.byteOffset = new Float64Array(this.count);
    this.labelOf = new Int32Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const row = init.rows[i];
      if (!(row >= 0 && row < total)) throw new RangeError(`split '${init.name}': row ${row} outside 0..${total - 1}`);
      let k = starts.length - 1;
      while (starts[k] > row) k--;
      this.sourceOf[i] = k;
      this.byteOffset[i] = (row - starts[k]) * perImage;
      this.labelOf[i] = init.sources[k].labels[row - starts[k]];
    }
  }

  label(i: number): number {
    return this.labelOf[i];
  }

  /** All labels in split order (a copy). */
  labels(): Int32Array {
    return this.labelOf.slice();
  }

  /** The raw uint8 HWC pixels of image i (a view, not a copy). */
  rawImage(i: number): Uint8Array {
    const perImage = this.shape[0] * this.shape[1] * this.shape[2];
    return this.sources[this.sourceOf[i]].images.subarray(this.byteOffset[i], this.byteOffset[i] + perImage);
  }

  /** A fresh seeded permutation of 0..count−1 for one epoch. */
  epochOrder(rng: Rng): Int32Array {
    const order = new Int32Array(this.count);
    for (let i = 0; i < this.count; i++) order[i] = i;
    return rng.shuffle(order);
  }

  /** Normalised NHWC batch of the given split positions; with `augment`, a fresh crop and flip per image from `rng`. */
  makeBatch(indices: ArrayLike<number>, opts: MakeBatchOptions = {}): Batch {
    const n = indices.length;
    const [h, w, c] = this.shape;
    const perImage = h * w * c;
    if (opts.augment && !opts.rng) throw new Error(`split '${this.name}': makeBatch with augment needs an rng`);
    const x = opts.out?.x ?? new Float32Array(n * perImage);
    const y = opts.out?.y ?? new Int32Array(n);
    if (x.length < n * perImage || y.length < n) throw new RangeError(`split '${this.name}': out buffers too small for ${n} images`);
    for (let b = 0; b < n; b++) {
      const i = indices[b];
      if (!(Number.isInteger(i) && i >= 0 && i < this.count)) throw new RangeError(`split '${this.name}': index ${i} outside 0..${this.count - 1}`);
      const crop = opts.augment ? drawCropFlip(opts.rng!) : null;
      writeImage(this.sources[this.sourceOf[i]].images, this.byteOffset[i], this.shape, this.lut, x, b * perImage, crop);
      y[b] = this.labelOf[i];
    }
    return { x: x.length === n * perImage ? x : x.subarray(0, n * perImage), y: y.length === n ? y : y.subarray(0, n), n, shape: [n, h, w, c] };
  }
}

/** Consecutive batches of an epoch order, as views; the last partial batch is dropped unless asked otherwise. */
export function* batchIndices(order: Int32Array, batchSize: number, opts: { dropLast?: boolean } = {}): Generator<Int32Array> {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const dropLast = opts.dropLast ?? true;
  for (let at = 0; at < order.length; at += batchSize) {
    if (at + batchSize > order.length && dropLast) return;
    yield order.subarray(at, Math.min(at + batchSize, order.length));
  }
}
