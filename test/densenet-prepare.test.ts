import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareSearchTask, samplePolicyTask, transformCandidateTask } from '../src/activities/tasks';
import { saveNetwork } from '../src/checkpoint';
import { SearchConfigSchema } from '../src/config/search-config';
import { parseDenseNotation } from '../src/densenet/notation';
import { initDenseWeights } from '../src/densenet/weights';
import { Rng } from '../src/util/rng';
import { ControllerConfigSchema } from '../src/controller/config';
import { DEFAULT_TRANSFORM_OPTIONS } from '../src/transform/options';

const NOTATION = 'C(8,3), D(4*2), T(8), D(4*2), SM(4)';
const dataset = { name: 'synthetic' as const, validationSize: 32, synthetic: { train: 128, test: 32, shape: [8, 8, 1] as [number, number, number], classes: 4, seed: 3 } };
const dense = { kind: 'densenet' as const, growthRates: [4, 6, 8], maxLayersPerBlock: 5 };

test('a DenseNet search starts from a DenseNet checkpoint, samples and transforms it; a checkpoint of the other space is refused by name', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-dn-prepare-'));
  const ckpt = path.join(root, 'given');
  const net = parseDenseNotation(NOTATION, [8, 8, 1]);
  await saveNetwork(ckpt, net, initDenseWeights(net, Rng.fromSeed(1)), { accuracy: 0.5 });
  const config = SearchConfigSchema.parse({ name: 'dn', dataset, startNet: { checkpoint: ckpt }, searchSpace: dense, stages: [{ networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1 }], final: { topK: 1, epochs: 1 } });
  const prep = await prepareSearchTask({ root, input: { searchId: 'dn', config } });
  assert.equal(prep.start.notation, NOTATION);
  assert.equal(prep.start.accuracy, 0.5);

  const { widerSteps: _w, deeperSteps: _d, ...controller } = ControllerConfigSchema.parse({});
  const searchSpace = config.searchSpace;
  const sampled = await samplePolicyTask({
    root,
    input: { storageRoot: root, runDir: 'dn', stage: 0, episode: 0, policy: null, controller: { ...controller, widerSteps: 1, deeperSteps: 1, kind: 'rl' }, searchSpace, start: prep.start.dir, n: 2, seed: 4, policySeed: 9, widerSteps: 1, deeperSteps: 1 },
  });
  assert.equal(sampled.candidates.length, 2);
  for (const c of sampled.candidates) {
    assert.match(c.key, /^densenet\|/);
    const out = await transformCandidateTask({
      root,
      input: { storageRoot: root, runDir: 'dn', name: `c${c.index}`, start: prep.start.dir, actions: c.actions, searchSpace, transform: DEFAULT_TRANSFORM_OPTIONS, output: `dn/c${c.index}`, seed: 5 + c.index },
    });
    assert.equal(out.network.notation, c.notation);
    assert.ok(out.maxAbsDiff <= 1e-4, `function preserved: ${out.maxAbsDiff}`);
  }
  // Actions cross Temporal typed by their space: a plain Net2Deeper with a kernel size is no DenseNet action.
  await assert.rejects(
    () =>
      transformCandidateTask({
        root,
        input: { storageRoot: root, runDir: 'dn', name: 'bad', start: prep.start.dir, actions: [{ type: 'deeper', block: 0, position: 0, kernel: 3 }], searchSpace, transform: DEFAULT_TRANSFORM_OPTIONS, output: 'dn/bad', seed: 5 },
      }),
    /actions\.0: not a densenet action/,
  );

  const plain = SearchConfigSchema.parse({ ...config, name: 'pl', searchSpace: { kind: 'plain' } });
  await assert.rejects(() => prepareSearchTask({ root, input: { searchId: 'pl', config: plain } }), /startNet\.checkpoint.*holds a densenet network but searchSpace\.kind is "plain"/);
  fs.rmSync(root, { recursive: true, force: true });
});
