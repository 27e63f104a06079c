import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { Arch } from '../arch';
import type { AnyNet } from '../space';
import { type ModelOptions, ModelOptionsSchema } from '../nn/model';
import { type WeightSpec, buildTopologyModelOf, tfjsWeightName, validateWeightsFor } from '../nn/network';
import type { Weights } from '../nn/weights';
import { type StoredNetSpace, storedSpaceOfNet } from '../space/graphs';
import { publishDirAtomic } from '../util/atomic';

/**
 * A network checkpoint, of any search space, is a directory holding a standard TensorFlow.js Layers artifact (model.json
 * with modelTopology and weightsManifest, plus weights.bin: float32 little-endian, loadable by tf.loadLayersModel),
 * arch.json (the network: a plain Arch, or a DenseNet with `space: "densenet"`), and meta.json (caller's JSON
 * metadata). It is published atomically (temp dir, fsync, rename) and never overwritten. Everything here follows the
 * space's weight specs (src/nn/network.ts); the space is told by arch.json.
 */
export const CHECKPOINT_FILES = { model: 'model.json', weights: 'weights.bin', arch: 'arch.json', meta: 'meta.json' } as const;

export type NetworkMeta = Record<string, unknown>;

export type { AnyNet } from '../space';

export interface LoadedNetwork<N = AnyNet> {
  arch: N;
  /** The network's space (default settings: weights, graph, notation, key and parameter count). */
  space: StoredNetSpace;
  weights: Weights;
  meta: NetworkMeta;
  /** The model options recorded at save time (model.json userDefinedMetadata.eas.modelOptions). */
  modelOptions: ModelOptions;
}

export interface SaveOptions {
  /** Recorded in the topology (dropout, BatchNorm ε/momentum) and returned by loadNetwork. */
  model?: ModelOptions;
  /**
   * Runs once the weights are written, while they are flushed to disk (publishDirAtomic's `finish`): its result joins
   * `meta`; throwing abandons the save. The transform's preservation check runs here.
   */
  beforePublish?: () => NetworkMeta | Promise<NetworkMeta>;
}

/** A checkpoint file is missing, unreadable or inconsistent; `file` is its path. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint file ${file}: ${detail}`, options);
    this.name = 'CheckpointError';
  }
}

const WeightSpecSchema = z.object({ name: z.string(), shape: z.array(z.number().int().nonnegative()), dtype: z.string(), quantization: z.unknown().optional() }).passthrough();
const ModelJsonSchema = z
  .object({
    modelTopology: z.record(z.string(), z.unknown()),
    weightsManifest: z.array(z.object({ paths: z.array(z.string().min(1)).nonempty(), weights: z.array(WeightSpecSchema) }).passthrough()),
    format: z.string().optional(),
    userDefinedMetadata: z.object({ eas: z.object({ modelOptions: ModelOptionsSchema }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();
type ModelJson = z.infer<typeof ModelJsonSchema>;

const issues = (e: z.ZodError): string => e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');

/**
 * Save a network checkpoint to `dir` atomically. Returns false (and writes nothing) when `dir` already holds a finished
 * checkpoint: a retried save never overwrites an artifact.
 */
export async function saveNetwork(dir: string, net: unknown, weights: Weights, meta: NetworkMeta = {}, opts: SaveOptions = {}): Promise<boolean> {
  const space = storedSpaceOfNet(net);
  const weightSpecs = space.weightSpecs(net);
  validateWeightsFor(weightSpecs, weights);
  const modelOptions = ModelOptionsSchema.parse(opts.model ?? {});
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new Error('saveNetwork: meta must be a JSON object');
  const metaText = JSON.stringify(meta, null, 2);

  // Only the topology and the variable names come from the model; the weights are written from `weights` directly.
  const model = buildTopologyModelOf(space, net, modelOptions);
  let topology: unknown;
  const specs: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const chunks: Uint8Array[] = [];
  try {
    topology = model.toJSON(null, false);
    // Our names → tfjs's variable names, checked against the model so a change in tfjs naming cannot go unnoticed.
    const byVariable = new Map<string, string>();
    for (const spec of weightSpecs) {
      const variable = model.getLayer(spec.layer).weights[spec.index];
      const expected = tfjsWeightName(spec);
      if (variable?.originalName !== expected) throw new Error(`tfjs named weight ${spec.name} "${variable?.originalName}", expected "${expected}"`);
      byVariable.set(variable.originalName, spec.name);
    }
    for (const v of model.weights) {
      const name = byVariable.get(v.originalName);
      if (!name) throw new Error(`model variable ${v.originalName} has no counterpart in the weights`);
      const w = weights[name];
      specs.push({ name: v.originalName, shape: [...w.shape], dtype: 'float32' });
      chunks.push(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    }
  } finally {
    model.dispose();
  }
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'eas (TensorFlow.js Layers format)',
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: [CHECKPOINT_FILES.weights], weights: specs }],
    userDefinedMetadata: { eas: { modelOptions } },
  };
  const writeMeta = (tmp: string, text: string) => fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.meta), text + '\n');
  const before = opts.beforePublish;
  return publishDirAtomic(
    dir,
    (tmp) => {
      writeChunks(path.join(tmp, CHECKPOINT_FILES.weights), chunks);
      fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.model), JSON.stringify(modelJson));
      fs.writeFileSync(path.join(tmp, CHECKPOINT_FILES.arch), JSON.stringify(net, null, 2) + '\n');
      if (!before) writeMeta(tmp, metaText);
    },
    before &&
      (async (tmp) => {
        const extra = await before();
        if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error('saveNetwork: beforePublish must return a JSON object');
        writeMeta(tmp, JSON.stringify({ ...meta, ...extra }, null, 2));
      }),
  );
}

/** Write the weights' byte views one after another without first concatenating them (tens of MB for grown networks). */
function writeChunks(file: string, chunks: Uint8Array[]): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.byteLength) done += fs.writeSync(fd, chunk, done);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? 'missing' : `cannot be read (${code ?? String(err)})`, { cause: err });
  }
}

function readJson(file: string): unknown {
  const text = readFile(file).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(file, `is not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

/** Names of the layers that hold weights in a Layers topology (Conv2D, Dense, BatchNormalization). */
function weightedLayerNames(topology: Record<string, unknown>): string[] | undefined {
  // tfjs writes the model config itself; Keras-converted files wrap it in `model_config`.
  const config = (topology.model_config ?? topology) as { config?: { layers?: { class_name?: string; config?: { name?: string } }[] } };
  const layers = config.config?.layers;
  if (!Array.isArray(layers)) return undefined;
  return layers.filter((l) => l.class_name === 'Conv2D' || l.class_name === 'Dense' || l.class_name === 'BatchNormalization').map((l) => String(l.config?.name));
}

function decodeWeights(modelFile: string, dir: string, manifest: ModelJson['weightsManifest'], weightSpecs: readonly WeightSpec[]): Weights {
  const toOurs = new Map(weightSpecs.map((s) => [tfjsWeightName(s), s.name]));
  const weights: Weights = {};
  for (const group of manifest) {
    const files = group.paths.map((p) => path.join(dir, p));
    const buffers = files.map(readFile);
    const data = Buffer.concat(buffers);
    const where = files.join(' + ');
    let needed = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32' || spec.quantization !== undefined) throw new CheckpointError(modelFile, `weight ${spec.name} has dtype ${spec.dtype}${spec.quantization ? ' (quantized)' : ''}; only float32 is supported`);
      needed += spec.shape.reduce((a, b) => a * b, 1) * 4;
    }
    if (data.length < needed) throw new CheckpointError(where, `is ${data.length} bytes but the manifest in ${CHECKPOINT_FILES.model} needs ${needed} (truncated?)`);
    if (data.length > needed) throw new CheckpointError(where, `is ${data.length} bytes but the manifest in ${CHECKPOINT_FILES.model} accounts for only ${needed} (${data.length - needed} extra bytes)`);
    let offset = 0;
    for (const spec of group.weights) {
      const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4;
      const ours = toOurs.get(spec.name);
      if (!ours) throw new CheckpointError(modelFile, `weight "${spec.name}" is not a weight of the network in ${CHECKPOINT_FILES.arch}`);
      if (weights[ours]) throw new CheckpointError(modelFile, `weight "${spec.name}" appears twice in the manifest`);
      // Copy into a fresh, aligned buffer (Float32Array views need 4-byte alignment).
      const values = new Float32Array(bytes / 4);
      new Uint8Array(values.buffer).set(data.subarray(offset, offset + bytes));
      weights[ours] = { shape: [...spec.shape], data: values };
      offset += bytes;
    }
  }
  return weights;
}

/** Load a checkpoint written by saveNetwork; any missing, corrupt or inconsistent file → CheckpointError naming it. */
export function loadNetwork(dir: string): LoadedNetwork {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CheckpointError(dir, 'checkpoint directory is missing');
  const archFile = path.join(dir, CHECKPOINT_FILES.arch);
  const modelFile = path.join(dir, CHECKPOINT_FILES.model);
  const metaFile = path.join(dir, CHECKPOINT_FILES.meta);

  const raw = readJson(archFile);
  const space = storedSpaceOfNet(raw);
  const archParsed = space.netSchema.safeParse(raw);
  if (!archParsed.success) throw new CheckpointError(archFile, `is not a valid ${space.kind} network: ${issues(archParsed.error)}`);
  let weightSpecs: WeightSpec[];
  const arch = archParsed.data as AnyNet;
  try {
    space.validate(arch);
    weightSpecs = space.weightSpecs(arch);
  } catch (err) {
    throw new CheckpointError(archFile, `is not a valid ${space.kind} network: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const modelParsed = ModelJsonSchema.safeParse(readJson(modelFile));
  if (!modelParsed.success) throw new CheckpointError(modelFile, `is not a TensorFlow.js Layers model.json: ${issues(modelParsed.error)}`);
  const modelJson = modelParsed.data;

  const names = weightedLayerNames(modelJson.modelTopology);
  if (!names) throw new CheckpointError(modelFile, 'modelTopology has no config.layers list');
  const expectedNames = [...new Set(weightSpecs.map((s) => s.layer))];
  if (names.length !== expectedNames.length || !expectedNames.every((n) => names.includes(n))) {
    throw new CheckpointError(modelFile, `topology's weighted layers [${names.join(', ')}] do not match ${CHECKPOINT_FILES.arch}'s [${expectedNames.join(', ')}]`);
  }

  const weights = decodeWeights(modelFile, dir, modelJson.weightsManifest, weightSpecs);
  try {
    validateWeightsFor(weightSpecs, weights);
  } catch (err) {
    throw new CheckpointError(modelFile, `weights do not match ${CHECKPOINT_FILES.arch}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const meta = readJson(metaFile);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new CheckpointError(metaFile, 'must hold a JSON object');
  return { arch, space, weights, meta: meta as NetworkMeta, modelOptions: modelJson.userDefinedMetadata?.eas?.modelOptions ?? {} };
}

/** A plain network's checkpoint (CheckpointError naming arch.json when it holds another space's network). */
export function loadPlainNetwork(dir: string): LoadedNetwork<Arch> {
  const loaded = loadNetwork(dir);
  if (loaded.space.kind !== 'plain') throw new CheckpointError(path.join(dir, CHECKPOINT_FILES.arch), `holds a ${loaded.space.kind} network, expected a plain one`);
  return loaded as LoadedNetwork<Arch>;
}
