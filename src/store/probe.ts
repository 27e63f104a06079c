import * as fs from 'node:fs';
import { z } from 'zod';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic';
import { readJsonFile } from '../util/files';
import { StoreFileError } from './errors';
import { RunLayout } from './layout';

/**
 * A search's data probe (runs/<id>/probe.json + probe.f32), written once by prepareSearch: the training split's
 * normalisation statistics and PROBE_IMAGES seeded training images, normalised. Transforms read it instead of loading
 * the dataset: Net2Deeper's BatchNorm statistics come from the parent's activations on its first PROBE_BATCH images
 * (computed once per parent), the preservation check runs on its first CHECK_BATCH.
 *
 * The identity BatchNorm is exact in inference mode whatever statistics it is given, so the sample only sets where
 * training-mode BatchNorm starts (momentum 0.9 replaces them within a few dozen steps): 16 images serve as well as more.
 * A wrong remapping, split or BatchNorm changes the logits of practically every input (the check compares to 1e-4
 * against activations of order 1), so one real image catches it; the forward pass through the grown child is the
 * costliest part of a transform, so every image counts.
 */
export const PROBE_IMAGES = 256;
export const PROBE_BATCH = 16;
export const CHECK_BATCH = 1;

export const ProbeMetaSchema = z
  .object({
    dataset: z.string(),
    /** Per-channel mean/std of the search's training split, raw 0..255 units (what the trainer normalises with). */
    normalization: z.object({ mean: z.array(z.number()), std: z.array(z.number()) }),
    /** Size of the training split the statistics come from. */
    trainImages: z.number().int().positive(),
    shape: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    /** Images in probe.f32 (float32, NHWC, normalised). */
    count: z.number().int().positive(),
  })
  .strict();
export type ProbeMeta = z.infer<typeof ProbeMetaSchema>;

/** Whether the probe of `runDir` is complete (both files published). */
export function hasProbe(runDir: string): boolean {
  const { meta, images } = new RunLayout(runDir).probe();
  return fs.existsSync(meta) && fs.existsSync(images);
}

/** Publish the probe: images first, then the meta that says it is complete (each atomically). */
export function writeProbe(runDir: string, meta: ProbeMeta, images: Float32Array): void {
  const files = new RunLayout(runDir).probe();
  const [h, w, c] = meta.shape;
  if (images.length !== meta.count * h * w * c) throw new Error(`probe: ${images.length} values for ${meta.count} images ${h}×${w}×${c}`);
  writeFileAtomic(files.images, new Uint8Array(images.buffer, images.byteOffset, images.byteLength));
  writeJsonAtomic(files.meta, meta);
}

/** The probe's statistics and images (validated: the image file must hold exactly count × h × w × c float32). */
export function readProbe(runDir: string): { meta: ProbeMeta; images: Float32Array } {
  const files = new RunLayout(runDir).probe();
  const meta = readJsonFile(files.meta, ProbeMetaSchema, "search's data probe (prepareSearch writes it)", StoreFileError);
  const buf = fs.readFileSync(files.images);
  const [h, w, c] = meta.shape;
  if (buf.byteLength !== meta.count * h * w * c * 4) {
    throw new StoreFileError(files.images, `holds ${buf.byteLength} bytes, expected ${meta.count * h * w * c * 4} (${meta.count} images ${h}×${w}×${c} float32)`);
  }
  const images = new Float32Array(buf.byteLength / 4);
  new Uint8Array(images.buffer).set(buf);
  return { meta, images };
}
