import * as fs from 'node:fs';
import { z } from 'zod';
import { SearchSpaceSchema } from '../arch';
import { DenseSpaceSchema } from '../densenet/schema';
import { SearchSpaceConfigSchema } from '../space/config';
import { ControllerConfigSchema } from './config';

/** A float32 tensor: shape and little-endian float32 bytes in base64. */
export const TensorBlobSchema = z.object({ shape: z.array(z.number().int().nonnegative()), data: z.string() }).strict();

const TensorMapSchema = z.record(z.string(), TensorBlobSchema);

export const CHECKPOINT_FORMAT = 'eas-controller';
export const CHECKPOINT_VERSION = 2;
/** The DenseNet search's own policy file before the one controller (read, never written). */
export const LEGACY_DENSE_FORMAT = 'eas-dense-controller';

const AdamSchema = z.object({ step: z.number().int().nonnegative(), beta1Power: z.number(), beta2Power: z.number(), m: TensorMapSchema, v: TensorMapSchema }).strict();
const Common = {
  kind: z.enum(['rl', 'random']),
  config: ControllerConfigSchema,
  updates: z.number().int().nonnegative(),
  baseline: z.number().nullable(),
  params: TensorMapSchema.optional(),
  adam: AdamSchema.optional(),
};
const rlNeedsWeights = (c: { kind: string; params?: unknown; adam?: unknown }, ctx: z.RefinementCtx) => {
  if (c.kind === 'rl' && (!c.params || !c.adam)) ctx.addIssue({ code: 'custom', message: 'an rl checkpoint needs "params" and "adam"' });
};

/** The whole policy state in one file, in any search space: config, space, weights, Adam slots, baseline and update count. */
export const ControllerCheckpointSchema = z
  .object({ format: z.literal(CHECKPOINT_FORMAT), version: z.literal(CHECKPOINT_VERSION), ...Common, searchSpace: SearchSpaceConfigSchema })
  .strict()
  .superRefine(rlNeedsWeights);

/** Version 1 (plain space only): `space` held the plain space's settings. */
const PlainV1Schema = z
  .object({ format: z.literal(CHECKPOINT_FORMAT), version: z.literal(1), ...Common, space: SearchSpaceSchema })
  .strict()
  .superRefine(rlNeedsWeights);

/** The DenseNet search's policy file: `space` held the DenseNet settings; its RL weights carry an unused kernel head. */
const DenseV1Schema = z
  .object({ format: z.literal(LEGACY_DENSE_FORMAT), version: z.literal(1), ...Common, space: DenseSpaceSchema })
  .strict()
  .superRefine(rlNeedsWeights);

/** The DenseNet policy's kernel-size head (3 wide, never sampled nor trained); a space with no kernel choice has none. */
const DENSE_UNUSED = ['deeper.kernelSize.kernel', 'deeper.kernelSize.bias'];
const dropUnused = <T>(m: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(m).filter(([k]) => !DENSE_UNUSED.includes(k)));

type Parsed = { success: true; data: ControllerCheckpoint } | { success: false; error: z.ZodError };

/** Any checkpoint this code has written, in the current format (older ones converted). */
function parseAnyVersion(raw: unknown): Parsed {
  const r = raw as { format?: unknown; version?: unknown } | null;
  const format = typeof r === 'object' && r !== null ? r.format : undefined;
  const version = typeof r === 'object' && r !== null ? r.version : undefined;
  const current = (c: object): Parsed => ControllerCheckpointSchema.safeParse({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...c });
  if (format === CHECKPOINT_FORMAT && version === 1) {
    const old = PlainV1Schema.safeParse(raw);
    if (!old.success) return old;
    const { format: _f, version: _v, space, ...rest } = old.data;
    return current({ ...rest, searchSpace: { kind: 'plain', ...space } });
  }
  if (format === LEGACY_DENSE_FORMAT) {
    const old = DenseV1Schema.safeParse(raw);
    if (!old.success) return old;
    const { format: _f, version: _v, space, params, adam, ...rest } = old.data;
    return current({
      ...rest,
      searchSpace: { kind: 'densenet', ...space },
      ...(params ? { params: dropUnused(params) } : {}),
      ...(adam ? { adam: { ...adam, m: dropUnused(adam.m), v: dropUnused(adam.v) } } : {}),
    });
  }
  return ControllerCheckpointSchema.safeParse(raw);
}

export type ControllerCheckpoint = z.infer<typeof ControllerCheckpointSchema>;
export type TensorBlob = z.infer<typeof TensorBlobSchema>;

export function encodeTensor(values: Float32Array, shape: number[]): TensorBlob {
  return { shape, data: Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64') };
}

export function encodeTensors(values: Record<string, Float32Array>, shapes: Record<string, number[]>): Record<string, TensorBlob> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, encodeTensor(v, shapes[k])]));
}

/** Decode and check against the expected shape; `what` names the tensor in errors. */
export function decodeTensor(blob: TensorBlob, expectedShape: number[], what: string): Float32Array {
  if (blob.shape.length !== expectedShape.length || blob.shape.some((d, i) => d !== expectedShape[i])) {
    throw new Error(`${what} has shape [${blob.shape.join(', ')}], expected [${expectedShape.join(', ')}]`);
  }
  const bytes = Buffer.from(blob.data, 'base64');
  const size = expectedShape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== size * 4) throw new Error(`${what} holds ${bytes.byteLength} bytes, expected ${size * 4} (${size} float32)`);
  const out = new Float32Array(size);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function decodeTensors(map: Record<string, TensorBlob>, shapes: Record<string, number[]>, what: string): Record<string, Float32Array> {
  const extra = Object.keys(map).filter((k) => !(k in shapes));
  if (extra.length) throw new Error(`${what}: unexpected tensors ${extra.join(', ')} (does the checkpoint's config match its weights?)`);
  return Object.fromEntries(
    Object.entries(shapes).map(([k, shape]) => {
      const blob = map[k];
      if (!blob) throw new Error(`${what}: tensor "${k}" is missing`);
      return [k, decodeTensor(blob, shape, `${what} "${k}"`)];
    }),
  );
}

/**
 * A checkpoint in the current format: version 2, or a version-1 plain file, or an old DenseNet policy file (its unused
 * kernel head dropped), so run stores written before the one controller still load.
 */
export function parseCheckpoint(raw: unknown, source = 'controller checkpoint'): ControllerCheckpoint {
  const r = parseAnyVersion(raw);
  if (!r.success) throw new Error(`${source} is not a valid controller checkpoint:\n${z.prettifyError(r.error)}`);
  return r.data;
}

/** A policy checkpoint file that is missing, unreadable or not a checkpoint; `file` names it (retry classification). */
export class ControllerCheckpointError extends Error {
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`controller checkpoint ${file}: ${detail}`, options);
    this.name = 'ControllerCheckpointError';
  }
}

export function readCheckpoint(path: string): ControllerCheckpoint {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new ControllerCheckpointError(path, `cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ControllerCheckpointError(path, `is not JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const r = parseAnyVersion(raw);
  if (!r.success) throw new ControllerCheckpointError(path, `is not a valid controller checkpoint:\n${z.prettifyError(r.error)}`);
  return r.data;
}

/** The sampling steps a stage asks for; they are not part of the policy's weights, so any checkpoint can take them. */
export interface StepsOverride {
  widerSteps: number;
  deeperSteps: number;
}

/**
 * A checkpoint whose config samples with the given steps: the policy learned in one stage samples the next stage's
 * number of Net2Wider / Net2Deeper steps (the checkpoint's own config records the stage it was saved in).
 */
export function withSteps(ckpt: ControllerCheckpoint, steps: StepsOverride): ControllerCheckpoint {
  return { ...ckpt, config: { ...ckpt.config, widerSteps: steps.widerSteps, deeperSteps: steps.deeperSteps } };
}
