import { recipeFor } from '../../src/train/recipe';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { createControlActivities } from '../../src/activities/control';
import { splitsOptions } from '../../src/activities/data';
import type { CandidateRecord, NetworkRef } from '../../src/activities/contract';
import { type Action, type Arch, canonicalKey, parseNotation } from '../../src/arch';
import { PlainSpace, settingsOf } from '../../src/space';
import { loadPlainNetwork, saveNetwork } from '../../src/checkpoint';
import { type SearchConfig, SearchConfigSchema } from '../../src/config/search-config';
import { datasetInputShape } from '../../src/config/semantic';
import { loadSplits } from '../../src/data/protocol';
import { initWeights } from '../../src/nn';
import { RunLayout, candidateName, jobPaths } from '../../src/store/layout';
import { networkRef } from '../../src/store/network-ref';
import { executeTrainJob } from '../../src/train/job';
import { applyActions, verifyPreservation } from '../../src/transform';
import { writeJsonAtomic } from '../../src/util/atomic';
import { Rng } from '../../src/util/rng';
import { deriveSeed } from '../../src/util/seed';
import { tinySearchConfig } from './search';

/**
 * Builds a real, small run store the way the search workflow lays it out: a start network trained on the synthetic
 * dataset, stage 1 with two episodes of two candidates (one a repeat of an earlier architecture, reused as the workflow
 * does), the stage best trained longer, stage 2 from it, and the top networks trained on the full training set and
 * tested. Every network is transformed with the real Net2Wider/Net2Deeper code and trained for real; the records,
 * stage summaries and result.json are written by the activities' own recordStage/writeResult. Network dirs in the
 * records are relative to the run-store root, as the activities record them.
 */

export interface RunStoreOptions {
  root: string;
  id: string;
  controller?: 'rl' | 'random';
  seed?: number;
  /** false: stop in the middle of stage 2 (one candidate trained, one sampled only), with no result.json. */
  complete?: boolean;
}

export interface BuiltRunStore {
  root: string;
  id: string;
  runDir: string;
  config: SearchConfig;
  /** Every evaluated candidate, in sampling order. */
  candidates: CandidateRecord[];
  /** Sampled but not trained (in-progress stores only). */
  pendingNames: string[];
}

const wider = (...layers: string[]): Action => ({ type: 'wider', layers });
const deeper = (block: number, position: number, kernel?: number): Action => ({ type: 'deeper', block, position, ...(kernel !== undefined ? { kernel } : {}) });

/** Episodes per stage, each a list of candidates' actions. The third sample repeats the first (reused, not trained). */
function plan(controller: 'rl' | 'random'): Action[][][][] {
  const s1: Action[][][] =
    controller === 'rl'
      ? [
          [[wider('L2')], [wider('L0', 'L2'), deeper(2, 1)]],
          [[wider('L2')], [wider('L4'), deeper(0, 0, 3)]],
        ]
      : [
          [[wider('L0')], [deeper(1, 0, 5)]],
          [[wider('L0')], [wider('L2', 'L4')]],
        ];
  const s2: Action[][][] = [[[wider('L0')], [deeper(2, 1)]]];
  return [s1, s2];
}

export async function buildRunStore(opts: RunStoreOptions): Promise<BuiltRunStore> {
  const controller = opts.controller ?? 'rl';
  const complete = opts.complete ?? true;
  const config = SearchConfigSchema.parse(
    tinySearchConfig(opts.id, opts.root, {
      controller: { kind: controller },
      seed: opts.seed ?? 7,
      stages: [
        { networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 1 },
        { networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
      ],
      final: { topK: 2, epochs: 1 },
    }),
  );
  const runDir = path.join(opts.root, opts.id);
  const layout = new RunLayout(runDir);
  fs.mkdirSync(runDir, { recursive: true });
  writeJsonAtomic(layout.config(), config);
  const dataSeed = deriveSeed(config.seed, 'data');
  const dataset = { ...config.dataset, seed: dataSeed };

  // recordStage and writeResult run in the worker's own process: no control child is needed for them.
  const { recordStage, writeResult } = createControlActivities({ runner: { run: () => Promise.reject(new Error('no control child in this helper')) } });
  const inRoot = (dir: string) => path.resolve(opts.root, dir);
  const train = async (name: string, from: string, jobDir: string, mode: 'search' | 'final'): Promise<{ network: NetworkRef; diverged: boolean }> => {
    const { work, trained } = jobPaths(jobDir);
    const r = await executeTrainJob({ network: inRoot(from), dataset, mode, epochs: 1, recipe: recipeFor(config.training, mode === 'final' ? 'final' : 'candidates'), seed: deriveSeed(config.seed, 'train', name), workDir: work, output: trained, backend: config.backend });
    const accuracy = (mode === 'search' ? r.valAcc : r.testAcc) ?? null;
    const network = networkRef(opts.root, name, trained, accuracy);
    writeJsonAtomic(path.join(jobDir, 'outcome.json'), { network, trainAccuracy: r.trainAcc, loss: r.loss, epochs: r.epochs, diverged: false, resumedFromEpoch: 0 });
    return { network, diverged: false };
  };

  // Start network: from the paper's notation, freshly initialised, trained.
  const space = new PlainSpace(settingsOf(config.searchSpace)).settings;
  const arch: Arch = parseNotation((config.startNet as { notation: string }).notation, datasetInputShape(config.dataset), space);
  const startInit = jobPaths(layout.start()).init;
  await saveNetwork(startInit, arch, initWeights(arch, Rng.fromSeed(deriveSeed(config.seed, 'start-init'))), { origin: 'notation' });
  const start = (await train('start', startInit, layout.start(), 'search')).network;

  const splits = await loadSplits(splitsOptions(config.dataset, 'search', dataSeed));
  const order = splits.train.epochOrder(Rng.fromSeed(1));
  const b = splits.train.makeBatch(order.subarray(0, 16));

  const candidates: CandidateRecord[] = [];
  const pendingNames: string[] = [];
  let stageStart = start;
  const stagePlan = plan(controller);
  const batch = tf.tensor4d(b.x, b.shape);
  try {
    for (let stage = 0; stage < stagePlan.length; stage++) {
      const inStage: CandidateRecord[] = [];
      const byKey = new Map<string, CandidateRecord>();
      const parent = loadPlainNetwork(inRoot(stageStart.dir));
      for (let episode = 0; episode < stagePlan[stage].length; episode++) {
        const children = stagePlan[stage][episode].map((actions, index) => ({
          actions,
          index,
          net: applyActions(parent.arch, parent.weights, actions, { space, rng: Rng.fromSeed(deriveSeed(config.seed, 'transform', stage, episode, index)), batch }),
        }));
        writeJsonAtomic(layout.samples(stage, episode), { stage, episode, seed: 0, samples: children.map((c) => ({ actions: c.actions, net: c.net.arch, decisions: [] })) });
        for (const c of children) {
          const id = { stage, episode, index: c.index };
          const name = candidateName(id);
          const base = { name, stage, episode, index: c.index, parent: stageStart.name, actions: c.actions };
          if (!complete && stage === 1 && c.index === 1) {
            pendingNames.push(name);
            continue;
          }
          const key = canonicalKey(c.net.arch);
          const earlier = byKey.get(key);
          if (earlier) {
            const rec = { ...base, network: earlier.network, diverged: earlier.diverged, cachedFrom: earlier.name, maxAbsDiff: earlier.maxAbsDiff, failed: null };
            inStage.push(rec);
            continue;
          }
          const jobDir = layout.candidate(id);
          const maxAbsDiff = verifyPreservation(parent, c.net, batch, parent.modelOptions);
          await saveNetwork(jobPaths(jobDir).init, c.net.arch, c.net.weights, { parent: stageStart.dir, actions: c.actions, maxAbsDiff }, { model: parent.modelOptions });
          const trained = await train(name, jobPaths(jobDir).init, jobDir, 'search');
          const rec: CandidateRecord = { ...base, network: trained.network, diverged: trained.diverged, cachedFrom: null, maxAbsDiff, failed: null };
          inStage.push(rec);
          byKey.set(key, rec);
        }
      }
      candidates.push(...inStage);
      if (!complete && stage === 1) break;
      await recordStage({ storageRoot: opts.root, runDir: opts.id, stage, start: stageStart, candidates: inStage });
      if (stage === 0) {
        const best = inStage.filter((c) => !c.cachedFrom).sort((x, y) => (y.network.accuracy ?? 0) - (x.network.accuracy ?? 0))[0];
        const trained = await train('s1-best', best.network.dir, layout.stageBest(0), 'search');
        stageStart = { ...trained.network, name: 's1-best' };
      }
    }
  } finally {
    batch.dispose();
  }

  if (complete) {
    const last = candidates.filter((c) => c.stage === 1 && !c.cachedFrom).sort((x, y) => (y.network.accuracy ?? 0) - (x.network.accuracy ?? 0));
    const final = [];
    for (let rank = 0; rank < Math.min(config.final.topK, last.length); rank++) {
      const out = await train(`top-${rank + 1}`, last[rank].network.dir, layout.final(rank), 'final');
      final.push({ from: last[rank].name, network: out.network });
    }
    await writeResult({ runDir: opts.id, searchId: opts.id, config, start, stagesRecorded: 2, final, policyUpdates: 3, stopped: false });
  }
  return { root: opts.root, id: opts.id, runDir, config, candidates, pendingNames };
}
