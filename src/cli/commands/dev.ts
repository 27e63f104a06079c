import * as path from 'node:path';
import type { Command } from 'commander';
import { type Client, type Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { loadSearchConfig } from '../../config/load';
import { startOrReuseDevServer, type DevServer } from '../../dev/server';
import { checkSameConfig, startOrAttachSearch } from '../search-client';
import { RunLayout } from '../../store/layout';
import { readSearchResult } from '../../store/result';
import { inStore, runDirFor, runDirShown, storageRoot } from '../../store/root';
import { type TemporalTarget, connectClient, connectWorker, temporalTarget } from '../../temporal/connection';
import { ensureSearchAttributes } from '../../temporal/search-attributes';
import { installCompactLogging } from '../../temporal/logging';
import { progressQuery } from '../../workflows/definitions';
import { createControlWorker } from '../../workers/control';
import { parseDevices } from '../../train/devices';
import { createTrainWorker } from '../../workers/train';
import { ProgressView } from '../progress';
import { type DashboardProcess, startDashboardProcess } from '../../ui/child';
import { printResult } from './search';

interface DevFlags {
  config: string;
  port: string;
  uiPort: string;
  devices?: string;
  progress: boolean;
  ui: boolean;
  dashboardPort: string;
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
    .option('--dashboard-port <port>', 'port of the live dashboard (eas ui) served on 127.0.0.1', process.env.EAS_UI_PORT ?? '8080')
    .option('--no-ui', 'do not serve the live dashboard')
    .action(async (flags: DevFlags) => {
      process.exitCode = await dev(flags);
    });
}

/** Thrown at the next step after Ctrl-C / SIGTERM: whatever started so far is stopped in the finally blocks. */
class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

/** A progress line: rewritten in place on a terminal, one line now and then otherwise (logs, CI). */
function progressLine(): (line: string, final: boolean) => void {
  let last = 0;
  return (line, final) => {
    if (process.stderr.isTTY) {
      process.stderr.write(`\r\x1b[2K[eas] ${line}${final ? '\n' : ''}`);
    } else if (final || last === 0 || Date.now() - last >= 30_000) {
      last = Date.now();
      say(line);
    }
  };
}

async function dev(flags: DevFlags): Promise<number> {
  installCompactLogging('WARN');
  const config = loadSearchConfig(flags.config);
  const runDir = runDirFor(config.storage.root, config.name);
  // Signals are ours from the first step on: whatever the moment, the dev server this command starts is stopped.
  const stopping = new AbortController();
  const workers: Worker[] = [];
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) {
      // A second Ctrl-C: no more waiting; the exit hook of the dev server still kills its process group.
      say('stopping now');
      process.exit(130);
    }
    say('stopping: the workers finish or checkpoint what runs; the search stays where it is — run the same command again to resume (Ctrl-C again to stop at once)');
    stopping.abort(new Interrupted());
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const check = () => {
    if (stopping.signal.aborted) throw new Interrupted();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let server: DevServer | undefined;
  let dashboard: DashboardProcess | undefined;
  try {
    if (flags.ui) dashboard = await startDashboard(flags, storageRoot(config.storage.root), config.name);
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
        progress: progressLine(),
        signal: stopping.signal,
      });
      address = server.address;
      uiUrl = server.uiUrl;
    }
    check();
    return await withConnections(temporalTarget({ address }), async (target, client, connection, workerConnection) => {
      check();
      await ensureSearchAttributes(connection, target.namespace);
      await checkSameConfig(client, config, flags.config);
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
      const running: Promise<void>[] = [];
      const view = new ProgressView();
      try {
        // Each worker runs as soon as it exists, so that a signal can shut it down (a worker that never ran cannot be).
        for (const make of [
          () => createControlWorker({ connection: workerConnection, namespace: target.namespace, taskQueue: config.taskQueues.control, shutdownGraceTime: '5s' }),
          () => createTrainWorker({ connection: workerConnection, namespace: target.namespace, taskQueue: config.taskQueues.train, devices: parseDevices(flags.devices), shutdownGraceTime: '5s' }),
        ]) {
          check();
          const w = await make();
          workers.push(w);
          running.push(w.run());
        }
        check();
        const { handle, attached } = await startOrAttachSearch(client, config, flags.config);
        say(attached ? `resuming search ${config.name} from its last completed step` : existing ? `restarting search ${config.name} (previous run ${existing.status.name}); finished steps are reused from ${runDir}` : `started search ${config.name}`);
        if (uiUrl) say(`Web UI: ${uiUrl}/namespaces/${target.namespace}/workflows/${encodeURIComponent(config.name)}`);
        say(`results: ${runDirShown(config.storage.root, config.name)}`);

        // Poll rather than long-poll the result: nothing may be in flight on the connection when Ctrl-C closes it.
        while (!stopping.signal.aborted) {
          if ((await handle.describe()).status.name !== 'RUNNING') break;
          if (flags.progress) {
            const p = await handle.query(progressQuery).catch(() => undefined);
            if (p) view.update(p);
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
        view.stop();
        check();
        // The workflow names the result relative to the run-store root (each host resolves it on its own mount).
        const file = inStore(storageRoot(config.storage.root), (await handle.result()).resultFile);
        console.log(`report: eas report ${config.name} --runs ${storageRoot(config.storage.root)}`);
        // The result last: its final lines compare the finals with the start net given the same final training.
        console.log(printResult(readSearchResult(file), file));
        return 0;
      } finally {
        view.stop();
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        // The connections close after the workers stopped, and the server after both.
        await Promise.allSettled(running);
      }
    });
  } catch (err) {
    if (err instanceof Interrupted || stopping.signal.aborted) return 130;
    throw err;
  } finally {
    // Still ours while the server stops: a signal now ends eas at once, and the exit hook kills the server's group.
    await dashboard?.close();
    await server?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * The live dashboard (`eas ui`) over this search's run store, read-only on 127.0.0.1, in a process of its own (its
 * run-store reads stay off the event loop that serves the workflows). A port already taken costs the dashboard only
 * (with a warning), never the search.
 */
async function startDashboard(flags: DevFlags, root: string, searchId: string): Promise<DashboardProcess | undefined> {
  const local = !process.env.TEMPORAL_ADDRESS;
  try {
    const ui = await startDashboardProcess({
      root,
      port: Number(flags.dashboardPort),
      address: local ? `localhost:${flags.port}` : undefined,
      webUi: local ? `http://localhost:${flags.uiPort}` : null,
      log: (m) => say(`dashboard: ${m}`),
    });
    const port = new URL(ui.url).port;
    say(`dashboard: ${ui.url}/s/${encodeURIComponent(searchId)} (all searches: ${ui.url}; on a remote host: ssh -NL ${port}:localhost:${port} <host>)`);
    return ui;
  } catch (err) {
    say(`dashboard not started (${(err as Error).message}); choose another --dashboard-port, or --no-ui`);
    return undefined;
  }
}

async function withConnections<T>(
  target: TemporalTarget,
  fn: (target: TemporalTarget, client: Client, connection: Connection, workerConnection: NativeConnection) => Promise<T>,
): Promise<T> {
  const { client, connection } = await connectClient(target);
  try {
    const workerConnection = await connectWorker(target);
    try {
      return await fn(target, client, connection, workerConnection);
    } finally {
      await workerConnection.close();
    }
  } finally {
    await connection.close();
  }
}
