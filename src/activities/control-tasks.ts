import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { canonicalKey, parseNotation, toNotation } from '../arch';
import { initBackend } from '../backend';
import { CHECKPOINT_FILES, loadNetwork, saveNetwork } from '../checkpoint';
import { checkSearchConfig, datasetInputShape } from '../config/semantic';
import { ConfigError, denseSpaceOf } from '../config/search-config';
import { type Controller, SampleSchema, controllerFromCheckpoint, createController } from '../controller';
import { readCheckpoint, withSteps } from '../controller/checkpoint';
import { loadSplits } from '../data/protocol';
import { initWeights } from '../nn';
import { claimConfig, claimInputs } from '../store/inputs';
import { RunLayout, jobPaths } from '../store/layout';
import { networkRef } from '../store/network-ref';
import { inStore, toStore } from '../store/root';
import { ParentMoments, applyActions, maxAbsDiff as maxAbsLogitDiff, predictLogits } from '../transform';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic';
import { readJsonFile } from '../util/files';
import { Rng, deriveSeed } from '../util/rng';
import {
  type PrepareSearchOutput,
  PrepareSearchInputSchema,
  type SamplePolicyOutput,
  SamplePolicyInputSchema,
  type TransformOutput,
  TransformInputSchema,
  type UpdatePolicyOutput,
  UpdatePolicyInputSchema,
} from './contract';
import { splitsOptions } from './data';
import { DenseSampleSchema } from '../densenet/controller';
import { denseCanonicalKey } from '../densenet/analysis';
import { isDenseCheckpoint, loadDenseNetwork, saveDenseNetwork } from '../densenet/checkpoint';
import { predictDenseLogits } from '../densenet/model';
import { parseDenseNotation, toDenseNotation } from '../densenet/notation';
import { applyDenseActions } from '../densenet/transform';
import { initDenseWeights } from '../densenet/weights';
import { type DenseSearchController, createDenseController, denseControllerFromCheckpoint, readDensePolicy, saveDensePolicy } from '../densenet/search';
import { FunctionNotPreservedError, StoreFileError } from './errors';

/**
 * The control activities' CPU work (policy sampling, Net2Net transforms with their preservation check, policy updates,
 * the start network and the search's data probe), without Temporal: each task takes the run-store root of this host
 * and its activity input (paths relative to the root), and returns the activity output (paths relative to the root).
 * The control child process runs these; tests call them directly.
 */

/**
 * Images in a search's probe (a seeded sample of the training split); Net2Deeper's BatchNorm statistics come from the
 * parent's activations on the first PROBE_BATCH of them, computed once per parent and mapped onto every child
 * (MomentTracker). The identity BatchNorm is exact in inference mode whatever statistics it is given (moving
 * mean/variance and beta/gamma come from the same numbers), so the sample only sets where training-mode BatchNorm
 * starts and the first moving averages (momentum 0.9 replaces them within a few dozen steps): 16 images (16·h·w values
 * per conv channel) serve as well as more.
 */
export const PROBE_IMAGES = 256;
export const PROBE_BATCH = 16;
/**
 * Images of the preservation check (of the noise-free twin): a wrong remapping, split or BatchNorm changes the logits of
 * practically every input (the check compares to 1e-4 against activations of order 1), so one real image from the
 * probe catches it; the forward pass through the grown child (5×5 convs inserted at full resolution) is the costliest
 * part of a transform, so every image counts.
 */
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

export interface TaskInput<T> {
  /** The run-store root on this host (absolute). */
  root: string;
  input: T;
}

const TaskEnvelope = z.object({ root: z.string().min(1), input: z.unknown() });

const parseEnvelope = <S extends z.ZodType>(schema: S, raw: unknown, what: string): { root: string; input: z.infer<S> } => {
  const env = TaskEnvelope.parse(raw);
  const r = schema.safeParse(env.input);
  if (!r.success) throw new ConfigError(`${what} input`, r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  return { root: env.root, input: r.data };
};

const log = (m: string) => process.env.EAS_DEBUG && console.error(m);

/** Creates (or checks) the search's folder: config.json, the untrained start network, and the data probe. */
export async function prepareSearchTask(raw: unknown): Promise<PrepareSearchOutput> {
  const { root, input } = parseEnvelope(PrepareSearchInputSchema, raw, 'prepareSearch');
  const { searchId, config } = input;
  checkSearchConfig(config);
  if (!searchId || searchId.includes('/') || searchId.includes('\\') || searchId === '.' || searchId === '..') {
    throw new ConfigError('prepareSearch input', [{ path: 'searchId', message: `"${searchId}" cannot name a folder in the run store` }]);
  }
  const runDir = path.join(root, searchId);
  const layout = new RunLayout(runDir);
  fs.mkdirSync(runDir, { recursive: true });
  claimConfig(layout.config(), config);
  await initBackend({ log });

  const dataSeed = deriveSeed(config.seed, 'data');
  await makeProbe(layout, config.dataset, dataSeed);

  const init = jobPaths(layout.start()).init;
  const dense = denseSpaceOf(config);
  if (dense && 'notation' in config.startNet) {
    // DenseNet search: the start net in the DenseNet notation, its checkpoint says `space: densenet`.
    claimInputs(init, { startNet: config.startNet.notation, input: datasetInputShape(config.dataset), searchSpace: config.searchSpace, seed: config.seed }, 'the start network');
    if (!fs.existsSync(init)) {
      const net = parseDenseNotation(config.startNet.notation, datasetInputShape(config.dataset), dense.bottleneckFactor);
      await saveDenseNetwork(init, net, initDenseWeights(net, Rng.fromSeed(deriveSeed(config.seed, 'start-init'))), { origin: 'notation' });
    }
    return { runDir: searchId, start: networkRef(root, 'start', init), startEpochs: config.startNet.epochs };
  }
  if ('notation' in config.startNet) {
    claimInputs(init, { startNet: config.startNet.notation, input: datasetInputShape(config.dataset), space: config.space, seed: config.seed }, 'the start network');
    if (!fs.existsSync(init)) {
      const arch = parseNotation(config.startNet.notation, datasetInputShape(config.dataset), config.space);
      await saveNetwork(init, arch, initWeights(arch, Rng.fromSeed(deriveSeed(config.seed, 'start-init'))), { origin: 'notation' });
    }
    return { runDir: searchId, start: networkRef(root, 'start', init), startEpochs: config.startNet.epochs };
  }
  claimInputs(init, { startNet: config.startNet.checkpoint }, 'the start network');
  if (!fs.existsSync(init)) {
    // The checkpoint must be of the search's space (a DenseNet checkpoint's arch.json says `space: "densenet"`).
    const isDense = isDenseCheckpoint(config.startNet.checkpoint);
    if (isDense !== (dense !== null)) {
      throw new ConfigError('startNet.checkpoint', [{ path: 'startNet.checkpoint', message: `${config.startNet.checkpoint} is a ${isDense ? 'DenseNet' : 'plain'} network but searchSpace.kind is "${config.searchSpace.kind}"` }]);
    }
    if (isDense) {
      const given = loadDenseNetwork(config.startNet.checkpoint);
      await saveDenseNetwork(init, given.net, given.weights, { ...given.meta, origin: config.startNet.checkpoint }, { model: given.modelOptions });
    } else {
      const given = loadNetwork(config.startNet.checkpoint);
      await saveNetwork(init, given.arch, given.weights, { ...given.meta, origin: config.startNet.checkpoint }, { model: given.modelOptions });
    }
  }
  const meta = readJsonFile(path.join(init, CHECKPOINT_FILES.meta), StartMetaSchema, 'start network meta', StoreFileError);
  return { runDir: searchId, start: networkRef(root, 'start', init, meta.accuracy ?? null), startEpochs: 0 };
}

/**
 * The search's data probe, computed once: the training split's normalisation statistics and PROBE_IMAGES seeded
 * training images, normalised. Transforms read it instead of loading the dataset and recomputing the statistics.
 */
async function makeProbe(layout: RunLayout, dataset: Parameters<typeof splitsOptions>[0], dataSeed: number): Promise<void> {
  const { meta, images } = layout.probe();
  claimInputs(meta, { dataset, dataSeed, images: PROBE_IMAGES }, 'the data probe');
  if (fs.existsSync(meta) && fs.existsSync(images)) return;
  const splits = await loadSplits(splitsOptions(dataset, 'search', dataSeed));
  const order = splits.train.epochOrder(Rng.fromSeed(deriveSeed(dataSeed, 'probe')));
  const take = order.subarray(0, Math.min(PROBE_IMAGES, order.length));
  const b = splits.train.makeBatch(take);
  writeFileAtomic(images, new Uint8Array(b.x.buffer, b.x.byteOffset, b.x.byteLength));
  const record: ProbeMeta = { dataset: splits.dataset, normalization: splits.normalization, trainImages: splits.train.rows.length, shape: splits.train.shape, count: take.length };
  writeJsonAtomic(meta, record);
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

const SamplesFileSchema = z.object({ stage: z.number(), episode: z.number(), seed: z.number(), samples: z.array(SampleSchema) });
// What the control tasks read back from files they (or an earlier attempt, maybe on another host) wrote.
const StartMetaSchema = z.object({ accuracy: z.number().nullable().optional() }).passthrough();
const TransformMetaSchema = z.object({ maxAbsDiff: z.number() }).passthrough();
const PolicySummarySchema = z.object({ updates: z.number().int(), baseline: z.number(), meanReward: z.number() }).passthrough();

type ControllerInput = z.infer<typeof SamplePolicyInputSchema>['controller'];

/** A fresh policy from its seed, or the latest checkpoint; either samples `steps` (the current stage's). */
function openController(policy: string | null, controller: ControllerInput, space: z.infer<typeof SamplePolicyInputSchema>['space'], policySeed: number, steps?: { widerSteps: number; deeperSteps: number }): Controller {
  if (policy) {
    const ckpt = readCheckpoint(policy);
    return controllerFromCheckpoint(steps ? withSteps(ckpt, steps) : ckpt);
  }
  const { kind, ...cfg } = controller;
  return createController(steps ? { ...cfg, ...steps } : cfg, space, policySeed, kind);
}

/** Samples an episode's networks from the policy; the samples file is written once and returned on every retry. */
export async function samplePolicyTask(raw: unknown): Promise<SamplePolicyOutput> {
  const { root, input } = parseEnvelope(SamplePolicyInputSchema, raw, 'samplePolicy');
  const layout = new RunLayout(inStore(root, input.runDir));
  const file = layout.samples(input.stage, input.episode);
  const { storageRoot: _root, runDir: _dir, stage: _s, episode: _e, ...determining } = input;
  claimInputs(file, determining, `the samples of stage ${input.stage + 1} episode ${input.episode}`);
  if (input.dense) return sampleDenseTask(root, input, file);
  if (!fs.existsSync(file)) {
    await initBackend({ log });
    // Through the same cache as the transforms, which load this network next on this process.
    const startDir = inStore(root, input.start);
    const start = cachedRead(path.join(startDir, CHECKPOINT_FILES.weights), `network ${startDir}`, () => loadNetwork(startDir)).arch;
    const steps = { widerSteps: input.widerSteps, deeperSteps: input.deeperSteps };
    const controller = openController(input.policy && inStore(root, input.policy), input.controller, input.space, input.policySeed, steps);
    try {
      const samples = controller.sample(start, input.n, input.seed);
      writeJsonAtomic(file, { stage: input.stage, episode: input.episode, seed: input.seed, samples });
    } finally {
      controller.dispose();
    }
  }
  const { samples } = readJsonFile(file, SamplesFileSchema, 'episode samples', StoreFileError);
  return {
    samplesFile: toStore(root, file),
    candidates: samples.map((s, index) => ({ index, actions: s.actions, notation: toNotation(s.arch), key: canonicalKey(s.arch) })),
  };
}

/** A DenseNet search's controller: the latest checkpoint, or a fresh one from the search's policy seed. */
function openDenseController(root: string, policy: string | null, controller: ControllerInput, space: NonNullable<z.infer<typeof SamplePolicyInputSchema>['dense']>, policySeed: number): DenseSearchController {
  if (policy) return denseControllerFromCheckpoint(readDensePolicy(inStore(root, policy)));
  const { kind, ...cfg } = controller;
  return createDenseController(kind, cfg, space, policySeed);
}

/** samplePolicy in the DenseNet space: the RL policy over the DenseView tokens and masks, or the random twin. */
async function sampleDenseTask(root: string, input: z.infer<typeof SamplePolicyInputSchema>, file: string): Promise<SamplePolicyOutput> {
  const space = input.dense!;
  if (!fs.existsSync(file)) {
    await initBackend({ log });
    const start = loadDenseNetwork(inStore(root, input.start)).net;
    const controller = openDenseController(root, input.policy, input.controller, space, input.policySeed);
    try {
      const samples = controller.sample(start, input.n, input.seed, { widerSteps: input.widerSteps, deeperSteps: input.deeperSteps });
      writeJsonAtomic(file, { stage: input.stage, episode: input.episode, seed: input.seed, samples });
    } finally {
      controller.dispose();
    }
  }
  const { samples } = readJsonFile(file, DenseSamplesFileSchema, 'episode samples', StoreFileError);
  return {
    samplesFile: toStore(root, file),
    candidates: samples.map((s, index) => ({ index, actions: s.actions, notation: toDenseNotation(s.net, space.bottleneckFactor), key: denseCanonicalKey(s.net) })),
  };
}

const DenseSamplesFileSchema = z.object({ stage: z.number(), episode: z.number(), seed: z.number(), samples: z.array(DenseSampleSchema) });

/** transformCandidate in the DenseNet space: Eq. 4 widening and layer insertion, checked without noise like plain nets. */
async function transformDenseTask(root: string, input: z.infer<typeof TransformInputSchema>, output: string, checkBatch: tf.Tensor4D): Promise<TransformOutput> {
  const space = input.dense!;
  const parent = loadDenseNetwork(inStore(root, input.start));
  const apply = (noise: number) =>
    applyDenseActions(parent.net, parent.weights, input.actions, space, Rng.fromSeed(input.seed), { split: input.transform.wider.split, noise });
  const noise = input.transform.wider.noise;
  // Noise has its own random stream (applyDenseActions), so `exact` is the saved child without its noise.
  const exact = apply(0);
  const a = predictDenseLogits(parent.net, parent.weights, checkBatch, parent.modelOptions);
  const maxAbsDiff = maxAbsLogitDiff(a, predictDenseLogits(exact.net, exact.weights, checkBatch, parent.modelOptions));
  if (!(maxAbsDiff <= input.tolerance)) {
    throw new FunctionNotPreservedError(`${input.name}: the transformed DenseNet (without noise) differs from its parent by ${maxAbsDiff} (> ${input.tolerance}) in its logits`);
  }
  const child = noise > 0 ? apply(noise) : exact;
  await saveDenseNetwork(output, child.net, child.weights, { parent: input.start, actions: input.actions, maxAbsDiff, transform: input.transform }, { model: parent.modelOptions });
  return { network: networkRef(root, input.name, output), maxAbsDiff };
}

/**
 * The last few parents, probes and what is derived from them (the parent's activation moments and logits) this process
 * read, by path and modification time (two parents' worth): an episode's transforms all start from the same network
 * and read the same probe, and a published checkpoint is never rewritten in place (a new one gets a new mtime).
 * Transforms never modify their parent (applyActions works on copies).
 */
const recent = new Map<string, { mtimeMs: number; value: unknown }>();
function cachedRead<T>(file: string, key: string, read: () => T): T {
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch {
    return read(); // missing or unreadable: the reader's own error names the file
  }
  const hit = recent.get(key);
  if (hit && hit.mtimeMs === mtimeMs) return hit.value as T;
  const value = read();
  recent.delete(key);
  recent.set(key, { mtimeMs, value });
  while (recent.size > 8) recent.delete(recent.keys().next().value!);
  return value;
}

/** The preservation figure a transform recorded in the meta of the network it published. */
function publishedMaxAbsDiff(output: string): number {
  return readJsonFile(path.join(output, CHECKPOINT_FILES.meta), TransformMetaSchema, 'transformed network meta', StoreFileError).maxAbsDiff;
}

/** Applies the sampled actions to the stage's start network, verifies the child computes the same function, saves it. */
export async function transformCandidateTask(raw: unknown): Promise<TransformOutput> {
  const { root, input } = parseEnvelope(TransformInputSchema, raw, 'transformCandidate');
  const output = inStore(root, input.output);
  const { storageRoot: _root, name: _name, ...determining } = input;
  claimInputs(output, determining, `the transformed network ${input.name}`);
  if (fs.existsSync(output)) return { network: networkRef(root, input.name, output), maxAbsDiff: publishedMaxAbsDiff(output) };
  await initBackend({ log });
  // A DenseNet parent is loaded by transformDenseTask; the plain one here.
  const parentDir = inStore(root, input.start);
  const runDir = inStore(root, input.runDir);
  const parent = input.dense ? undefined : cachedRead(path.join(parentDir, CHECKPOINT_FILES.weights), `network ${parentDir}`, () => loadNetwork(parentDir));
  const probe = cachedRead(new RunLayout(runDir).probe().images, `probe ${runDir}`, () => readProbe(runDir));
  const [h, w, c] = probe.meta.shape;
  const per = h * w * c;
  const n = Math.min(PROBE_BATCH, probe.meta.count);
  const batch = tf.tensor4d(probe.images.subarray(0, n * per), [n, h, w, c]);
  // The check always reads the probe's first images, so the parent's logits on them are computed once per parent.
  const checkCount = Math.min(CHECK_BATCH, probe.meta.count);
  const checkBatch = tf.tensor4d(probe.images.subarray(0, checkCount * per), [checkCount, h, w, c]);
  try {
    if (!parent) return await transformDenseTask(root, input, output, checkBatch);
    // One application yields the configured (noisy) child and its noise-free twin: the same remappings, splits and
    // BatchNorm statistics (the parent's moments on PROBE_BATCH images, mapped onto the child). The authors'
    // symmetry-breaking noise changes the function by design, so preservation is checked on the twin, on CHECK_BATCH
    // images; the saved child is the noisy one.
    const parentMoments = cachedRead(path.join(parentDir, CHECKPOINT_FILES.weights), `moments ${parentDir} ${n}`, () => ParentMoments.compute(parent.arch, parent.weights, batch, parent.modelOptions.bnEpsilon));
    const child = applyActions(parent.arch, parent.weights, input.actions, {
      space: input.space,
      rng: Rng.fromSeed(input.seed),
      batch,
      parentMoments,
      wider: input.transform.wider,
      deeper: input.transform.deeper,
      bnEpsilon: parent.modelOptions.bnEpsilon,
    });
    // The check runs while the written child is flushed to disk, and a child that fails it is never published.
    let maxAbsDiff = NaN;
    const check = () => {
      const parentLogits = cachedRead(path.join(parentDir, CHECKPOINT_FILES.weights), `logits ${parentDir} ${checkCount}`, () => predictLogits(parent, checkBatch, parent.modelOptions));
      maxAbsDiff = maxAbsLogitDiff(parentLogits, predictLogits({ arch: child.arch, weights: child.exact }, checkBatch, parent.modelOptions));
      if (!(maxAbsDiff <= input.tolerance)) {
        throw new FunctionNotPreservedError(`${input.name}: the transformed network (without noise) differs from its parent by ${maxAbsDiff} (> ${input.tolerance}) in its logits`);
      }
      return { maxAbsDiff };
    };
    const published = await saveNetwork(output, child.arch, child.weights, { parent: input.start, actions: input.actions, transform: input.transform }, { model: parent.modelOptions, beforePublish: check });
    // Another attempt published first (its check passed): report that artifact's figure.
    if (!published) maxAbsDiff = publishedMaxAbsDiff(output);
    return { network: networkRef(root, input.name, output), maxAbsDiff };
  } finally {
    batch.dispose();
    checkBatch.dispose();
  }
}

/** One REINFORCE update from an episode; the next policy checkpoint is written once and returned on every retry. */
export async function updatePolicyTask(raw: unknown): Promise<UpdatePolicyOutput> {
  const { root, input } = parseEnvelope(UpdatePolicyInputSchema, raw, 'updatePolicy');
  const output = inStore(root, input.output);
  const summaryFile = `${output}.summary.json`;
  const { storageRoot: _root, ...determining } = input;
  claimInputs(output, determining, 'this policy checkpoint');
  if (!fs.existsSync(output) || !fs.existsSync(summaryFile)) {
    await initBackend({ log });
    const samplesFile = inStore(root, input.samplesFile);
    if (input.dense) {
      const { samples: dense } = readJsonFile(samplesFile, DenseSamplesFileSchema, 'episode samples', StoreFileError);
      if (dense.length !== input.accuracies.length) throw new ConfigError(samplesFile, [{ path: 'accuracies', message: `${input.accuracies.length} accuracies for ${dense.length} samples` }]);
      const controller = openDenseController(root, input.policy, input.controller, input.dense, input.policySeed);
      try {
        const stats = controller.update(dense, input.accuracies);
        saveDensePolicy(output, controller.checkpoint());
        writeJsonAtomic(summaryFile, { updates: stats.updates, baseline: stats.baseline, meanReward: stats.meanReward, rewards: stats.rewards, advantages: stats.advantages, loss: stats.loss, entropy: stats.entropy });
      } finally {
        controller.dispose();
      }
    } else {
      const { samples } = readJsonFile(samplesFile, SamplesFileSchema, 'episode samples', StoreFileError);
      if (samples.length !== input.accuracies.length) throw new ConfigError(samplesFile, [{ path: 'accuracies', message: `${input.accuracies.length} accuracies for ${samples.length} samples` }]);
      const controller = openController(input.policy && inStore(root, input.policy), input.controller, input.space, input.policySeed);
      try {
        const stats = controller.update(samples, input.accuracies);
        controller.save(output);
        writeJsonAtomic(summaryFile, { updates: stats.updates, baseline: stats.baseline, meanReward: stats.meanReward, rewards: stats.rewards, advantages: stats.advantages, loss: stats.loss, entropy: stats.entropy });
      } finally {
        controller.dispose();
      }
    }
  }
  const s = readJsonFile(summaryFile, PolicySummarySchema, 'policy update summary', StoreFileError);
  return { policy: toStore(root, output), updates: s.updates, baseline: s.baseline, meanReward: s.meanReward };
}

/** The tasks the control child serves, by activity name. */
export const CONTROL_TASKS = {
  prepareSearch: prepareSearchTask,
  samplePolicy: samplePolicyTask,
  transformCandidate: transformCandidateTask,
  updatePolicy: updatePolicyTask,
} as const;
export type ControlTaskName = keyof typeof CONTROL_TASKS;
