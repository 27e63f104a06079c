import type { LoadSplitsOptions } from '../data/protocol';
import type { DatasetConfig } from '../config/search-config';

/** The data module's options for a dataset as configured in a search. */
export function splitsOptions(d: DatasetConfig, mode: 'search' | 'final', seed: number): LoadSplitsOptions {
  return { dataset: d.name, dataDir: d.dataDir, mode, seed, validationSize: d.validationSize, download: d.download, limit: d.limit, synthetic: d.synthetic };
}
