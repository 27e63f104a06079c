import type { ImageSet } from './types';

/** Per-channel affine normalisation x = (raw − mean) / std, with mean and std in raw 0..255 units. */
export interface Normalization {
  mean: number[];
  std: number[];
}

/** Divide by 255 (SVHN, as in the paper). */
export function scaleTo01(channels: number): Normalization {
  return { mean: new Array(channels).fill(0), std: new Array(channels).fill(255) };
}

/**
 * Exact per-channel mean and (population) standard deviation over the given images, via a 256-bin histogram per
 * channel (one pass over bytes, no float accumulation error over millions of pixels).
 */
export function channelStats(source: ImageSet, rows?: ArrayLike<number>): Normalization {
  const [h, w, c] = source.shape;
  const perImage = h * w * c;
  const hist = new Float64Array(c * 256);
  const count = rows ? rows.length : source.count;
  const img = source.images;
  for (let i = 0; i < count; i++) {
    const start = (rows ? rows[i] : i) * perImage;
    const end = start + perImage;
    for (let ch = 0; ch < c; ch++) {
      const bins = ch * 256;
      for (let o = start + ch; o < end; o += c) hist[bins + img[o]]++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[ch * 256 + v];
      n += k;
      sum += k * v;
      sumSq += k * v * v;
    }
    if (n === 0) throw new Error('channelStats: no images to compute statistics from');
    const m = sum / n;
    const variance = Math.max(0, sumSq / n - m * m);
    mean.push(m);
    // A constant channel would divide by zero; leave it centred but unscaled.
    std.push(variance > 0 ? Math.sqrt(variance) : 1);
  }
  return { mean, std };
}

/** Lookup table lut[ch*256 + raw] = normalised value, so a batch is normalised with one load per pixel. */
export function normalizationTable(norm: Normalization): Float32Array {
  const c = norm.mean.length;
  const lut = new Float32Array(c * 256);
  for (let ch = 0; ch < c; ch++) for (let v = 0; v < 256; v++) lut[ch * 256 + v] = (v - norm.mean[ch]) / norm.std[ch];
  return lut;
}
