import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeReport } from '../../report';
import { writeExperimentReport } from '../../report/compare-experiment';
import { ExperimentLayout } from '../../store/layout';
import { toStore } from '../../store/root';
import { openStore } from '../../store/storage';

/** Whether `id` names an experiment (its record pulled first when the store is an object store). */
async function isExperiment(id: string, runs: string | undefined): Promise<boolean> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) return false;
  const store = openStore('runs', runs);
  const record = new ExperimentLayout(path.join(store.root, id)).record();
  await store.pull(toStore(store.root, record));
  return fs.existsSync(record);
}

/** `eas report <id>`: the search's HTML report with Figure 4/5-style plots, lineage and results table. */
export function register(program: Command): void {
  program
    .command('report')
    .description('write an HTML report of a search (progress and RL-vs-random figures as SVG/PNG, lineage, results); works on running searches too')
    .argument('<id>', 'search or experiment id (its folder under the storage root)')
    .option('--runs <dir>', 'storage root (default: $EAS_STORAGE_ROOT or ./runs)')
    .option('--out <dir>', 'output directory (default: <runs>/<id>/report)')
    .option('--compare <id>', 'search id of a comparison run in the same storage root (default: <id>-random when it exists)')
    .action(async (id: string, o: { runs?: string; out?: string; compare?: string }) => {
      // An experiment (issue 21): its comparison and Fig. 5 across seeds, as `eas compare` writes them.
      if (await isExperiment(id, o.runs)) {
        const e = await writeExperimentReport({ experimentId: id, runs: o.runs, out: o.out });
        if (!e.comparison.complete) console.error(`eas report: experiment ${id} is in progress; the report shows what exists so far`);
        console.log(e.html);
        if (e.png) console.log(e.png);
        return;
      }
      const r = await writeReport({ searchId: id, runs: o.runs, out: o.out, compare: o.compare });
      if (!r.complete) console.error(`eas report: search ${id} is in progress; the report shows what exists so far`);
      if (r.compare) console.error(`eas report: compared with ${r.compare.searchId} (${r.compare.source === 'option' ? '--compare' : 'sibling run'})`);
      console.log(r.html);
      for (const png of r.pngs) console.log(png);
    });
}
