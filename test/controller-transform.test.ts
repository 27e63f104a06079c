import { before, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { type Action, type Arch, SearchSpaceSchema, toNotation } from '../src/arch';
import { type Sample, createController } from '../src/controller';
import { randomStartNet } from '../src/controller/startnets';
import { initWeights } from '../src/nn/weights';
import { applyActions, randomBatch, randomizeBatchNorm, verifyPreservation } from '../src/transform';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';

/** Tiny widths so that 20 weighted transformations stay fast. */
const SPACE = SearchSpaceSchema.parse({ convFilters: [4, 8, 12, 16], fcUnits: [8, 16, 32, 64], convKernels: [1, 3, 5] });
const TOL = 1e-4;

before(setupBackend);

it('20 controller-sampled action sequences apply with weights through src/transform and preserve the function', async () => {
  const rng = Rng.fromSeed(21);
  const rl = createController('rl', {}, { kind: 'plain', ...SPACE }, 4);
  const random = createController('random', {}, { kind: 'plain', ...SPACE }, 4);
  await assertNoLeak(() => {
    for (let k = 0; k < 20; k++) {
      const controller = k % 2 === 0 ? rl : random;
      const start = randomStartNet(rng, SPACE, { inputs: [[8, 8, 3]], maxBlocks: 2, maxConvsPerBlock: 2, maxFc: 1 });
      const [sample] = controller.sample(start, 1, k) as Sample<Arch, Action>[];
      const weights = randomizeBatchNorm(start, initWeights(start, rng), rng);
      const batch = randomBatch(rng, start.input, 4);
      try {
        const child = applyActions(start, weights, sample.actions, { space: SPACE, rng, batch });
        assert.deepEqual(child.arch, sample.net, 'transform and controller agree on the final arch');
        const diff = verifyPreservation({ arch: start, weights }, child, batch);
        assert.ok(diff <= TOL, `${controller.kind} ${toNotation(start)} → ${toNotation(sample.net)}: max |Δlogits| ${diff}`);
      } finally {
        tf.dispose(batch);
      }
    }
  });
  rl.dispose();
});
