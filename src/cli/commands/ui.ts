import type { Command } from 'commander';
import { openStore } from '../../store/storage';
import { EXIT_WITH_PARENT } from '../../ui/child';
import { isLoopback, startUiServer } from '../../ui/server';
import { sourceFor } from '../../ui/source';

interface UiFlags {
  port: string;
  host: string;
  runs?: string;
  address?: string;
  namespace?: string;
  temporal: boolean;
  temporalUi?: string;
}

/** `eas ui`: the live dashboard over the run store (read-only). */
export function register(program: Command): void {
  program
    .command('ui')
    .description('serve a read-only live dashboard of every search and experiment in the run store (running or finished) on http://127.0.0.1:8080')
    .option('--port <port>', 'port to listen on (0: any free one)', process.env.EAS_UI_PORT ?? '8080')
    .option('--host <host>', 'interface to bind; anything but loopback exposes the run store to the network', '127.0.0.1')
    .option('--runs <dir|s3://bucket/prefix>', 'storage root: a directory, or an object store read through this host\'s cache (EAS_CACHE_DIR; credentials from the AWS_* settings) (default: $EAS_STORAGE_ROOT or ./runs)')
    .option('--address <host:port>', 'Temporal server for live status (default TEMPORAL_ADDRESS or the TEMPORAL_* profile, else localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default TEMPORAL_NAMESPACE, else "default")')
    .option('--temporal-ui <url>', 'Temporal Web UI base URL, for links to steps (default http://localhost:8233 when the server is local)')
    .option('--no-temporal', 'no live status from Temporal: the run store only')
    .action(async (flags: UiFlags) => {
      const log = (m: string) => process.stderr.write(`[eas ui] ${m}\n`);
      // A directory is read as it is; an object store through this host's cache, each folder pulled (only what
      // changed, what the pages need) when a page asks for it (src/ui/source.ts).
      const store = openStore('runs', flags.runs);
      const source = sourceFor(store, log);
      const root = source.url;
      if (!isLoopback(flags.host)) {
        process.stderr.write(`[eas] warning: --host ${flags.host} is not a loopback address: anyone who can reach this host can read the run store ${root} through the dashboard (read-only, no authentication). Prefer an SSH tunnel: ssh -NL 8080:localhost:8080 <host>\n`);
      }
      const server = await startUiServer({
        source,
        port: Number(flags.port),
        host: flags.host,
        temporal: flags.temporal ? { address: flags.address, namespace: flags.namespace, webUi: flags.temporalUi ?? defaultWebUi(flags.address) } : false,
        log,
      });
      console.log(`eas ui: ${server.url} (run store ${root}${source.remote ? `, cached in ${source.root}` : ''}; Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        let stopped = false;
        const stop = () => {
          if (stopped) return;
          stopped = true;
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        // Started by `eas dev` (src/ui/child.ts): stop with it, however it ends (its end of our stdin closes).
        if (process.env[EXIT_WITH_PARENT] === '1') process.stdin.once('end', stop).resume();
      });
    });
}

/** The dev server's Web UI sits on 8233 beside a local frontend on 7233 (eas dev's defaults). */
export function defaultWebUi(address: string | undefined): string | null {
  const a = address ?? process.env.TEMPORAL_ADDRESS ?? 'localhost:7233';
  return /^(localhost|127\.0\.0\.1):7233$/.test(a) ? 'http://localhost:8233' : null;
}
