import * as path from 'node:path';
import type { Command } from 'commander';
import { type Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { loadSearchConfig } from '../../config/load';
import { startOrReuseDevServer, type DevServer } from '../../dev/server';
import { startOrAttachSearch } from '../../search/client';
import { RunLayout } from '../../store/layout';
import { readSearchResult } from '../../store/result';
import { runDirFor, storageRoot } from '../../store/root';
import { connectClient, connectWorker, temporalTarget } from '../../temporal/connection';
import { ensureSearchAttributes } from '../../temporal/search-attributes';
import { installCompactLogging } from '../../temporal/logging';
import { progressQuery } from '../../workflows/definitions';
import { createControlWorker } from '../../workers/control';
import { parseDevices } from '../../workers/devices';
import { createTrainWorker } from '../../workers/train';
import { ProgressView } from '../progress';
import { printResult } from './search';

interface DevFlags {
  config: string;
  port: string;
  uiPort: string;
  devices?: string;
  progress: boolean;
}

const say = (msg: string) => process.stderr.write(`[eas] ${msg}\n`);

export function register(program: Command): void {
  program
    .command('dev')
    .description('run a search on this machine: a local Temporal dev server (state kept in the run store), the workers, the search, a live progress bar; run it again to resume')
    .requiredOption('--config <file>', 'search configuration (YAML or JSON)')
    .option('--port <port>', 'port of the local Temporal dev server (ignored when TEMPORAL_ADDRESS is set)', process.env.EAS_DEV_PORT ?? '7233')
    .option('--ui-port <port>', 'port of its Web UI', process.env.EAS_DEV_UI_PORT ?? '8233')
    .option('--devices <list>', 'training devices: a count or GPU ids like "0,1" (default EAS_DEVICES, else one)')
    .option('--no-progress', 'no progress bar')
    .action(async (flags: DevFlags) => {
      process.exitCode = await dev(flags);
    });
}

async function dev(flags: DevFlags): Promise<number> {
  installCompactLogging('WARN');
  const config = loadSearchConfig(flags.config);
  const runDir = runDirFor(config.storage.root, config.name);
  let server: DevServer | undefined;
  let address: string | undefined;
  let uiUrl: string | null = null;
  if (process.env.TEMPORAL_ADDRESS) {
    say(`using the Temporal server at TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS}`);
  } else {
    server = await startOrReuseDevServer({
      dbFile: path.join(storageRoot(config.storage.root), '.temporal', 'dev.db'),
      port: Number(flags.port),
      uiPort: Number(flags.uiPort),
      log: say,
    });
    address = server.address;
    uiUrl = server.uiUrl;
  }
  const target = temporalTarget({ address });
  const { client, connection } = await connectClient(target);
  const workerConnection = await connectWorker(target);
  const workers: Worker[] = [];
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    say('stopping: the workers finish or checkpoint what runs; the search stays where it is — run the same command again to resume');
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const view = new ProgressView();
  try {
    await ensureSearchAttributes(connection as Connection, target.namespace);
    const existing = await client.workflow
      .getHandle(config.name)
      .describe()
      .catch((e) => (e instanceof WorkflowNotFoundError ? undefined : Promise.reject(e)));
    const resultFile = new RunLayout(runDir).result();
    if (existing?.status.name === 'COMPLETED') {
      say(`search ${config.name} has already finished`);
      console.log(printResult(readSearchResult(resultFile), resultFile));
      return 0;
    }
    workers.push(await createControlWorker({ connection: workerConnection, namespace: target.namespace, taskQueue: config.taskQueues.control, shutdownGraceTime: '5s' }));
    workers.push(await createTrainWorker({ connection: workerConnection, namespace: target.namespace, taskQueue: config.taskQueues.train, devices: parseDevices(flags.devices), shutdownGraceTime: '5s' }));
    const running = workers.map((w) => w.run());
    const { handle, attached } = await startOrAttachSearch(client, config, flags.config);
    say(attached ? `resuming search ${config.name} from its last completed step` : existing ? `restarting search ${config.name} (previous run ${existing.status.name}); finished steps are reused from ${runDir}` : `started search ${config.name}`);
    if (uiUrl) say(`Web UI: ${uiUrl}/namespaces/${target.namespace}/workflows/${encodeURIComponent(config.name)}`);
    say(`results: ${runDir}`);

    // Poll rather than long-poll the result: nothing may be in flight on the connection when Ctrl-C closes it.
    while (!interrupted) {
      if ((await handle.describe()).status.name !== 'RUNNING') break;
      if (flags.progress) {
        const p = await handle.query(progressQuery).catch(() => undefined);
        if (p) view.update(p);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    view.stop();
    if (interrupted) {
      await Promise.allSettled(running);
      return 130;
    }
    const summary = await handle.result();
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    console.log(printResult(readSearchResult(summary.resultFile), summary.resultFile));
    console.log(`report: eas report ${config.name} --runs ${storageRoot(config.storage.root)}`);
    return 0;
  } finally {
    view.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await connection.close();
    await workerConnection.close();
    await server?.stop();
  }
}
