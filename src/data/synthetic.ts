import { z } from 'zod';
import { deriveSeed, Rng } from '../util/rng';
import type { ImageSet } from './types';

export const SyntheticSpecSchema = z
  .object({
    train: z.number().int().positive().default(3000),
    test: z.number().int().positive().default(500),
    shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]).default([32, 32, 3]),
    classes: z.number().int().min(2).max(256).default(10),
    /** Seed of the data itself (class patterns and samples), independent of the split seed. */
    seed: z.number().int().default(0),
    /** Half-width of the uniform pixel noise, in 0..255 units. */
    noise: z.number().min(0).max(255).default(48),
  })
  .strict();
export type SyntheticSpec = z.input<typeof SyntheticSpecSchema>;

const GRID = 4;

export interface SyntheticOptions {
  count: number;
  shape: readonly [number, number, number];
  classes: number;
  seed: number;
  noise?: number;
  /** Names the sample stream, so train and test draw different images of the same classes. */
  stream?: string;
}

/**
 * A learnable synthetic dataset: each class has a seeded pattern (a 4×4 grid of colours); an image is its class
 * pattern, shifted by up to 2 pixels, plus uniform noise. Same options, same images.
 */
export function makeSynthetic(opts: SyntheticOptions): ImageSet {
  const [h, w, c] = opts.shape;
  const noise = Math.round(opts.noise ?? 48);
  const protoRng = Rng.fromSeed(deriveSeed(opts.seed, 'synthetic', 'patterns'));
  const patterns = new Uint8Array(opts.classes * GRID * GRID * c);
  for (let i = 0; i < patterns.length; i++) patterns[i] = protoRng.int(24, 231);
  const rng = Rng.fromSeed(deriveSeed(opts.seed, 'synthetic', 'samples', opts.stream ?? 'train'));
  const perImage = h * w * c;
  const images = new Uint8Array(opts.count * perImage);
  const labels = new Uint8Array(opts.count);
  for (let n = 0; n < opts.count; n++) {
    const label = rng.int(0, opts.classes - 1);
    labels[n] = label;
    const dy = rng.int(-2, 2);
    const dx = rng.int(-2, 2);
    const pattern = label * GRID * GRID * c;
    let o = n * perImage;
    for (let y = 0; y < h; y++) {
      const gy = Math.min(GRID - 1, Math.max(0, Math.floor(((y + dy) * GRID) / h)));
      for (let x = 0; x < w; x++) {
        const gx = Math.min(GRID - 1, Math.max(0, Math.floor(((x + dx) * GRID) / w)));
        const cell = pattern + (gy * GRID + gx) * c;
        for (let ch = 0; ch < c; ch++) {
          const v = patterns[cell + ch] + (noise > 0 ? rng.int(-noise, noise) : 0);
          images[o++] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  }
  return { images, labels, count: opts.count, shape: [h, w, c], classes: opts.classes };
}
