import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SearchConfigInput } from '../../src/config/search-config';
import type { SearchResult } from '../../src/store/result';

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

/** What two runs of the same config and seed must share: every network's architecture and accuracy, the reference, the gains. */
export function searchOutcome(r: SearchResult) {
  return {
    start: [r.start.notation, r.start.accuracy],
    candidates: r.candidates.map((c) => [c.name, c.network.notation, c.network.accuracy, c.failed]),
    best: r.best?.notation,
    final: r.final.map((f) => [f.network.notation, f.network.accuracy]),
    reference: [r.reference?.network?.notation, r.reference?.network?.accuracy, r.reference?.failed],
    gains: r.gains,
  };
}
