import type { ControllerConfig } from '../controller/config';
import { denseParamCount } from './analysis';
import type { DenseNet } from './schema';

/** The plain space's reward (src/controller/reward.ts) with the DenseNet's parameter count for the optional penalty. */
export function denseReward(acc: number, net: DenseNet, config: ControllerConfig): number {
  const a = Math.min(Math.max(acc, 0), config.accClip);
  const base = config.reward === 'tan' ? Math.tan((a * Math.PI) / 2) : a;
  return config.paramPenalty > 0 ? base - (config.paramPenalty * denseParamCount(net)) / 1e6 : base;
}
