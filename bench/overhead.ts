/**
 * Orchestration overhead of a search: a real Temporal dev server, the real control worker (sampling, transforms with
 * preservation checks, policy updates, results) and a training worker whose training is a no-op (it publishes the
 * transformed network as "trained" with a deterministic pseudo-accuracy). Prints the overhead per candidate and its share
 * of one real epoch of the Table-1 start net on Fashion-MNIST.
 *
 *   npm run bench:overhead -- [--json] [--networks N] [--per-episode K] [--epoch-seconds S]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { findTemporalCli } from '../src/temporal/cli-path';
import { createControlWorker } from '../src/workers/control';
import { startOrAttachSearch } from '../src/search/client';
import { SEARCH_ATTRIBUTES } from '../src/workflows/definitions';
import { TrainNetworkInputSchema, type TrainNetworkInput, type TrainNetworkOutput } from '../src/activities/contract';
import { networkRef } from '../src/activities/control';
import { jobPaths } from '../src/store/layout';
import { deriveSeed } from '../src/util/seed';
import { runTrainJob } from '../src/train/process';
import { TABLE1_START, parseNotation } from '../src/arch';
import { initWeights } from '../src/nn';
import { saveNetwork } from '../src/checkpoint';
import { Rng } from '../src/util/rng';
import { initBackend } from '../src/backend';

const opts = new Command()
  .option('--json', 'one JSON object')
  .option('--networks <n>', 'networks per stage', (v) => Number(v), 24)
  .option('--per-episode <k>', 'networks per episode', (v) => Number(v), 8)
  .option('--epoch-seconds <s>', 'skip measuring the reference epoch; use this many seconds', (v) => Number(v))
  .parse()
  .opts<{ json?: boolean; networks: number; perEpisode: number; epochSeconds?: number }>();

/** The no-op training: the untrained child is "trained"; its accuracy is a deterministic draw from its name. */
async function trainNetwork(raw: TrainNetworkInput): Promise<TrainNetworkOutput> {
  const input = TrainNetworkInputSchema.parse(raw);
  const trained = jobPaths(input.jobDir).trained;
  if (!fs.existsSync(trained)) fs.cpSync(input.from, trained, { recursive: true });
  const accuracy = 0.5 + 0.4 * (((deriveSeed(1, input.name) >>> 0) % 1000) / 1000);
  return { network: networkRef(input.name, trained, accuracy), trainAccuracy: accuracy, loss: 1 - accuracy, epochs: input.epochs, diverged: false, resumedFromEpoch: 0 };
}

async function referenceEpochSeconds(dir: string): Promise<number> {
  await initBackend({ log: () => {} });
  const arch = parseNotation(TABLE1_START, [28, 28, 1]);
  const start = path.join(dir, 'ref-start');
  await saveNetwork(start, arch, initWeights(arch, Rng.fromSeed(1)));
  const t0 = performance.now();
  const r = await runTrainJob({ network: start, dataset: { name: 'fashion-mnist', seed: 1 }, mode: 'search', epochs: 1, seed: 1, workDir: path.join(dir, 'ref-work'), output: path.join(dir, 'ref-out') });
  const wall = (performance.now() - t0) / 1000;
  return Math.max(wall, r.seconds);
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-bench-overhead-'));
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: findTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES } });
  const name = `overhead-${Date.now()}`;
  const stages = [
    { networks: opts.networks, networksPerEpisode: opts.perEpisode, widerSteps: 4, deeperSteps: 5, epochs: 1, bestEpochs: 1 },
    { networks: opts.networks, networksPerEpisode: opts.perEpisode, widerSteps: 4, deeperSteps: 5, epochs: 1, bestEpochs: 0 },
  ];
  let searchSeconds: number;
  try {
    const control = await createControlWorker({ connection: env.nativeConnection, taskQueue: `${name}-control` });
    const train = await Worker.create({ connection: env.nativeConnection, taskQueue: `${name}-train`, activities: { trainNetwork }, maxConcurrentActivityTaskExecutions: 4 });
    const t0 = performance.now();
    await control.runUntil(
      train.runUntil(async () => {
        const { handle } = await startOrAttachSearch(env.client, {
          name,
          dataset: { name: 'fashion-mnist', validationSize: 5000 },
          startNet: { notation: TABLE1_START, epochs: 1 },
          stages,
          final: { topK: 2, epochs: 1 },
          seed: 1,
          storage: { root },
          taskQueues: { control: `${name}-control`, train: `${name}-train` },
        });
        await handle.result();
      }),
    );
    searchSeconds = (performance.now() - t0) / 1000;
  } finally {
    await env.teardown();
  }
  const candidates = stages.reduce((a, s) => a + s.networks, 0);
  const perCandidateMs = (searchSeconds * 1000) / candidates;
  const epochSeconds = opts.epochSeconds ?? (await referenceEpochSeconds(root));
  const out = {
    candidates,
    episodes: stages.reduce((a, s) => a + Math.ceil(s.networks / s.networksPerEpisode), 0),
    searchSeconds: +searchSeconds.toFixed(2),
    overheadPerCandidateMs: +perCandidateMs.toFixed(1),
    referenceEpochSeconds: +epochSeconds.toFixed(2),
    overheadShareOfOneEpoch: +(perCandidateMs / 1000 / epochSeconds).toFixed(4),
    note: 'per candidate: sampling, transform with a preservation check on 32 real images, Temporal round trips, policy update, results; training is a no-op',
  };
  if (opts.json) console.log(JSON.stringify(out));
  else {
    console.log(`${out.candidates} candidates (${out.episodes} episodes) in ${out.searchSeconds} s with no-op training`);
    console.log(`orchestration overhead: ${out.overheadPerCandidateMs} ms per candidate`);
    console.log(`= ${(out.overheadShareOfOneEpoch * 100).toFixed(2)}% of one Fashion-MNIST epoch of the start net (${out.referenceEpochSeconds} s)`);
  }
  fs.rmSync(root, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
