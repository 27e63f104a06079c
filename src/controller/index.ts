import type { SearchSpace } from '../arch';
import { deriveSeed } from '../util/rng';
import { type ControllerCheckpoint, decodeTensors, parseCheckpoint, readCheckpoint } from './checkpoint';
import { type ControllerConfigInput, parseControllerConfig } from './config';
import { initialValues, paramSpecs } from './policy';
import { RandomController } from './random';
import { RlController } from './rl';
import type { Controller, ControllerKind } from './types';
import { Vocabulary } from './vocab';

export * from './config';
export * from './types';
export { rewardOf, baselineStep, cleanAccuracy } from './reward';
export { RlController } from './rl';
export { RandomController } from './random';
export { Vocabulary } from './vocab';
export { type ControllerCheckpoint, ControllerCheckpointSchema, parseCheckpoint, readCheckpoint } from './checkpoint';

/** A fresh controller; the RL policy's initial weights come from `seed`. */
export function createController(config: ControllerConfigInput, space: SearchSpace, seed: number, kind: ControllerKind = 'rl'): RlController | RandomController {
  const cfg = parseControllerConfig(config);
  if (kind === 'random') return new RandomController(cfg, space);
  const specs = paramSpecs(cfg, space, new Vocabulary(space, cfg.poolMaxSize).size);
  return new RlController(cfg, space, { params: initialValues(specs, deriveSeed(seed, 'controller-init')), baseline: null, updates: 0 });
}

/** Rebuild a controller from a parsed checkpoint (weights, Adam slots, baseline, update count, config, space). */
export function controllerFromCheckpoint(raw: ControllerCheckpoint | unknown): Controller {
  const ckpt = parseCheckpoint(raw);
  if (ckpt.kind === 'random') return new RandomController(ckpt.config, ckpt.space, ckpt.baseline, ckpt.updates);
  const specs = paramSpecs(ckpt.config, ckpt.space, new Vocabulary(ckpt.space, ckpt.config.poolMaxSize).size);
  const shapes = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, s.shape]));
  // The schema guarantees params and adam for kind 'rl'.
  const params = decodeTensors(ckpt.params!, shapes, 'checkpoint params');
  const a = ckpt.adam!;
  const adam = { step: a.step, beta1Power: a.beta1Power, beta2Power: a.beta2Power, m: decodeTensors(a.m, shapes, 'checkpoint Adam m'), v: decodeTensors(a.v, shapes, 'checkpoint Adam v') };
  return new RlController(ckpt.config, ckpt.space, { params, adam, baseline: ckpt.baseline, updates: ckpt.updates });
}

export function loadController(path: string): Controller {
  return controllerFromCheckpoint(readCheckpoint(path));
}
