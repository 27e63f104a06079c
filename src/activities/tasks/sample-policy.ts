import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../backend';
import { CHECKPOINT_FILES, loadNetwork } from '../../checkpoint';
import { spaceOf } from '../../space';
import { claimInputs } from '../../store/inputs';
import { RunLayout } from '../../store/layout';
import { inStore, toStore } from '../../store/root';
import { writeJsonAtomic } from '../../util/atomic';
import { readJsonFile } from '../../util/files';
import { type SampledCandidate, type SamplePolicyOutput, SamplePolicyInputSchema } from '../contract';
import { StoreFileError } from '../errors';
import { cachedRead, log, parseEnvelope } from './envelope';
import { openController, samplesFileSchema } from './policy';

/** Samples an episode's networks from the policy; the samples file is written once and returned on every retry. */
export async function samplePolicyTask(raw: unknown): Promise<SamplePolicyOutput> {
  const { root, input } = parseEnvelope(SamplePolicyInputSchema, raw, 'samplePolicy');
  const layout = new RunLayout(inStore(root, input.runDir));
  const file = layout.samples(input.stage, input.episode);
  const { storageRoot: _root, runDir: _dir, stage: _s, episode: _e, ...determining } = input;
  claimInputs(file, determining, `the samples of stage ${input.stage + 1} episode ${input.episode}`);
  const space = spaceOf(input.searchSpace, { poolMaxSize: input.controller.poolMaxSize });
  if (!fs.existsSync(file)) {
    await initBackend({ log });
    // Through the same cache as the transforms, which load this network next on this process.
    const startDir = inStore(root, input.start);
    const start = cachedRead(path.join(startDir, CHECKPOINT_FILES.weights), `network ${startDir}`, () => loadNetwork(startDir)).arch;
    const steps = { widerSteps: input.widerSteps, deeperSteps: input.deeperSteps };
    const controller = openController(input.policy && inStore(root, input.policy), input.controller, input.searchSpace, input.policySeed, steps);
    try {
      const samples = controller.sample(start, input.n, input.seed, steps);
      writeJsonAtomic(file, { stage: input.stage, episode: input.episode, seed: input.seed, samples });
    } finally {
      controller.dispose();
    }
  }
  const { samples } = readJsonFile(file, samplesFileSchema(space), 'episode samples', StoreFileError);
  return {
    samplesFile: toStore(root, file),
    // The actions were read with the space's own schema (samplesFileSchema), so they are that space's.
    candidates: samples.map((s, index) => ({ index, actions: s.actions as SampledCandidate['actions'], notation: space.notation(s.net), key: space.key(s.net), params: space.params(s.net) })),
  };
}
