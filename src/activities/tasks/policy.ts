import { z } from 'zod';
import { type Controller, type SampleSteps, controllerFromCheckpoint, createController, readCheckpoint, sampleSchemaFor, withSteps } from '../../controller';
import type { AnySearchSpace, SearchSpaceConfig } from '../../space';
import type { SamplePolicyInput } from '../contract';

/** An episode's samples file, its samples read with the search space's schemas (older formats upgraded). */
export const samplesFileSchema = (space: AnySearchSpace) => z.object({ stage: z.number(), episode: z.number(), seed: z.number(), samples: z.array(sampleSchemaFor(space)) });

/** The latest policy checkpoint (sampling `steps`, the current stage's, when given), or a fresh policy from its seed. */
export function openController(policy: string | null, controller: SamplePolicyInput['controller'], searchSpace: SearchSpaceConfig, policySeed: number, steps?: SampleSteps): Controller {
  if (policy) {
    const ckpt = readCheckpoint(policy);
    return controllerFromCheckpoint(steps ? withSteps(ckpt, steps) : ckpt);
  }
  const { kind, ...cfg } = controller;
  return createController(kind, steps ? { ...cfg, ...steps } : cfg, searchSpace, policySeed);
}
