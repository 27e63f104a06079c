import * as fs from 'node:fs';
import type { Command } from 'commander';
import { type Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { loadSearchConfig } from '../../config/load';
import { startOrAttachSearch } from '../search-client';
import { ensureSearchAttributes } from '../../temporal/search-attributes';
import { runDirFor, runDirShown } from '../../store/root';
import { openStore } from '../../store/storage';
import { RunLayout } from '../../store/layout';
import { readSearchResult } from '../../store/result';
import { describePause, extendStageUpdate, pauseSignal, progressQuery, resumeSignal, stopSignal } from '../../workflows/definitions';
import { type ConnectionFlags, addConnectionFlags, withClient } from '../client';
import { describeProgress, pct } from '../progress';
import { referenceLines, referenceOfResult } from '../../report/reference';

const notFound = (id: string, err: unknown): never => {
  if (err instanceof WorkflowNotFoundError) throw new Error(`no search "${id}" on this Temporal server (list them with \`temporal workflow list --query 'WorkflowType="searchWorkflow"'\`)`);
  throw err;
};

export function register(program: Command): void {
  addConnectionFlags(
    program
      .command('start')
      .description('start a search on a running Temporal server (workers: `eas worker --queue control|train`); re-attaches if it is running')
      .requiredOption('--config <file>', 'search configuration (YAML or JSON)'),
  ).action(async (opts: ConnectionFlags & { config: string }) => {
    const config = loadSearchConfig(opts.config);
    await withClient(opts, async (client, namespace) => {
      await ensureSearchAttributes(client.connection as Connection, namespace);
      const { handle, attached } = await startOrAttachSearch(client, config, opts.config);
      console.log(`${attached ? 'attached to running' : 'started'} search ${handle.workflowId} (task queues ${config.taskQueues.control} / ${config.taskQueues.train})`);
      console.log(`results: ${runDirShown(config.storage.root, config.name)}`);
    });
  });

  addConnectionFlags(program.command('status <id>').description('progress of a search: stage, episode, networks, best accuracy, what is running').option('--json', 'print the progress as JSON')).action(
    async (id: string, opts: ConnectionFlags & { json?: boolean }) => {
      await withClient(opts, async (client) => {
        const handle = client.workflow.getHandle(id);
        const desc = await handle.describe().catch((e) => notFound(id, e));
        if (desc.status.name !== 'RUNNING') {
          console.log(opts.json ? JSON.stringify({ searchId: id, status: desc.status.name }) : `${id}: ${desc.status.name}`);
          return;
        }
        const p = await handle.query(progressQuery);
        // held is absent from searches whose workflow predates it.
        const why = p.pauseReason ? `\n${describePause(p.pauseReason, id)}${p.held?.length ? `\nheld until then: ${p.held.join(', ')}` : ''}` : '';
        console.log(opts.json ? JSON.stringify(p, null, 2) : `${id}: ${describeProgress(p)}${p.best ? `\nbest: ${p.best.notation}` : ''}${why}`);
      });
    },
  );

  const signalCmd = (name: 'pause' | 'resume' | 'stop', what: string, signal: SignalDefinition<[], string>) =>
    addConnectionFlags(program.command(`${name} <id>`).description(what)).action(async (id: string, opts: ConnectionFlags) => {
      await withClient(opts, async (client) => {
        await client.workflow.getHandle(id).signal(signal).catch((e) => notFound(id, e));
        console.log(`${name}: sent to ${id}`);
      });
    });
  signalCmd('pause', 'pause a search after its running episode (training in flight finishes)', pauseSignal);
  signalCmd('resume', 'resume a paused search; one that paused itself (see `eas status`) runs the failed step of the candidates it held again', resumeSignal);
  signalCmd('stop', 'stop gracefully: finish the running episode, then final-train the best networks found so far', stopSignal);

  addConnectionFlags(
    program
      .command('extend <id>')
      .description("add networks to a stage's budget")
      .requiredOption('--networks <n>', 'how many more networks', (v) => Number(v))
      .option('--stage <s>', 'stage (1-based; default the current one)', (v) => Number(v)),
  ).action(async (id: string, opts: ConnectionFlags & { networks: number; stage?: number }) => {
    await withClient(opts, async (client) => {
      const budget = await client.workflow.getHandle(id).executeUpdate(extendStageUpdate, { args: [{ networks: opts.networks, stage: opts.stage }] }).catch((e) => notFound(id, e));
      console.log(`stage budget is now ${budget} networks`);
    });
  });

  program
    .command('result <id>')
    .description("a finished search's result: the best networks and where everything is")
    .option('--runs <root>', 'run store root (default EAS_STORAGE_ROOT, else runs)', 'runs')
    .option('--json', 'print the whole result.json')
    .action(async (id: string, opts: { runs: string; json?: boolean }) => {
      const file = new RunLayout(runDirFor(opts.runs, id)).result();
      // From an object store, into this host's cache first.
      if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) await openStore(opts.runs).pull(`${id}/result.json`);
      if (!fs.existsSync(file)) throw new Error(`${file} does not exist: search "${id}" has not finished (see \`eas status ${id}\`), or --runs is not its run store`);
      const r = readSearchResult(file);
      if (opts.json) {
        console.log(JSON.stringify(r, null, 2));
        return;
      }
      console.log(printResult(r, file));
    });
}

export function printResult(r: ReturnType<typeof readSearchResult>, file: string): string {
  const lines = [
    `search ${r.searchId} (${r.dataset}, controller ${r.controller}${r.stopped ? ', stopped early' : ''}): ${r.candidates.length} networks sampled, ${r.policyUpdates} policy updates`,
    `start:  ${pct(r.start.accuracy)} val  ${r.start.notation}`,
    `best:   ${pct(r.best?.accuracy)} val  ${r.best?.notation ?? '–'}`,
    ...r.final.map((f) => `${f.network.name}: ${pct(f.network.accuracy)} test (${f.network.params} params, from ${f.from})  ${f.network.notation}`),
    ...(r.reference?.network ? [`reference: ${pct(r.reference.network.accuracy)} test (${r.reference.network.params} params, the start net given the same final training)`] : []),
    `result: ${file}`,
    // Last, so that a new user sees at once whether the search helped.
    ...referenceLines(referenceOfResult(r), r.final, r.bestFinal),
  ];
  return lines.join('\n');
}
