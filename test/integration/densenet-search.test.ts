import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { startDevServer, tempDir } from '../helpers/temporal';
import { policyCheckpoints } from '../helpers/search';
import { createControlWorker } from '../../src/workers/control';
import { createTrainWorker } from '../../src/workers/train';
import { startOrAttachSearch } from '../../src/cli/search-client';
import { loadSearchConfig } from '../../src/config/load';
import { SEARCH_ATTRIBUTES, progressQuery } from '../../src/workflows/definitions';
import { writeReport } from '../../src/report';
import { loadNetwork } from '../../src/checkpoint';
import { parseDenseNotation } from '../../src/densenet/notation';
import { denseDepth } from '../../src/densenet/analysis';
import type { DenseNet } from '../../src/densenet/schema';
import { parseCheckpoint } from '../../src/controller/checkpoint';

/*
 * The DenseNet-BC space end to end through a real Temporal dev server and real workers: configs/quickstart-densenet.yaml
 * (Fashion-MNIST, a tiny DenseNet-BC start net) with a smaller data limit, so it runs in a couple of minutes.
 */

let env: TestWorkflowEnvironment;
let root: string;

before(async () => {
  env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  root = tempDir('densenet-search');
});
after(async () => {
  await env?.teardown();
});

test('quickstart-densenet completes: every candidate is a trained DenseNet with its lineage, and the report renders', { timeout: 15 * 60_000 }, async () => {
  const name = `qs-densenet-${Date.now()}`;
  const base = loadSearchConfig(path.join(__dirname, '../../configs/quickstart-densenet.yaml'));
  const input = {
    ...base,
    name,
    dataset: { ...base.dataset, limit: { train: 800, test: 200 }, validationSize: 200 },
    storage: { root },
    taskQueues: { control: `${name}-control`, train: `${name}-train` },
  };
  const { handle, config } = await startOrAttachSearch(env.client, input);
  assert.equal(config.searchSpace.kind, 'densenet');
  const control = await createControlWorker({ connection: env.nativeConnection, taskQueue: `${name}-control` });
  const train = await createTrainWorker({ connection: env.nativeConnection, taskQueue: `${name}-train`, devices: ['cpu'] });
  const result = await control.runUntil(
    train.runUntil(async () => {
      const r = await handle.result();
      assert.equal((await handle.query(progressQuery)).phase, 'done');
      return r;
    }),
  );

  const runDir = path.join(root, name);
  // The space is in every artifact: the config, the start net and every candidate's checkpoint.
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')).searchSpace.kind, 'densenet');
  const saved = JSON.parse(fs.readFileSync(path.resolve(root, result.resultFile), 'utf8'));
  const planned = config.stages.reduce((a, s) => a + s.networks, 0);
  assert.equal(saved.candidates.length, planned);
  const start = parseDenseNotation(config.startNet && 'notation' in config.startNet ? config.startNet.notation : '', [28, 28, 1]);
  for (const c of saved.candidates) {
    assert.equal(c.failed, null, `${c.name} failed: ${JSON.stringify(c.failed)}`);
    assert.equal(c.parent, 'start', `lineage of ${c.name}`);
    assert.deepEqual(c.actions.map((a: { type: string }) => a.type), ['wider', 'deeper']);
    // The stem is re-widened to 2 × the mean growth rate after each step (the authors' widen_transition): 24 or more.
    assert.match(c.network.notation, /^C\((2[4-9]|[3-9]\d),3\), D\(/);
    assert.equal(typeof c.network.accuracy, 'number');
    assert.ok(c.network.accuracy >= 0 && c.network.accuracy <= 1);
    assert.ok(c.maxAbsDiff === null || c.maxAbsDiff <= 1e-3, `${c.name} preserved the function (|Δ| ${c.maxAbsDiff})`);
    const loaded = loadNetwork(path.resolve(root, c.network.dir));
    assert.equal(loaded.space.kind, 'densenet', `${c.name} is saved as a DenseNet`);
    const net = loaded.arch;
    // one Net2Deeper step: one more dense layer than the start net
    assert.equal(denseDepth(net as DenseNet), denseDepth(start) + 2);
    assert.ok(c.network.params > 0);
  }
  const episodes = Math.ceil(config.stages[0].networks / config.stages[0].networksPerEpisode);
  assert.equal(policyCheckpoints(runDir).length, episodes);
  // The RL meta-controller drove it: every policy checkpoint is the DenseNet policy's, one more update each.
  assert.equal(config.controller.kind, 'rl');
  const policies = policyCheckpoints(runDir).map((f) => parseCheckpoint(JSON.parse(fs.readFileSync(path.join(runDir, 'policy', f), 'utf8'))));
  assert.deepEqual(policies.map((p) => [p.kind, p.searchSpace.kind === 'densenet' ? p.searchSpace.growthRates : null]).sort(), policies.map(() => ['rl', [12, 16, 20, 24]]));
  assert.deepEqual(policies.map((p) => p.updates).sort(), Array.from({ length: episodes }, (_, i) => i + 1));
  assert.equal(result.policyUpdates, episodes);
  assert.equal(saved.final.length, 1);
  assert.equal(typeof saved.final[0].network.accuracy, 'number');
  // The DenseNet start net given the same final training is the reference of the gains.
  assert.equal(saved.reference.network.notation, saved.start.notation);
  assert.equal(typeof saved.reference.network.accuracy, 'number');
  assert.deepEqual(saved.gains.map((g: { name: string }) => g.name), ['top-1']);
  assert.equal(saved.gains[0].paramRatio, saved.final[0].network.params / saved.start.params);

  const report = await writeReport({ searchId: name, runs: root });
  const html = fs.readFileSync(report.html, 'utf8');
  for (const c of saved.candidates) assert.ok(html.includes(c.name), `report lists ${c.name}`);
  assert.ok(html.includes('D('), 'report shows DenseNet notation');

  // Every run of the search replays with the current workflow code (no determinism error).
  let runs = 0;
  for await (const wf of env.client.workflow.list({ query: `WorkflowId = "${name}"` })) {
    const history = await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, history, wf.workflowId);
    runs++;
  }
  assert.ok(runs >= 1);
});
