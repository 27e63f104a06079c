import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { initBackend } from '../../backend';
import { CHECKPOINT_FILES, loadNetwork, saveNetwork } from '../../checkpoint';
import { checkSearchConfig, datasetInputShape } from '../../config/semantic';
import { ConfigError, type DatasetConfig } from '../../config/search-config';
import { loadSplits } from '../../data/protocol';
import { initWeightsFor } from '../../nn/network';
import { networkSpaceOf } from '../../space/networks';
import { claimConfig, claimInputs } from '../../store/inputs';
import { RunLayout, jobPaths } from '../../store/layout';
import { networkRef } from '../../store/network-ref';
import { PROBE_IMAGES, type ProbeMeta, hasProbe, writeProbe } from '../../store/probe';
import { readJsonFile } from '../../util/files';
import { Rng, deriveSeed } from '../../util/rng';
import { type PrepareSearchOutput, PrepareSearchInputSchema } from '../contract';
import { splitsOptions } from '../data';
import { StoreFileError } from '../errors';
import { log, parseEnvelope } from './envelope';

const StartMetaSchema = z.object({ accuracy: z.number().nullable().optional() }).passthrough();

/** Creates (or checks) the search's folder: config.json, the untrained start network in the search's space, the data probe. */
export async function prepareSearchTask(raw: unknown): Promise<PrepareSearchOutput> {
  const { root, input } = parseEnvelope(PrepareSearchInputSchema, raw, 'prepareSearch');
  const { searchId, config } = input;
  checkSearchConfig(config);
  if (!searchId || searchId.includes('/') || searchId.includes('\\') || searchId === '.' || searchId === '..') {
    throw new ConfigError('prepareSearch input', [{ path: 'searchId', message: `"${searchId}" cannot name a folder in the run store` }]);
  }
  const runDir = path.join(root, searchId);
  fs.mkdirSync(runDir, { recursive: true });
  claimConfig(new RunLayout(runDir).config(), config);
  await initBackend({ log });
  await makeProbe(runDir, config.dataset, deriveSeed(config.seed, 'data'));

  const init = jobPaths(new RunLayout(runDir).start()).init;
  const space = networkSpaceOf(config.searchSpace, { poolMaxSize: config.controller.poolMaxSize });
  if ('notation' in config.startNet) {
    const inputShape = datasetInputShape(config.dataset);
    claimInputs(init, { startNet: config.startNet.notation, input: inputShape, searchSpace: config.searchSpace, seed: config.seed }, 'the start network');
    if (!fs.existsSync(init)) {
      const net = space.parse(config.startNet.notation, inputShape);
      await saveNetwork(init, net, initWeightsFor(space.weightSpecs(net), Rng.fromSeed(deriveSeed(config.seed, 'start-init'))), { origin: 'notation' });
    }
    return { runDir: searchId, start: networkRef(root, 'start', init), startEpochs: config.startNet.epochs };
  }
  claimInputs(init, { startNet: config.startNet.checkpoint }, 'the start network');
  if (!fs.existsSync(init)) {
    const given = loadNetwork(config.startNet.checkpoint);
    // The checkpoint must be of the search's space (a DenseNet checkpoint's arch.json says `space: "densenet"`).
    if (given.space.kind !== space.kind) {
      throw new ConfigError('startNet.checkpoint', [{ path: 'startNet.checkpoint', message: `${config.startNet.checkpoint} holds a ${given.space.kind} network but searchSpace.kind is "${space.kind}"` }]);
    }
    await saveNetwork(init, given.arch, given.weights, { ...given.meta, origin: config.startNet.checkpoint }, { model: given.modelOptions });
  }
  const meta = readJsonFile(path.join(init, CHECKPOINT_FILES.meta), StartMetaSchema, 'start network meta', StoreFileError);
  return { runDir: searchId, start: networkRef(root, 'start', init, meta.accuracy ?? null), startEpochs: 0 };
}

/** The search's data probe (src/store/probe.ts), computed once from the training split. */
async function makeProbe(runDir: string, dataset: DatasetConfig, dataSeed: number): Promise<void> {
  claimInputs(new RunLayout(runDir).probe().meta, { dataset, dataSeed, images: PROBE_IMAGES }, 'the data probe');
  if (hasProbe(runDir)) return;
  const splits = await loadSplits(splitsOptions(dataset, 'search', dataSeed));
  const order = splits.train.epochOrder(Rng.fromSeed(deriveSeed(dataSeed, 'probe')));
  const take = order.subarray(0, Math.min(PROBE_IMAGES, order.length));
  const b = splits.train.makeBatch(take);
  const record: ProbeMeta = { dataset: splits.dataset, normalization: splits.normalization, trainImages: splits.train.rows.length, shape: splits.train.shape, count: take.length };
  writeProbe(runDir, record, b.x);
}
