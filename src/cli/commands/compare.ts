import type { Command } from 'commander';
import { compareExperiment, formatComparison } from '../../experiment/compare';
import { loadExperiment, pullExperiment } from '../../experiment/results';
import { writeExperimentReport } from '../../report/compare-experiment';

/** The comparison of an experiment, printed (a plain table, or JSON); works while it runs (partial results). */
export async function printComparison(experimentId: string, opts: { runs?: string; json?: boolean }): Promise<void> {
  const c = compareExperiment(loadExperiment(await pullExperiment(opts.runs, experimentId), experimentId));
  console.log(opts.json ? JSON.stringify(c, null, 2) : formatComparison(c));
}

/** `eas compare <experiment>`: per arm mean and 95 % bootstrap CI, paired differences by seed with Wilcoxon p, Fig. 5. */
export function register(program: Command): void {
  program
    .command('compare')
    .description("compare an experiment's arms: per arm mean and 95% bootstrap CI of final test accuracy, best validation accuracy, parameters and wall time; paired differences by seed with a Wilcoxon signed-rank p-value; Fig. 5 (running best per seed) as SVG/PNG")
    .argument('<experiment>', 'experiment id (its folder under the storage root)')
    .option('--runs <dir|s3://bucket/prefix>', 'storage root (default: $EAS_STORAGE_ROOT or ./runs)')
    .option('--json', 'print the comparison as JSON')
    .option('--out <dir>', 'report folder for fig5.svg/png and comparison.txt/json (default: <runs>/<experiment>/report)')
    .option('--no-figure', 'print only; write no report folder')
    .action(async (id: string, o: { runs?: string; json?: boolean; out?: string; figure: boolean }) => {
      if (!o.figure) {
        await printComparison(id, o);
        return;
      }
      const r = await writeExperimentReport({ experimentId: id, runs: o.runs, out: o.out });
      console.log(o.json ? JSON.stringify(r.comparison, null, 2) : r.text);
      if (!o.json) {
        console.log('');
        console.log(`report: ${r.dir}${r.png ? ` (fig5.png, fig5.svg)` : ' (no figure yet: no search has finished)'}`);
      }
    });
}
