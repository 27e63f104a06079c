import type { Command } from 'commander';
import { writeReport } from '../../report';

/** `eas report <id>`: the search's HTML report with Figure 4/5-style plots, lineage and results table. */
export function register(program: Command): void {
  program
    .command('report')
    .description('write an HTML report of a search (progress and RL-vs-random figures as SVG/PNG, lineage, results); works on running searches too')
    .argument('<id>', 'search id (its folder under the storage root)')
    .option('--runs <dir>', 'storage root (default: $EAS_STORAGE_ROOT or ./runs)')
    .option('--out <dir>', 'output directory (default: <runs>/<id>/report)')
    .option('--compare <id>', 'search id of a comparison run in the same storage root (default: <id>-random when it exists)')
    .action(async (id: string, o: { runs?: string; out?: string; compare?: string }) => {
      const r = await writeReport({ searchId: id, runs: o.runs, out: o.out, compare: o.compare });
      if (!r.complete) console.error(`eas report: search ${id} is in progress; the report shows what exists so far`);
      if (r.compare) console.error(`eas report: compared with ${r.compare.searchId} (${r.compare.source === 'option' ? '--compare' : 'sibling run'})`);
      console.log(r.html);
      for (const png of r.pngs) console.log(png);
    });
}
