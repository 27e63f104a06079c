import { before, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Arch, DEFAULT_SPACE, blocks, parseNotation } from '../src/arch';
import { type Controller, type Sample, createController } from '../src/controller';
import { deriveSeed } from '../src/util/rng';
import { setupBackend } from './helpers/tf';

const START = 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(64), SM(10)';
const EPISODES = 40;
const LAST = 10;
const SEEDS = [1, 2];

/**
 * A hidden preference computed from the architecture alone (no training): widen the conv of the second block (L2,
 * up to 4 levels) and insert kernel-5 convs into that block (up to 5). Random search averages ≈ 0.41.
 */
function syntheticAccuracy(a: Arch): number {
  const block1 = blocks(a)[1].insertAfter.map((i) => a.layers[i]);
  const k5 = block1.filter((l) => l.type === 'conv' && l.kernel === 5).length;
  const l2 = a.layers.find((l) => l.id === 'L2');
  const gain = l2?.type === 'conv' ? DEFAULT_SPACE.convFilters.indexOf(l2.filters) - DEFAULT_SPACE.convFilters.indexOf(32) : 0;
  return 0.2 + 0.35 * (gain / 4) + 0.4 * (k5 / 5);
}

function run(c: Controller, seed: number): { reward: number; acc: number; last: Sample[] } {
  const start = parseNotation(START, [32, 32, 3], DEFAULT_SPACE);
  const rewards: number[] = [];
  const accs: number[] = [];
  let last: Sample[] = [];
  for (let ep = 0; ep < EPISODES; ep++) {
    last = c.sample(start, 10, deriveSeed(seed, 'episode', ep));
    const acc = last.map((s) => syntheticAccuracy(s.net as Arch));
    rewards.push(c.update(last, acc).meanReward);
    accs.push(acc.reduce((a, b) => a + b, 0) / acc.length);
  }
  const mean = (xs: number[]) => xs.slice(-LAST).reduce((a, b) => a + b, 0) / LAST;
  return { reward: mean(rewards), acc: mean(accs), last };
}

before(setupBackend);

it(`RL controller beats random search on a hidden architecture preference (${EPISODES} episodes × 10 networks)`, () => {
  for (const seed of SEEDS) {
    const rl = createController('rl', {}, { kind: 'plain' }, seed);
    const random = createController('random', {}, { kind: 'plain' }, seed);
    const r = run(rl, seed);
    const q = run(random, seed);
    rl.dispose();
    console.log(`seed ${seed}: mean over the last ${LAST} episodes: rl reward ${r.reward.toFixed(3)} (acc ${r.acc.toFixed(3)}), random reward ${q.reward.toFixed(3)} (acc ${q.acc.toFixed(3)}), margin ${(r.reward - q.reward).toFixed(3)}`);
    // Observed over seeds 1-6 while developing: rl 12.1-12.7, random 0.72-0.79 (tan reward).
    assert.ok(r.reward - q.reward > 5, `rl ${r.reward} vs random ${q.reward}`);
    assert.ok(r.acc - q.acc > 0.3, `rl acc ${r.acc} vs random acc ${q.acc}`);
    // It learned the pattern itself: most Net2Deeper decisions go to block 1 with kernel 5.
    const deeper = r.last.flatMap((s) => s.decisions.filter((d) => d.type === 'deeper'));
    const hits = deeper.filter((d) => d.block === 1 && d.kernelIndex === DEFAULT_SPACE.convKernels.indexOf(5)).length;
    assert.ok(hits / deeper.length > 0.7, `${hits}/${deeper.length} deeper decisions on the preferred pattern`);
  }
});
