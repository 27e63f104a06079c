import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SearchConfigSchema, type SearchConfig } from '../src/config/search-config';
import { loadNetwork } from '../src/checkpoint';
import { readCheckpoint } from '../src/controller/checkpoint';
import { prepareSearchTask, samplePolicyTask, transformCandidateTask, updatePolicyTask } from '../src/activities/tasks';
import { PROBE_IMAGES, readProbe } from '../src/store/probe';
import type { SamplePolicyInput, TransformInput } from '../src/activities/contract';
import { classifyError, errorLike } from '../src/activities/errors';
import { InputsChangedError, inputsFile } from '../src/store/inputs';
import { RunLayout, candidateName, jobPaths } from '../src/store/layout';
import { deriveSeed } from '../src/util/seed';
import { setupBackend } from './helpers/tf';
import { tinySearchConfig } from './helpers/search';

/**
 * The control tasks as the control child runs them, on a real (synthetic) dataset and real networks, with the run
 * store reached through two different roots: the "control host" writes through the real folder, the "other host"
 * through a symlink to it (a store mounted elsewhere). Every path that comes back is relative to the root.
 */

const ID = 'ct-search';
let realRoot: string;
let linkRoot: string;
let config: SearchConfig;

const sampleInput = (episode: number, policy: string | null, steps: { widerSteps: number; deeperSteps: number }): SamplePolicyInput => ({
  storageRoot: 'unused-configured-root',
  runDir: ID,
  stage: 0,
  episode,
  policy,
  controller: { ...config.controller, ...steps },
  searchSpace: config.searchSpace,
  start: `${ID}/start/init`,
  n: 2,
  seed: deriveSeed(config.seed, 'sample', 0, episode),
  policySeed: deriveSeed(config.seed, 'policy'),
  ...steps,
});

describe('control tasks: run-store paths relative to the root, inputs-keyed artifacts, stage steps', () => {
  before(async () => {
    await setupBackend();
    realRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-ctasks-'));
    linkRoot = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eas-ctasks-mnt-')), 'runs');
    fs.symlinkSync(realRoot, linkRoot);
    config = SearchConfigSchema.parse(tinySearchConfig(ID, realRoot));
  });

  test('prepareSearch: relative runDir and start, the data probe once, config.json compared', async () => {
    const out = await prepareSearchTask({ root: realRoot, input: { searchId: ID, config } });
    assert.equal(out.runDir, ID);
    assert.equal(out.start.dir, `${ID}/start/init`);
    assert.equal(out.startEpochs, 1);
    const probe = readProbe(path.join(realRoot, ID));
    assert.equal(probe.meta.count, PROBE_IMAGES);
    assert.deepEqual(probe.meta.shape, [8, 8, 1]);
    assert.equal(probe.meta.trainImages, 384 - 64);
    assert.equal(probe.images.length, PROBE_IMAGES * 64);
    // The statistics normalise the training split: its probe images have mean ≈ 0 (a sample of 256 of 320).
    const mean = probe.images.reduce((a, b) => a + b, 0) / probe.images.length;
    assert.ok(Math.abs(mean) < 0.2, `probe mean ${mean}`);

    // Again, from the other host's root: same answer, nothing rewritten.
    const probeMtime = fs.statSync(new RunLayout(path.join(realRoot, ID)).probe().images).mtimeMs;
    const again = await prepareSearchTask({ root: linkRoot, input: { searchId: ID, config } });
    assert.deepEqual(again, out);
    assert.equal(fs.statSync(new RunLayout(path.join(realRoot, ID)).probe().images).mtimeMs, probeMtime);

    // A changed config under the same search id is refused, naming config.json and the field.
    const changed = SearchConfigSchema.parse(tinySearchConfig(ID, realRoot, { seed: 8 }));
    await assert.rejects(prepareSearchTask({ root: realRoot, input: { searchId: ID, config: changed } }), (err: unknown) => {
      assert.ok(err instanceof InputsChangedError);
      assert.equal(err.file, path.join(realRoot, ID, 'config.json'));
      assert.match(err.message, /seed: 7 → 8/);
      assert.deepEqual([classifyError(errorLike(err)).type, classifyError(errorLike(err)).nonRetryable], ['InputsChanged', true]);
      return true;
    });
  });

  test('samplePolicy honours the stage\'s steps, also when a policy checkpoint exists; updatePolicy writes one checkpoint', async () => {
    const first = await samplePolicyTask({ root: realRoot, input: sampleInput(0, null, { widerSteps: 1, deeperSteps: 1 }) });
    assert.equal(first.samplesFile, `${ID}/stage-1/episode-000/samples.json`);
    assert.deepEqual(first.candidates.map((c) => c.actions.length), [2, 2]);
    const upd = await updatePolicyTask({
      root: realRoot,
      input: { storageRoot: 'x', policy: null, samplesFile: first.samplesFile, accuracies: [0.5, 0.6], output: `${ID}/policy/policy-0001.json`, controller: { ...config.controller, widerSteps: 1, deeperSteps: 1 }, searchSpace: config.searchSpace, policySeed: deriveSeed(config.seed, 'policy') },
    });
    assert.equal(upd.policy, `${ID}/policy/policy-0001.json`);
    assert.equal(upd.updates, 1);
    assert.equal(readCheckpoint(path.join(realRoot, upd.policy)).config.widerSteps, 1);
    // The checkpoint says 1 + 1 steps; the next stage asks for 2 + 3, from the other host.
    const next = await samplePolicyTask({ root: linkRoot, input: sampleInput(1, upd.policy, { widerSteps: 2, deeperSteps: 3 }) });
    assert.deepEqual(next.candidates.map((c) => c.actions.length), [5, 5]);
    assert.deepEqual(next.candidates.map((c) => c.actions.map((a) => a.type).join(',')), ['wider,wider,deeper,deeper,deeper', 'wider,wider,deeper,deeper,deeper']);
    // A retry returns the recorded samples; the same episode with other inputs is refused.
    assert.deepEqual(await samplePolicyTask({ root: realRoot, input: sampleInput(1, upd.policy, { widerSteps: 2, deeperSteps: 3 }) }), next);
    await assert.rejects(samplePolicyTask({ root: realRoot, input: sampleInput(1, upd.policy, { widerSteps: 1, deeperSteps: 3 }) }), (err: unknown) => err instanceof InputsChangedError && /widerSteps: 2 → 1/.test(err.message));
  });

  test('transformCandidate: preserved function, relative output, reuse only with the same inputs, frees its tensors', async () => {
    const sampled = await samplePolicyTask({ root: realRoot, input: sampleInput(0, null, { widerSteps: 1, deeperSteps: 1 }) });
    const name = candidateName({ stage: 0, episode: 0, index: 0 });
    const output = jobPaths(`${ID}/stage-1/episode-000/candidate-00`).init;
    const input: TransformInput = {
      storageRoot: 'x',
      runDir: ID,
      name,
      start: `${ID}/start/init`,
      actions: sampled.candidates[0].actions,
      searchSpace: config.searchSpace,
      transform: config.transform,
      output,
      seed: deriveSeed(config.seed, 'transform', name),
    };
    const before = tf.memory().numTensors;
    // Made on the "other host" through the symlinked root.
    const out = await transformCandidateTask({ root: linkRoot, input });
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    assert.equal(out.network.dir, output);
    assert.equal(out.network.key, sampled.candidates[0].key);
    assert.ok(out.maxAbsDiff <= 1e-3, `maxAbsDiff ${out.maxAbsDiff}`);
    const saved = loadNetwork(path.join(realRoot, output));
    assert.equal(saved.meta.parent, `${ID}/start/init`);
    assert.ok(fs.existsSync(inputsFile(path.join(realRoot, output))));

    // The configured noise reaches Net2Net: the same actions and seed without noise give other weights, same architecture.
    const exactOut = jobPaths(`${ID}/stage-1/episode-000/candidate-01`).init;
    const exact = await transformCandidateTask({ root: realRoot, input: { ...input, output: exactOut, transform: { wider: { split: 'random', noise: 0 }, deeper: { noise: 0 } } } });
    assert.equal(exact.network.key, out.network.key);
    assert.ok(exact.maxAbsDiff <= 1e-3, `exact maxAbsDiff ${exact.maxAbsDiff}`);
    const exactNet = loadNetwork(path.join(realRoot, exactOut));
    const differs = Object.keys(saved.weights).filter((k) => saved.weights[k].data.some((v, i) => v !== exactNet.weights[k].data[i]));
    assert.ok(differs.length > 0, 'noise changed some weights');

    const again = await transformCandidateTask({ root: realRoot, input });
    assert.deepEqual(again, out);
    const other = { ...input, transform: { ...config.transform, wider: { ...config.transform.wider, noise: 0.05 } } };
    await assert.rejects(transformCandidateTask({ root: realRoot, input: other }), (err: unknown) => {
      assert.ok(err instanceof InputsChangedError);
      assert.equal(err.file, inputsFile(path.join(realRoot, output)));
      assert.match(err.message, /transform\.wider\.noise: 0\.01 → 0\.05/);
      return true;
    });

    // A published network whose meta lost its figure: the reuse names the file and the field, and no retry can fix it.
    const metaFile = path.join(realRoot, output, 'meta.json');
    const { maxAbsDiff: _dropped, ...rest } = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(metaFile, JSON.stringify(rest));
    await assert.rejects(transformCandidateTask({ root: realRoot, input }), (err: unknown) => {
      const c = classifyError(errorLike(err));
      assert.equal(c.type, 'CheckpointCorrupt');
      assert.equal(c.nonRetryable, true);
      assert.match(c.message, /candidate-00\/init\/meta\.json: not a valid transformed network meta: maxAbsDiff/);
      return true;
    });
  });

  test('transformCandidate: a start network missing on this host is a retryable failure naming it', async () => {
    const input: TransformInput = {
      storageRoot: 'x',
      runDir: ID,
      name: 'missing-start',
      start: `${ID}/stage-1/best/trained`,
      actions: [{ type: 'wider', layers: ['L0'] }],
      searchSpace: config.searchSpace,
      transform: config.transform,
      output: `${ID}/stage-2/episode-000/candidate-00/init`,
      seed: 1,
    };
    await assert.rejects(transformCandidateTask({ root: realRoot, input }), (err: unknown) => {
      const c = classifyError(errorLike(err));
      assert.equal(c.type, 'CheckpointMissing');
      assert.equal(c.nonRetryable, false);
      assert.match(c.message, /stage-1\/best\/trained/);
      return true;
    });
  });
});
