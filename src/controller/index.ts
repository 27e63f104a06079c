import type { z } from 'zod';
import { type SearchSpaceConfig, SearchSpaceConfigSchema, spaceOf } from '../space';
import { deriveSeed } from '../util/rng';
import { type ControllerCheckpoint, decodeTensors, parseCheckpoint, readCheckpoint } from './checkpoint';
import { type ControllerConfigInput, parseControllerConfig } from './config';
import { initialValues, paramSpecs, policyShapeOf } from './policy';
import { RandomController } from './random';
import { RlController } from './rl';
import type { Controller, ControllerKind } from './types';

export * from './config';
export * from './types';
export { rewardOf, baselineStep, cleanAccuracy, episodeRewards } from './reward';
export { RlController, checkDecision } from './rl';
export { RandomController, uniformChooser } from './random';
export { type Chooser, type StepKind, UNLIMITED_HEADS, drawMasked, randomStepPlan, sampleWith, stepPlan } from './sampling';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type ControllerCheckpoint,
  ControllerCheckpointError,
  ControllerCheckpointSchema,
  type StepsOverride,
  parseCheckpoint,
  readCheckpoint,
  withSteps,
} from './checkpoint';

/** A search space configuration as written (`kind` and any settings; the rest take their defaults). */
export type SearchSpaceConfigInput = z.input<typeof SearchSpaceConfigSchema>;

function parseSearchSpace(raw: SearchSpaceConfigInput): SearchSpaceConfig {
  const r = SearchSpaceConfigSchema.safeParse(raw);
  if (!r.success) throw new Error(`invalid search space: ${r.error.issues.map((i) => `${i.path.join('.') || 'searchSpace'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** A fresh controller in the space `searchSpace` configures; the RL policy's initial weights come from `seed`. */
export function createController(kind: 'rl', config: ControllerConfigInput, searchSpace: SearchSpaceConfigInput, seed: number): RlController;
export function createController(kind: 'random', config: ControllerConfigInput, searchSpace: SearchSpaceConfigInput, seed: number): RandomController;
export function createController(kind: ControllerKind, config: ControllerConfigInput, searchSpace: SearchSpaceConfigInput, seed: number): RlController | RandomController;
export function createController(kind: ControllerKind, config: ControllerConfigInput, searchSpace: SearchSpaceConfigInput, seed: number): RlController | RandomController {
  const cfg = parseControllerConfig(config);
  const ss = parseSearchSpace(searchSpace);
  if (kind === 'random') return new RandomController(cfg, ss);
  const specs = paramSpecs(cfg, policyShapeOf(spaceOf(ss, { poolMaxSize: cfg.poolMaxSize })));
  return new RlController(cfg, ss, { params: initialValues(specs, deriveSeed(seed, 'controller-init')), baseline: null, updates: 0 });
}

/**
 * Rebuild a controller from a checkpoint (weights, Adam slots, baseline, update count, config, search space); older
 * formats are read too (src/controller/checkpoint.ts `parseCheckpoint`).
 */
export function controllerFromCheckpoint(raw: ControllerCheckpoint | unknown): RlController | RandomController {
  const ckpt = parseCheckpoint(raw);
  if (ckpt.kind === 'random') return new RandomController(ckpt.config, ckpt.searchSpace, ckpt.baseline, ckpt.updates);
  const specs = paramSpecs(ckpt.config, policyShapeOf(spaceOf(ckpt.searchSpace, { poolMaxSize: ckpt.config.poolMaxSize })));
  const shapes = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.shape]));
  // The schema guarantees params and adam for kind 'rl'.
  const params = decodeTensors(ckpt.params!, shapes, 'checkpoint params');
  const a = ckpt.adam!;
  const adam = { step: a.step, beta1Power: a.beta1Power, beta2Power: a.beta2Power, m: decodeTensors(a.m, shapes, 'checkpoint Adam m'), v: decodeTensors(a.v, shapes, 'checkpoint Adam v') };
  return new RlController(ckpt.config, ckpt.searchSpace, { params, adam, baseline: ckpt.baseline, updates: ckpt.updates });
}

export function loadController(path: string): Controller {
  return controllerFromCheckpoint(readCheckpoint(path));
}

