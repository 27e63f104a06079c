import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { ApplicationFailure, log } from '@temporalio/activity';
import { ArchError, canonicalKey, paramCount, parseNotation, toNotation } from '../arch';
import { CheckpointError, loadNetwork, saveNetwork } from '../checkpoint';
import { datasetInputShape, checkSearchConfig } from '../config/semantic';
import { ConfigError } from '../config/search-config';
import { type Controller, SampleSchema, controllerFromCheckpoint, createController, readCheckpoint } from '../controller';
import { loadSplits } from '../data/protocol';
import { DataFileError } from '../data/types';
import { initWeights } from '../nn';
import { TransformError, applyActions, verifyPreservation } from '../transform';
import { initBackend } from '../backend';
import { RunLayout, jobPaths } from '../store/layout';
import { runDirFor } from '../store/root';
import { writeJsonAtomic } from '../util/atomic';
import { Rng, deriveSeed } from '../util/rng';
import { z } from 'zod';
import {
  type NetworkRef,
  type PrepareSearchInput,
  type PrepareSearchOutput,
  PrepareSearchInputSchema,
  type RecordStageInput,
  RecordStageInputSchema,
  type SamplePolicyInput,
  SamplePolicyInputSchema,
  type SamplePolicyOutput,
  type SearchResultSummary,
  type TransformInput,
  TransformInputSchema,
  type TransformOutput,
  type UpdatePolicyInput,
  UpdatePolicyInputSchema,
  type UpdatePolicyOutput,
  type WriteResultInput,
  WriteResultInputSchema,
  CandidateRecordSchema,
  NetworkRefSchema,
} from './contract';
import { splitsOptions } from './data';
import type { SearchResult } from '../store/result';

/** Bad configuration or data will not get better by retrying: fail the activity for good, with the message. */
export function nonRetryableFor(err: unknown): never {
  if (err instanceof ApplicationFailure) throw err;
  const type =
    err instanceof ConfigError ? 'ConfigError' : err instanceof ArchError || err instanceof TransformError ? 'ArchError' : err instanceof DataFileError ? 'DataFileError' : err instanceof CheckpointError || err instanceof z.ZodError ? 'BadInput' : undefined;
  if (type) throw ApplicationFailure.create({ message: (err as Error).message, type, nonRetryable: true, cause: err as Error });
  throw err;
}

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    return nonRetryableFor(err);
  }
}

export function networkRef(name: string, dir: string, accuracy: number | null = null): NetworkRef {
  const { arch } = loadNetwork(dir);
  return { name, dir, notation: toNotation(arch), key: canonicalKey(arch), params: paramCount(arch), accuracy };
}

/** Creates the run store for a search and its start network (untrained from notation, or copied from a checkpoint). */
export async function prepareSearch(raw: PrepareSearchInput): Promise<PrepareSearchOutput> {
  return guarded(async () => {
    const { searchId, config } = PrepareSearchInputSchema.parse(raw);
    checkSearchConfig(config);
    await initBackend({ log: (m) => log.info(m) });
    const runDir = runDirFor(config.storage.root, searchId);
    const layout = new RunLayout(runDir);
    fs.mkdirSync(runDir, { recursive: true });
    if (!fs.existsSync(layout.config())) writeJsonAtomic(layout.config(), config);
    const init = jobPaths(layout.start()).init;
    if ('notation' in config.startNet) {
      const arch = parseNotation(config.startNet.notation, datasetInputShape(config.dataset), config.space);
      await saveNetwork(init, arch, initWeights(arch, Rng.fromSeed(deriveSeed(config.seed, 'start-init'))), { origin: 'notation' });
      return { runDir, start: networkRef('start', init), startEpochs: config.startNet.epochs };
    }
    const given = loadNetwork(config.startNet.checkpoint);
    await saveNetwork(init, given.arch, given.weights, { ...given.meta, origin: config.startNet.checkpoint }, { model: given.modelOptions });
    const acc = typeof given.meta.accuracy === 'number' ? given.meta.accuracy : null;
    return { runDir, start: networkRef('start', init, acc), startEpochs: 0 };
  });
}

const SamplesFileSchema = z.object({ stage: z.number(), episode: z.number(), seed: z.number(), samples: z.array(SampleSchema) });

function openController(policy: string | null, input: { controller: SamplePolicyInput['controller']; space: SamplePolicyInput['space']; policySeed: number }): Controller {
  if (policy) return controllerFromCheckpoint(readCheckpoint(policy));
  const { kind, ...cfg } = input.controller;
  return createController(cfg, input.space, input.policySeed, kind);
}

/** Samples an episode's networks from the policy; the samples file is written once and returned on every retry. */
export async function samplePolicy(raw: SamplePolicyInput): Promise<SamplePolicyOutput> {
  return guarded(async () => {
    const input = SamplePolicyInputSchema.parse(raw);
    const layout = new RunLayout(input.runDir);
    const file = layout.samples(input.stage, input.episode);
    if (!fs.existsSync(file)) {
      await initBackend({ log: (m) => log.info(m) });
      const start = loadNetwork(input.start).arch;
      const controller = openController(input.policy, input);
      try {
        const samples = controller.sample(start, input.n, input.seed);
        writeJsonAtomic(file, { stage: input.stage, episode: input.episode, seed: input.seed, samples });
      } finally {
        controller.dispose();
      }
    }
    const { samples } = SamplesFileSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return {
      samplesFile: file,
      candidates: samples.map((s, index) => ({ index, actions: s.actions, notation: toNotation(s.arch), key: canonicalKey(s.arch) })),
    };
  });
}

/** Images from the training split, to check function preservation and to set Net2Deeper's BatchNorm statistics. */
async function realBatch(input: z.infer<typeof TransformInputSchema>, n = 32): Promise<tf.Tensor4D> {
  const splits = await loadSplits(splitsOptions(input.dataset, 'search', input.dataSeed));
  const rng = Rng.fromSeed(input.seed);
  const order = splits.train.epochOrder(rng);
  const take = order.subarray(0, Math.min(n, order.length));
  const b = splits.train.makeBatch(take);
  const [h, w, c] = splits.train.shape;
  return tf.tensor4d(b.x, [take.length, h, w, c]);
}

/** Applies the sampled actions to the stage's start network, verifies the child computes the same function, saves it. */
export async function transformCandidate(raw: TransformInput): Promise<TransformOutput> {
  return guarded(async () => {
    const input = TransformInputSchema.parse(raw);
    const metaFile = `${input.output}/meta.json`;
    if (fs.existsSync(input.output)) {
      const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { maxAbsDiff: number };
      return { network: networkRef(input.name, input.output), maxAbsDiff: meta.maxAbsDiff };
    }
    await initBackend({ log: (m) => log.info(m) });
    const parent = loadNetwork(input.start);
    const batch = await realBatch(input);
    try {
      const child = applyActions(parent.arch, parent.weights, input.actions, { space: input.space, rng: Rng.fromSeed(input.seed), batch, bnEpsilon: parent.modelOptions.bnEpsilon });
      const maxAbsDiff = verifyPreservation(parent, child, batch, parent.modelOptions);
      if (!(maxAbsDiff <= input.tolerance)) {
        throw ApplicationFailure.create({
          type: 'FunctionNotPreserved',
          nonRetryable: true,
          message: `${input.name}: the transformed network differs from its parent by ${maxAbsDiff} (> ${input.tolerance}) in its logits`,
        });
      }
      await saveNetwork(input.output, child.arch, child.weights, { parent: input.start, actions: input.actions, maxAbsDiff }, { model: parent.modelOptions });
      return { network: networkRef(input.name, input.output), maxAbsDiff };
    } finally {
      batch.dispose();
    }
  });
}

/** One REINFORCE update from an episode; the next policy checkpoint is written once and returned on every retry. */
export async function updatePolicy(raw: UpdatePolicyInput): Promise<UpdatePolicyOutput> {
  return guarded(async () => {
    const input = UpdatePolicyInputSchema.parse(raw);
    const summaryFile = `${input.output}.summary.json`;
    if (!fs.existsSync(input.output) || !fs.existsSync(summaryFile)) {
      await initBackend({ log: (m) => log.info(m) });
      const { samples } = SamplesFileSchema.parse(JSON.parse(fs.readFileSync(input.samplesFile, 'utf8')));
      if (samples.length !== input.accuracies.length) throw new ConfigError(input.samplesFile, [{ path: 'accuracies', message: `${input.accuracies.length} accuracies for ${samples.length} samples` }]);
      const controller = openController(input.policy, input);
      try {
        const stats = controller.update(samples, input.accuracies);
        controller.save(input.output);
        writeJsonAtomic(summaryFile, { updates: stats.updates, baseline: stats.baseline, meanReward: stats.meanReward, rewards: stats.rewards, advantages: stats.advantages, loss: stats.loss, entropy: stats.entropy });
      } finally {
        controller.dispose();
      }
    }
    const s = JSON.parse(fs.readFileSync(summaryFile, 'utf8')) as { updates: number; baseline: number; meanReward: number };
    return { policy: input.output, updates: s.updates, baseline: s.baseline, meanReward: s.meanReward };
  });
}

const StageSummarySchema = z.object({ stage: z.number(), start: NetworkRefSchema, candidates: z.array(CandidateRecordSchema) });

/** Writes a stage's summary to the run store, so the workflow can forget the stage's records. */
export async function recordStage(raw: RecordStageInput): Promise<string> {
  const input = RecordStageInputSchema.parse(raw);
  const file = new RunLayout(input.runDir).stageSummary(input.stage);
  if (!fs.existsSync(file)) writeJsonAtomic(file, { stage: input.stage, start: input.start, candidates: input.candidates });
  return file;
}

/** The search's result: every candidate with architecture, accuracy and lineage, the stage starts, the final networks. */
export async function writeResult(raw: WriteResultInput): Promise<SearchResultSummary> {
  const input = WriteResultInputSchema.parse(raw);
  const layout = new RunLayout(input.runDir);
  const stages = [];
  for (let s = 0; s < input.stagesRecorded; s++) {
    const file = layout.stageSummary(s);
    stages.push(StageSummarySchema.parse(JSON.parse(fs.readFileSync(file, 'utf8'))));
  }
  const candidates = stages.flatMap((s) => s.candidates);
  const best = candidates.filter((c) => !c.diverged && c.network.accuracy !== null).sort((a, b) => (b.network.accuracy ?? 0) - (a.network.accuracy ?? 0))[0]?.network ?? null;
  const bestFinal = [...input.final].sort((a, b) => (b.network.accuracy ?? 0) - (a.network.accuracy ?? 0))[0]?.network ?? null;
  const result: SearchResult = {
    searchId: input.searchId,
    dataset: input.config.dataset.name,
    controller: input.config.controller.kind,
    stopped: input.stopped,
    start: input.start,
    stages: stages.map((s) => ({ stage: s.stage + 1, start: s.start, candidates: s.candidates.length })),
    candidates,
    final: input.final,
    best,
    bestFinal,
    policyUpdates: input.policyUpdates,
    config: input.config,
  };
  writeJsonAtomic(layout.result(), result);
  return { resultFile: layout.result(), best, bestFinal, candidates: candidates.length, policyUpdates: input.policyUpdates };
}
