import * as fs from 'node:fs';
import { z } from 'zod';
import { TensorBlobSchema, decodeTensors } from '../controller/checkpoint';
import { type ControllerConfig, ControllerConfigSchema } from '../controller/config';
import { baselineStep, cleanAccuracy } from '../controller/reward';
import { writeJsonAtomic } from '../util/atomic';
import { type DenseSample, randomDenseChooser, sampleDense } from './controller';
import { denseReward } from './reward';
import { DenseRlController, denseParamSpecs } from './rl';
import { type DenseNet, type DenseSpace, DenseSpaceSchema } from './schema';

export { denseReward } from './reward';

/**
 * The DenseNet search's controllers behind one interface for the control activities: the RL policy
 * (src/densenet/rl.ts) or the random twin (src/densenet/controller.ts), and their checkpoint file, passed from update
 * to update by the workflow. The random twin never learns but, as the plain RandomController, tracks the reward
 * baseline and the number of updates for the reports.
 */
export const DENSE_POLICY_FORMAT = 'eas-dense-controller';
const TensorMapSchema = z.record(z.string(), TensorBlobSchema);
const Common = { format: z.literal(DENSE_POLICY_FORMAT), version: z.literal(1), config: ControllerConfigSchema, space: DenseSpaceSchema, updates: z.number().int().nonnegative(), baseline: z.number().nullable() };
export const DensePolicySchema = z.discriminatedUnion('kind', [
  z.object({ ...Common, kind: z.literal('random') }).strict(),
  z
    .object({
      ...Common,
      kind: z.literal('rl'),
      params: TensorMapSchema,
      adam: z.object({ step: z.number().int().nonnegative(), beta1Power: z.number(), beta2Power: z.number(), m: TensorMapSchema, v: TensorMapSchema }).strict(),
    })
    .strict(),
]);
export type DensePolicy = z.infer<typeof DensePolicySchema>;

export function readDensePolicy(file: string): DensePolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read the DenseNet controller checkpoint (${(err as Error).message})`, { cause: err });
  }
  const r = DensePolicySchema.safeParse(raw);
  if (!r.success) throw new Error(`${file}: not a DenseNet controller checkpoint: ${r.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** n networks from `start` with the random twin (network i from deriveSeed(seed, 'sample', i)). */
export function sampleDenseRandom(start: DenseNet, n: number, seed: number, steps: { widerSteps: number; deeperSteps: number }, space: DenseSpace): DenseSample[] {
  return sampleDense(randomDenseChooser, start, n, seed, steps, space);
}

export interface DenseUpdateStats {
  rewards: number[];
  advantages: number[];
  meanReward: number;
  baseline: number;
  updates: number;
  loss: number;
  entropy: number;
}

export interface DenseSearchController {
  readonly kind: 'rl' | 'random';
  sample(start: DenseNet, n: number, seed: number, steps: { widerSteps: number; deeperSteps: number }): DenseSample[];
  update(samples: readonly DenseSample[], accuracies: readonly (number | null)[]): DenseUpdateStats;
  checkpoint(): DensePolicy;
  dispose(): void;
}

class DenseRandom implements DenseSearchController {
  readonly kind = 'random' as const;
  constructor(
    readonly config: ControllerConfig,
    readonly space: DenseSpace,
    private baseline: number | null = null,
    private updates = 0,
  ) {}
  sample(start: DenseNet, n: number, seed: number, steps: { widerSteps: number; deeperSteps: number }): DenseSample[] {
    return sampleDenseRandom(start, n, seed, steps, this.space);
  }
  update(samples: readonly DenseSample[], accuracies: readonly (number | null)[]): DenseUpdateStats {
    if (samples.length === 0 || samples.length !== accuracies.length) throw new Error(`update needs one accuracy per sample, got ${samples.length} samples and ${accuracies.length} accuracies`);
    const rewards = samples.map((s, i) => denseReward(cleanAccuracy(accuracies[i], i), s.net, this.config));
    const { baseline, advantages } = baselineStep(this.baseline, rewards, this.config);
    this.baseline = baseline;
    this.updates += 1;
    return { rewards, advantages, meanReward: rewards.reduce((a, b) => a + b, 0) / rewards.length, baseline, updates: this.updates, loss: NaN, entropy: NaN };
  }
  checkpoint(): DensePolicy {
    return { format: DENSE_POLICY_FORMAT, version: 1, kind: 'random', config: this.config, space: this.space, updates: this.updates, baseline: this.baseline };
  }
  dispose(): void {}
}

class DenseRl implements DenseSearchController {
  readonly kind = 'rl' as const;
  constructor(private readonly rl: DenseRlController) {}
  sample(start: DenseNet, n: number, seed: number, steps: { widerSteps: number; deeperSteps: number }): DenseSample[] {
    return this.rl.sample(start, n, seed, steps);
  }
  update(samples: readonly DenseSample[], accuracies: readonly (number | null)[]): DenseUpdateStats {
    return this.rl.update(samples, accuracies);
  }
  checkpoint(): DensePolicy {
    return { format: DENSE_POLICY_FORMAT, version: 1, kind: 'rl', config: this.rl.config, space: this.rl.space, ...this.rl.state() };
  }
  dispose(): void {
    this.rl.dispose();
  }
}

/** A fresh controller (RL weights from `seed`). */
export function createDenseController(kind: 'rl' | 'random', config: ControllerConfig, space: DenseSpace, seed: number): DenseSearchController {
  return kind === 'random' ? new DenseRandom(config, space) : new DenseRl(DenseRlController.create(config, space, seed));
}

/** The controller a checkpoint holds (its config and space; the caller passes the stage's steps when sampling). */
export function denseControllerFromCheckpoint(p: DensePolicy): DenseSearchController {
  if (p.kind === 'random') return new DenseRandom(p.config, p.space, p.baseline, p.updates);
  const shapes = Object.fromEntries(Object.entries(denseParamSpecs(p.config, p.space)).map(([k, s]) => [k, s.shape]));
  const params = decodeTensors(p.params, shapes, 'DenseNet controller params');
  const adam = { step: p.adam.step, beta1Power: p.adam.beta1Power, beta2Power: p.adam.beta2Power, m: decodeTensors(p.adam.m, shapes, 'Adam m'), v: decodeTensors(p.adam.v, shapes, 'Adam v') };
  return new DenseRl(new DenseRlController(p.config, p.space, { params, adam, baseline: p.baseline, updates: p.updates }));
}

export function saveDensePolicy(file: string, policy: DensePolicy): void {
  writeJsonAtomic(file, policy);
}
