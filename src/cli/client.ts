import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { connectClient, temporalTarget } from '../temporal/connection';

export interface ConnectionFlags {
  address?: string;
  namespace?: string;
}

export function addConnectionFlags(cmd: Command): Command {
  return cmd
    .option('--address <host:port>', 'Temporal server (default TEMPORAL_ADDRESS or the TEMPORAL_* profile, else localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default TEMPORAL_NAMESPACE, else "default")');
}

/** Connect, run, close; a server that is not there gives an error that says where eas looked. */
export async function withClient<T>(flags: ConnectionFlags, fn: (client: Client, namespace: string) => Promise<T>): Promise<T> {
  const target = temporalTarget(flags);
  let conn;
  try {
    conn = await connectClient(target);
  } catch (err) {
    throw new Error(`cannot reach Temporal at ${target.address} (namespace ${target.namespace}): ${(err as Error).message}. Start one with \`eas dev\` or \`temporal server start-dev\`, or set TEMPORAL_ADDRESS.`, { cause: err });
  }
  try {
    return await fn(conn.client, target.namespace);
  } finally {
    await conn.connection.close();
  }
}
