import { type AnySearchSpace, type SearchSpaceConfig, spaceOf } from '../space';
import { writeJsonAtomic } from '../util/atomic';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type ControllerCheckpoint } from './checkpoint';
import type { ControllerConfig } from './config';
import { baselineStep, episodeRewards } from './reward';
import { Rng, deriveSeed } from '../util/rng';
import { type Chooser, drawMasked, randomStepPlan, sampleWith } from './sampling';
import type { Controller, Sample, SampleSteps, UpdateOptions, UpdateStats } from './types';

/**
 * Uniform over valid choices: each widenable part with probability 0.5; a uniform valid block, then position, then
 * kernel (where the block takes one), in that order per network and step.
 */
export const uniformChooser: Chooser = {
  widen: (views, rngs) => views.map((v, i) => v.widenMask.map((ok) => ok && rngs[i].bernoulli(0.5))),
  deepen: (masks, _views, rngs) =>
    masks.map((m, i) => {
      const rng = rngs[i];
      const block = drawMasked(rng, null, m.blockMask);
      const position = drawMasked(rng, null, m.positionMasks[block]);
      const kernels = m.kernelMasks[block];
      return { block, position, kernelIndex: kernels ? drawMasked(rng, null, kernels) : null };
    }),
};

/** Random search with the controller interface; it never learns, but tracks rewards and the baseline for reporting. */
export class RandomController implements Controller {
  readonly kind = 'random' as const;
  readonly space: AnySearchSpace;

  constructor(
    readonly config: ControllerConfig,
    readonly searchSpace: SearchSpaceConfig,
    private baseline: number | null = null,
    private updates = 0,
  ) {
    this.space = spaceOf(searchSpace, { poolMaxSize: config.poolMaxSize });
  }

  /**
   * The authors' random search: each network takes its wider and deeper steps in a uniformly random interleaving
   * (randomStepPlan, from deriveSeed(seed, 'plan', i)), not the RL controller's all-wider-then-all-deeper order.
   */
  sample(start: unknown, n: number, seed: number, steps: SampleSteps = this.config): Sample[] {
    return sampleWith(uniformChooser, this.space, start, n, seed, (i) => randomStepPlan(steps, Rng.fromSeed(deriveSeed(seed, 'plan', i))));
  }

  update(samples: readonly Sample[], accuracies: readonly (number | null)[], opts: UpdateOptions = {}): UpdateStats {
    const rewards = episodeRewards(samples, accuracies, this.space, this.config);
    const { baseline, advantages } = baselineStep(opts.stageStart ? null : this.baseline, rewards, this.config);
    this.baseline = baseline;
    this.updates += 1;
    const meanReward = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    return { rewards, advantages, meanReward, baseline, updates: this.updates, loss: NaN, entropy: NaN };
  }

  toCheckpoint(): ControllerCheckpoint {
    return { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, kind: 'random', config: this.config, searchSpace: this.searchSpace, updates: this.updates, baseline: this.baseline };
  }

  save(path: string): void {
    writeJsonAtomic(path, this.toCheckpoint());
  }

  dispose(): void {}
}
