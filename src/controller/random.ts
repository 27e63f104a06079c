import type { Arch, SearchSpace } from '../arch';
import { writeJsonAtomic } from '../util/atomic';
import { CHECKPOINT_FORMAT, type ControllerCheckpoint } from './checkpoint';
import type { ControllerConfig } from './config';
import { baselineStep, cleanAccuracy, rewardOf } from './reward';
import { type Chooser, drawMasked, isConvBlock, sampleWith } from './sampling';
import type { Controller, Sample, UpdateStats } from './types';

/** Uniform over valid choices: each widenable layer with probability 0.5; uniform block, position and kernel. */
const uniform: Chooser = {
  widen: (_archs, masks, rngs) => masks.map((m, i) => m.map((ok) => ok && rngs[i].bernoulli(0.5))),
  deepen: (_archs, masks, rngs) =>
    masks.map((m, i) => {
      const rng = rngs[i];
      const block = drawMasked(rng, null, m.blockMask);
      const position = drawMasked(rng, null, m.positionMasks[block]);
      return { block, position, kernelIndex: isConvBlock(m, block) ? drawMasked(rng, null, m.kernelMask) : null };
    }),
};

/** Random search with the controller interface; it never learns, but tracks rewards and the baseline for reporting. */
export class RandomController implements Controller {
  readonly kind = 'random' as const;

  constructor(
    readonly config: ControllerConfig,
    readonly space: SearchSpace,
    private baseline: number | null = null,
    private updates = 0,
  ) {}

  sample(start: Arch, n: number, seed: number): Sample[] {
    return sampleWith(uniform, start, n, seed, this.config, this.space);
  }

  update(samples: Sample[], accuracies: readonly (number | null)[]): UpdateStats {
    if (samples.length === 0 || samples.length !== accuracies.length) throw new Error(`update needs one accuracy per sample, got ${samples.length} samples and ${accuracies.length} accuracies`);
    const rewards = samples.map((s, i) => rewardOf(cleanAccuracy(accuracies[i], i), s.arch, this.config));
    const { baseline, advantages } = baselineStep(this.baseline, rewards, this.config);
    this.baseline = baseline;
    this.updates += 1;
    const meanReward = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    return { rewards, advantages, meanReward, baseline, updates: this.updates, loss: NaN, entropy: NaN };
  }

  toCheckpoint(): ControllerCheckpoint {
    return { format: CHECKPOINT_FORMAT, version: 1, kind: 'random', config: this.config, space: this.space, updates: this.updates, baseline: this.baseline };
  }

  save(path: string): void {
    writeJsonAtomic(path, this.toCheckpoint());
  }

  dispose(): void {}
}
