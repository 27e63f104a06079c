import { Command, InvalidArgumentError } from 'commander';
import { DATASETS } from '../../data/catalog';
import { locateDataset } from '../../data/locate';
import { loadSplits } from '../../data/protocol';
import { DatasetNameSchema, type Part, type RealDatasetName } from '../../data/types';

function datasetArg(value: string): string {
  const parsed = DatasetNameSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(`expected one of: ${DatasetNameSchema.options.join(', ')}`);
  return parsed.data;
}

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}

const fmt = (xs: number[]) => xs.map((v) => v.toFixed(3)).join(', ');

/** `eas data fetch|info`: find or download a dataset, and show what the training engine will see. */
export function register(program: Command): void {
  const data = program.command('data').description('datasets: find, download and inspect');

  data
    .command('fetch')
    .description('find a dataset (data dir, system locations) or download it, verifying checksums; prints where it is')
    .argument('<dataset>', `one of ${DatasetNameSchema.options.join(', ')}`, datasetArg)
    .option('--dir <dir>', 'data directory (default: $EAS_DATA_DIR or .eas/data)')
    .option('--without-extra', "SVHN: skip the 1.3 GB extra set (only needed for final training)")
    .option('--mirror <url>', 'download from this base URL instead of the published location')
    .action(async (name: string, o: { dir?: string; withoutExtra?: boolean; mirror?: string }) => {
      const parts: Part[] | undefined = name === 'svhn' && !o.withoutExtra ? ['train', 'test', 'extra'] : undefined;
      const found = await locateDataset(name, { dataDir: o.dir, download: true, parts, mirror: o.mirror });
      if (found.source === 'generated') {
        console.log(`${name}: generated in memory from a seed; nothing to fetch`);
        return;
      }
      console.log(`${name}: ${found.dir} (${found.source})`);
      for (const [part, files] of Object.entries(found.files)) console.log(`  ${part}: ${files.join(', ')}`);
    });

  data
    .command('info')
    .description('load a dataset with the paper protocol and print split sizes and normalisation')
    .argument('<dataset>', `one of ${DatasetNameSchema.options.join(', ')}`, datasetArg)
    .option('--dir <dir>', 'data directory (default: $EAS_DATA_DIR or .eas/data)')
    .option('--mode <mode>', 'search or final', 'search')
    .option('--seed <n>', 'split seed', intArg, 0)
    .action(async (name: string, o: { dir?: string; mode: string; seed: number }) => {
      if (o.mode !== 'search' && o.mode !== 'final') throw new InvalidArgumentError(`--mode: expected search or final, got ${o.mode}`);
      const splits = await loadSplits({ dataset: name as RealDatasetName, dataDir: o.dir, mode: o.mode, seed: o.seed });
      const where = splits.location.dir ?? 'generated';
      console.log(`${name} (${o.mode} mode, seed ${o.seed}) from ${where}`);
      for (const s of [splits.train, splits.eval]) console.log(`  ${s.name}: ${s.count} images ${s.shape.join('×')}, ${s.classes} classes`);
      console.log(`  normalisation mean [${fmt(splits.normalization.mean)}] std [${fmt(splits.normalization.std)}] (0..255 units)`);
      console.log(`  standard augmentation (C10+): ${splits.standardAugment ? 'yes' : 'no'}`);
      if (name in DATASETS) console.log(`  source: ${DATASETS[name as RealDatasetName].homepage}`);
    });
}
