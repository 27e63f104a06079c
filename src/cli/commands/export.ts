import { type Command, InvalidArgumentError } from 'commander';
import { exportNetworks } from '../../export';
import { pointsText, ratioText } from '../../report/reference';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** `eas export <id>`: the best networks of a search as TensorFlow.js Layers artifacts with architecture, curve, accuracy. */
export function register(program: Command): void {
  program
    .command('export')
    .description('export the best networks of a search (by final test accuracy, else validation accuracy) as TensorFlow.js Layers models')
    .argument('<id>', 'search id (its folder under the storage root)')
    .option('--runs <dir>', 'storage root (default: $EAS_STORAGE_ROOT or ./runs)')
    .option('--top <k>', 'number of networks', positiveInt, 3)
    .option('--out <dir>', 'output directory (default: <runs>/<id>/export)')
    .option('--to <dir|s3://bucket/prefix>', 'export to this folder, or to an object store (the same as --out)')
    .action(async (id: string, o: { runs?: string; top: number; out?: string; to?: string }) => {
      const r = await exportNetworks({ searchId: id, runs: o.runs, top: o.top, out: o.to ?? o.out });
      console.error(`eas export: ${r.manifest.networks.length} network(s) by ${r.manifest.selectedBy}${r.manifest.complete ? '' : ' (search in progress)'}`);
      for (const n of r.manifest.networks) {
        const vs = n.vsStartNet ? `\t${pointsText(n.vsStartNet.testPoints)} vs start net, ${ratioText(n.vsStartNet.paramRatio)} its params` : '';
        console.log(`${n.rank}\t${n.name}\t${n.metric} ${(n.accuracy * 100).toFixed(2)}%\t${n.params} params${vs}\t${r.dir}/${n.dir}/model.json`);
      }
      const ref = r.manifest.reference;
      if (ref) console.error(`eas export: the start net given the same final training tests ${ref.testAccuracy === null ? '–' : `${(ref.testAccuracy * 100).toFixed(2)}%`} with ${ref.params} params`);
      console.log(r.dir);
    });
}
