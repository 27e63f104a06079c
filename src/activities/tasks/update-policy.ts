import * as fs from 'node:fs';
import { z } from 'zod';
import { initBackend } from '../../backend';
import { ConfigError } from '../../config/search-config';
import { spaceOf } from '../../space';
import { claimInputs } from '../../store/inputs';
import { inStore, toStore } from '../../store/root';
import { writeJsonAtomic } from '../../util/atomic';
import { readJsonFile } from '../../util/files';
import { type UpdatePolicyOutput, UpdatePolicyInputSchema } from '../contract';
import { StoreFileError } from '../errors';
import { log, parseEnvelope } from './envelope';
import { openController, samplesFileSchema } from './policy';

const PolicySummarySchema = z.object({ updates: z.number().int(), baseline: z.number(), meanReward: z.number() }).passthrough();

/** One REINFORCE update from an episode; the next policy checkpoint is written once and returned on every retry. */
export async function updatePolicyTask(raw: unknown): Promise<UpdatePolicyOutput> {
  const { root, input } = parseEnvelope(UpdatePolicyInputSchema, raw, 'updatePolicy');
  const output = inStore(root, input.output);
  const summaryFile = `${output}.summary.json`;
  const { storageRoot: _root, ...determining } = input;
  claimInputs(output, determining, 'this policy checkpoint');
  if (!fs.existsSync(output) || !fs.existsSync(summaryFile)) {
    await initBackend({ log });
    const space = spaceOf(input.searchSpace, { poolMaxSize: input.controller.poolMaxSize });
    const samplesFile = inStore(root, input.samplesFile);
    const { samples } = readJsonFile(samplesFile, samplesFileSchema(space), 'episode samples', StoreFileError);
    if (samples.length !== input.accuracies.length) throw new ConfigError(samplesFile, [{ path: 'accuracies', message: `${input.accuracies.length} accuracies for ${samples.length} samples` }]);
    const controller = openController(input.policy && inStore(root, input.policy), input.controller, input.searchSpace, input.policySeed);
    try {
      const stats = controller.update(samples, input.accuracies, { stageStart: input.stageStart === true });
      controller.save(output);
      writeJsonAtomic(summaryFile, { updates: stats.updates, ...(input.stageStart ? { stageStart: true } : {}), baseline: stats.baseline, meanReward: stats.meanReward, rewards: stats.rewards, advantages: stats.advantages, loss: stats.loss, entropy: stats.entropy });
    } finally {
      controller.dispose();
    }
  }
  const s = readJsonFile(summaryFile, PolicySummarySchema, 'policy update summary', StoreFileError);
  return { policy: toStore(root, output), updates: s.updates, baseline: s.baseline, meanReward: s.meanReward };
}
