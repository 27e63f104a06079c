import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SearchConfigInput } from '../../src/config/search-config';

/** A real but tiny search: synthetic 8×8 images, a two-conv start net, 2 stages × 2 episodes × 2 networks, 1 epoch each. */
export function tinySearchConfig(name: string, root: string, overrides: Partial<SearchConfigInput> = {}): SearchConfigInput {
  return {
    name,
    dataset: { name: 'synthetic', validationSize: 64, synthetic: { train: 384, test: 128, shape: [8, 8, 1], classes: 4, seed: 3 } },
    startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(4)', epochs: 1 },
    stages: [
      { networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 1 },
      { networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
    ],
    final: { topK: 1, epochs: 1 },
    training: { batchSize: 32 },
    backend: 'auto',
    seed: 7,
    storage: { root },
    taskQueues: { control: `${name}-control`, train: `${name}-train` },
    ...overrides,
  };
}

export function policyCheckpoints(runDir: string): string[] {
  const dir = path.join(runDir, 'policy');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^policy-\d+\.json$/.test(f)) : [];
}
