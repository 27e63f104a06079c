import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer, tempDir } from '../helpers/temporal';
import { policyCheckpoints, tinySearchConfig } from '../helpers/search';
import { createControlWorker } from '../../src/workers/control';
import { createTrainWorker } from '../../src/workers/train';
import { startOrAttachSearch } from '../../src/cli/search-client';
import { ConfigError } from '../../src/config/search-config';
import { SEARCH_ATTRIBUTES, SEARCH_WORKFLOW_TYPE, extendStageUpdate, pauseSignal, progressQuery, resumeSignal, stopSignal } from '../../src/workflows/definitions';
import { readSearchResult } from '../../src/store/result';
import { writeReport } from '../../src/report';
import { inputsHash } from '../../src/store/inputs';


let env: TestWorkflowEnvironment;
let root: string;

before(async () => {
  env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  root = tempDir('search');
});
after(async () => {
  await env?.teardown();
});

async function withWorkers<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const control = await createControlWorker({ connection: env.nativeConnection, taskQueue: `${name}-control` });
  const train = await createTrainWorker({ connection: env.nativeConnection, taskQueue: `${name}-train`, devices: ['cpu'] });
  return control.runUntil(train.runUntil(fn));
}

test('(a) a tiny real search completes; the result lists every candidate, the policy checkpoints match the episodes; (d) its history replays', async () => {
  const name = `tiny-${Date.now()}`;
  const { handle, config } = await startOrAttachSearch(env.client, tinySearchConfig(name, root));
  const result = await withWorkers(name, async () => {
    const r = await handle.result();
    const progress = await handle.query(progressQuery);
    assert.equal(progress.phase, 'done');
    return r;
  });
  const runDir = path.join(root, name);
  const saved = JSON.parse(fs.readFileSync(path.resolve(root, result.resultFile), 'utf8'));
  const planned = config.stages.reduce((a, s) => a + s.networks, 0);
  const episodes = config.stages.reduce((a, s) => a + Math.ceil(s.networks / s.networksPerEpisode), 0);
  assert.equal(saved.candidates.length, planned);
  for (const c of saved.candidates) {
    assert.match(c.network.notation, /^C\(/);
    assert.equal(typeof c.network.accuracy, 'number');
    assert.ok(c.network.accuracy >= 0 && c.network.accuracy <= 1);
    assert.ok(c.parent === 'start' || c.parent === 's1-best', `lineage: parent ${c.parent}`);
    assert.ok(c.actions.length > 0);
  }
  assert.equal(policyCheckpoints(runDir).length, episodes);
  assert.equal(result.policyUpdates, episodes);
  assert.equal(saved.final.length, 1);
  assert.equal(typeof saved.final[0].network.accuracy, 'number');
  // The start network given the same final training is the result's reference, and each final's gain is over it.
  const ref = saved.reference.network;
  assert.equal(saved.reference.failed, null);
  assert.equal(ref.name, 'reference');
  assert.equal(ref.notation, saved.start.notation);
  assert.equal(ref.params, saved.start.params);
  assert.equal(typeof ref.accuracy, 'number');
  assert.ok(fs.existsSync(path.join(runDir, 'final', 'reference', 'trained', 'model.json')));
  const refMeta = JSON.parse(fs.readFileSync(path.join(runDir, 'final', 'reference', 'trained', 'meta.json'), 'utf8'));
  const topMeta = JSON.parse(fs.readFileSync(path.join(runDir, 'final', 'top-1', 'trained', 'meta.json'), 'utf8'));
  assert.deepEqual([refMeta.trainResult.mode, refMeta.trainResult.epochs], [topMeta.trainResult.mode, topMeta.trainResult.epochs], 'the same final training');
  assert.deepEqual(refMeta.recipe, topMeta.recipe);
  assert.deepEqual(saved.gains, [{ name: 'top-1', testPoints: (saved.final[0].network.accuracy - ref.accuracy) * 100, paramRatio: saved.final[0].network.params / ref.params }]);
  assert.deepEqual(result.reference, ref);
  assert.deepEqual(result.gains, saved.gains);
  // The stage's first update re-centred the baseline (the second stage's first episode), and only that one.
  const summaries = policyCheckpoints(runDir).sort().map((f) => JSON.parse(fs.readFileSync(path.join(runDir, 'policy', `${f}.summary.json`), 'utf8')));
  assert.deepEqual(summaries.map((x) => x.stageStart === true), [false, false, true, false]);
  const third = summaries[2];
  assert.ok(Math.abs(third.baseline - third.meanReward) < 1e-12, 'the stage start centres the baseline on its batch');
  // The report and the result command show the reference and the gains.
  const report = await writeReport({ searchId: name, runs: root });
  assert.match(fs.readFileSync(report.html, 'utf8'), /start network, same final training[\s\S]*test gain over the start net/);

  // (d) every run of the search (it continues as new per stage) replays without a determinism error.
  assert.ok((await replayAll(name)) >= 2, 'a run per stage');
});

/** Replays every run of a search's workflow id with the current workflow code; returns how many runs there were. */
async function replayAll(workflowId: string): Promise<number> {
  const histories = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
    histories.push({ workflowId: wf.workflowId, history: await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory() });
  }
  for (const h of histories) await Worker.runReplayHistory({ workflowsPath: require.resolve('../../src/workflows') }, h.history, h.workflowId);
  return histories.length;
}

test('(e) a bad config fails before anything starts, naming every bad field', async () => {
  const name = `bad-${Date.now()}`;
  const bad = { ...tinySearchConfig(name, root), seed: 'seven', stages: [{ networks: 0 }], dataset: { name: 'mnist' } };
  await assert.rejects(
    () => startOrAttachSearch(env.client, bad, 'bad.yaml'),
    (e: unknown) => e instanceof ConfigError && /seed/.test(e.message) && /stages\.0\.networks/.test(e.message) && /dataset\.name/.test(e.message),
  );
  await assert.rejects(() => env.client.workflow.getHandle(name).describe(), /not found/i);
  assert.equal(fs.existsSync(path.join(root, name)), false);

  // Started around eas (e.g. `temporal workflow start`), the workflow itself refuses the config before any activity.
  const handle = await env.client.workflow.start(SEARCH_WORKFLOW_TYPE, { workflowId: `${name}-direct`, taskQueue: `${name}-control`, args: [bad] });
  await withWorkers(name, async () => {
    await assert.rejects(
      () => handle.result(),
      (e: unknown) => e instanceof WorkflowFailedError && /seed/.test(String(e.cause?.message)) && /stages\.0\.networks/.test(String(e.cause?.message)),
    );
  });
  const history = await handle.fetchHistory();
  assert.equal(history.events?.filter((ev) => ev.activityTaskScheduledEventAttributes).length, 0);
});

test('pause holds the search at an episode boundary, extend grows a stage, resume goes on, stop finishes the episode then final-trains', async () => {
  const name = `ctl-${Date.now()}`;
  const cfg = tinySearchConfig(name, root, {
    stages: [
      { networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
      { networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
    ],
    // No reference here: final.reference off leaves the result without one.
    final: { topK: 1, epochs: 1, reference: false },
  });
  const { handle } = await startOrAttachSearch(env.client, cfg);
  await handle.signal(pauseSignal);
  await withWorkers(name, async () => {
    let p = await handle.query(progressQuery);
    assert.equal(p.paused, true);
    // Paused before its first episode: the start network is prepared, no candidate is sampled.
    await new Promise((r) => setTimeout(r, 3000));
    p = await handle.query(progressQuery);
    assert.equal(p.evaluatedTotal, 0);
    assert.equal(fs.existsSync(path.join(root, name, 'stage-1')), false);
    const budget = await handle.executeUpdate(extendStageUpdate, { args: [{ networks: 2, stage: 1 }] });
    assert.equal(budget, 4);
    await assert.rejects(
      () => handle.executeUpdate(extendStageUpdate, { args: [{ networks: 0 }] }),
      (e: unknown) => e instanceof WorkflowUpdateFailedError && /positive integer/.test(String(e.cause?.message)),
    );
    await handle.signal(resumeSignal);
    let seenUpdate = false;
    // Bounded: the first episode of this tiny search takes seconds; give it up to 5 minutes on a loaded machine.
    for (let i = 0; i < 1500 && !seenUpdate; i++) {
      p = await handle.query(progressQuery);
      seenUpdate = p.policyUpdates >= 1;
      if (!seenUpdate) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(seenUpdate, 'a policy update within the bound');
    assert.equal(p.plannedTotal, 6);
    await handle.signal(stopSignal);
    const result = await handle.result();
    const saved = readSearchResult(path.resolve(root, result.resultFile));
    assert.equal(saved.stopped, true);
    assert.ok(saved.candidates.length === 2 || saved.candidates.length === 4, `whole episodes only: ${saved.candidates.length}`);
    assert.ok(saved.candidates.every((c) => c.stage === 0), 'stage 2 never started');
    assert.equal(saved.final.length, 1);
    assert.equal(saved.reference, undefined, 'final.reference: false');
    assert.equal(saved.gains, undefined);
    assert.equal(fs.existsSync(path.join(root, name, 'final', 'reference')), false);
  });
});

test('a candidate whose checkpoint is corrupt on disk is recorded as failed (reward 0, never best) and the search completes', async () => {
  const name = `fail-${Date.now()}`;
  const cfg = tinySearchConfig(name, root, {
    stages: [{ networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 }],
    final: { topK: 2, epochs: 1 },
    retry: { control: { maximumAttempts: 2, initialInterval: '200ms', maximumInterval: '1s' }, train: { maximumAttempts: 2, initialInterval: '200ms', maximumInterval: '1s' } },
  });
  // A real corruption where the first candidate's transformed network goes: its architecture file is not JSON.
  const init = path.join(root, name, 'stage-1', 'episode-000', 'candidate-00', 'init');
  fs.mkdirSync(init, { recursive: true });
  fs.writeFileSync(path.join(init, 'meta.json'), '{"maxAbsDiff": 0}\n');
  fs.writeFileSync(path.join(init, 'arch.json'), '{"layers": [');
  fs.writeFileSync(path.join(init, 'model.json'), '{"modelTopology": ');
  fs.writeFileSync(path.join(init, 'weights.bin'), Buffer.alloc(3));
  // And the reference's training job was made from other inputs: its training fails for good, the finals must not.
  const refJob = path.join(root, name, 'final', 'reference');
  fs.mkdirSync(refJob, { recursive: true });
  const alien = { epochs: 99 };
  fs.writeFileSync(path.join(refJob, 'trained.inputs.json'), JSON.stringify({ sha256: inputsHash(alien), inputs: alien }));

  const { handle } = await startOrAttachSearch(env.client, cfg);
  const result = await withWorkers(name, async () => {
    const r = await handle.result();
    const progress = await handle.query(progressQuery);
    assert.equal(progress.phase, 'done');
    assert.ok(progress.failedInStage >= 1, `progress counts the failure: ${progress.failedInStage}`);
    return r;
  });
  const saved = readSearchResult(path.resolve(root, result.resultFile));
  assert.equal(saved.candidates.length, 4, 'every planned candidate has a record');
  const failed = saved.candidates.find((c) => c.name === 's1-e000-c00');
  assert.ok(failed?.failed, 'the corrupted candidate is marked failed');
  assert.equal(failed.failed.step, 'checkpoint');
  assert.equal(failed.failed.type, 'CheckpointCorrupt');
  assert.match(failed.failed.message, /arch\.json|model\.json/);
  assert.equal(failed.network.accuracy, null);
  // Only the corrupted one (and reuses of its architecture) failed; the others trained.
  for (const c of saved.candidates.filter((x) => x !== failed)) {
    if (c.cachedFrom === failed.name) assert.ok(c.failed);
    else assert.equal(c.failed, null, `${c.name}: ${c.failed?.message}`);
  }
  assert.ok(saved.candidates.some((c) => !c.failed && typeof c.network.accuracy === 'number'));
  assert.notEqual(saved.best?.name, failed.name);
  assert.ok(saved.final.every((f) => f.from !== failed.name), 'a failed candidate is never final-trained');
  assert.ok(saved.final.length >= 1);
  assert.equal(saved.reference?.network, null, 'the failed reference is recorded as such');
  assert.equal(saved.reference?.failed?.type, 'InputsChanged');
  assert.deepEqual(saved.gains, []);
  assert.equal(result.reference, null);
  assert.equal(result.policyUpdates, 2);
  assert.equal(policyCheckpoints(path.join(root, name)).length, 2);

  // The report shows it as failed.
  const report = await writeReport({ searchId: name, runs: root });
  const html = fs.readFileSync(report.html, 'utf8');
  assert.match(html, /s1-e000-c00[\s\S]*?<b>failed<\/b> in checkpoint: CheckpointCorrupt/);
  assert.match(html, /the start network's final training <b>failed<\/b>: InputsChanged/);
  // The failure path replays deterministically too.
  assert.ok((await replayAll(name)) >= 1);
});
