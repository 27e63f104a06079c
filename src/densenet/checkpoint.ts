import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { CHECKPOINT_FILES, CheckpointError, type NetworkMeta, type SaveOptions } from '../checkpoint/network';
import { type ModelOptions, ModelOptionsSchema } from '../nn/model';
import type { Weights } from '../nn/weights';
import { publishDirAtomic } from '../util/atomic';
import { validateDenseNet } from './analysis';
import { buildDenseModel } from './model';
import type { DenseNet } from './schema';
import { denseWeightSpecs, validateDenseWeights } from './weights';

/**
 * DenseNet checkpoints use the plain networks' layout (src/checkpoint/network.ts): a standard TF.js Layers artifact
 * (model.json with a functional topology and weightsManifest, weights.bin), arch.json (the DenseNet, `space:
 * "densenet"`) and meta.json, published atomically and never overwritten.
 */

export interface LoadedDenseNetwork {
  net: DenseNet;
  weights: Weights;
  meta: NetworkMeta;
  modelOptions: ModelOptions;
}

/** Save atomically; false (nothing written) when `dir` already holds a finished checkpoint. */
export async function saveDenseNetwork(dir: string, net: DenseNet, weights: Weights, meta: NetworkMeta = {}, opts: SaveOptions = {}): Promise<boolean> {
  validateDenseWeights(net, weights);
  const modelOptions = ModelOptionsSchema.parse(opts.model ?? {});
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new Error('saveDenseNetwork: meta must be a JSON object');
  const model = buildDenseModel(net, weights, modelOptions);
  const specs: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const chunks: Uint8Array[] = [];
  let topology: unknown;
  try {
    topology = model.toJSON(null, false);
    const ours = new Set(denseWeightSpecs(net).map((w) => w.name));
    // Our weight names are tfjs's variable names; check it so a change in tfjs naming cannot go unnoticed.
    for (const v of model.weights) {
      if (!ours.has(v.originalName)) throw new Error(`model variable ${v.originalName} has no counterpart in the weights`);
      const w = weights[v.originalName];
      specs.push({ name: v.originalName, shape: [...w.shape], dtype: 'float32' });
      chunks.push(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    }
    if (specs.length !== ours.size) throw new Error(`the model has ${specs.length} variables, the network ${ours.size} weights`);
  } finally {
    model.dispose();
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'eas (TensorFlow.js Layers format)',
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: [CHECKPOINT_FILES.weights], weights: specs }],
    userDefinedMetadata: { eas: { modelOptions, space: 'densenet' } },
  };
  return publishDirAtomic(dir, (tmp) => {
    fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.weights), Buffer.concat(chunks));
    fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.model), JSON.stringify(modelJson));
    fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.arch), JSON.stringify(net, null, 2) + '\n');
    fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.meta), JSON.stringify(meta, null, 2) + '\n');
  });
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? String(err)})`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(file, `is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

const ModelJsonSchema = z
  .object({
    modelTopology: z.record(z.string(), z.unknown()),
    weightsManifest: z.array(
      z.object({ paths: z.array(z.string().min(1)).nonempty(), weights: z.array(z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()), dtype: z.string() }).passthrough()) }).passthrough(),
    ),
    userDefinedMetadata: z.object({ eas: z.object({ modelOptions: ModelOptionsSchema }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();

/** Whether a checkpoint directory holds a DenseNet (its arch.json says `"space": "densenet"`). */
export function isDenseCheckpoint(dir: string): boolean {
  const file = path.join(dir, CHECKPOINT_FILES.arch);
  if (!fs.existsSync(file)) return false;
  const raw = readJson(file);
  return typeof raw === 'object' && raw !== null && (raw as { space?: unknown }).space === 'densenet';
}

/** Load a checkpoint written by saveDenseNetwork; a missing, corrupt or inconsistent file → CheckpointError naming it. */
export function loadDenseNetwork(dir: string): LoadedDenseNetwork {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CheckpointError(dir, 'checkpoint directory is missing');
  const archFile = path.join(dir, CHECKPOINT_FILES.arch);
  const modelFile = path.join(dir, CHECKPOINT_FILES.model);
  let net: DenseNet;
  try {
    net = validateDenseNet(readJson(archFile));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(archFile, `is not a valid DenseNet: ${(err as Error).message}`, { cause: err });
  }
  const parsed = ModelJsonSchema.safeParse(readJson(modelFile));
  if (!parsed.success) throw new CheckpointError(modelFile, `is not a TensorFlow.js Layers model.json: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const expected = new Map(denseWeightSpecs(net).map((w) => [w.name, w.shape]));
  const weights: Weights = {};
  for (const group of parsed.data.weightsManifest) {
    const files = group.paths.map((p) => path.join(dir, p));
    let data: Buffer;
    try {
      data = Buffer.concat(files.map((f) => fs.readFileSync(f)));
    } catch (err) {
      throw new CheckpointError(files.join(' + '), `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
    }
    const needed = group.weights.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
    if (data.length !== needed) throw new CheckpointError(files.join(' + '), `is ${data.length} bytes but the manifest in ${CHECKPOINT_FILES.model} needs ${needed}`);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32') throw new CheckpointError(modelFile, `weight ${spec.name} has dtype ${spec.dtype}; only float32 is supported`);
      if (!expected.has(spec.name)) throw new CheckpointError(modelFile, `weight "${spec.name}" is not a weight of the network in ${CHECKPOINT_FILES.arch}`);
      if (weights[spec.name]) throw new CheckpointError(modelFile, `weight "${spec.name}" appears twice in the manifest`);
      const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
      const values = new Float32Array(bytes / 4);
      new Uint8Array(values.buffer).set(data.subarray(offset, offset + bytes));
      weights[spec.name] = { shape: [...spec.shape], data: values };
      offset += bytes;
    }
  }
  try {
    validateDenseWeights(net, weights);
  } catch (err) {
    throw new CheckpointError(modelFile, `weights do not match ${CHECKPOINT_FILES.arch}: ${(err as Error).message}`, { cause: err });
  }
  const metaFile = path.join(dir, CHECKPOINT_FILES.meta);
  const meta = readJson(metaFile);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new CheckpointError(metaFile, 'must hold a JSON object');
  return { net, weights, meta: meta as NetworkMeta, modelOptions: parsed.data.userDefinedMetadata?.eas?.modelOptions ?? {} };
}
