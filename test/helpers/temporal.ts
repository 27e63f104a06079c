import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { findTemporalCli } from '../../src/temporal/cli-path';
import { DEV_SERVER_ARGS } from '../../src/dev/server';

let runtimeInstalled = false;

/** Keep worker logs quiet in tests unless EAS_TEST_VERBOSE is set. */
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  if (!process.env.EAS_TEST_VERBOSE) Runtime.install({ logger: new DefaultLogger('WARN') });
}

export interface DevServerOptions {
  /** Sqlite file, so a restarted server keeps its state. */
  dbFilename?: string;
  port?: number;
  searchAttributes?: Parameters<typeof TestWorkflowEnvironment.createLocal>[0] extends infer O ? (O extends { server?: { searchAttributes?: infer S } } ? S : never) : never;
}

/**
 * A real `temporal server start-dev` started from the installed Temporal CLI. Fails (never skips) when the CLI is
 * missing, with the install hint.
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  const cli = findTemporalCli();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      dbFilename: opts.dbFilename,
      port: opts.port,
      searchAttributes: opts.searchAttributes,
      log: { format: 'pretty', level: 'warn' },
      // As `eas dev` runs it.
      extraArgs: [...DEV_SERVER_ARGS],
    },
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `eas-${prefix}-`));
}
