import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Everything else the standard configuration gave (TLS, API key, headers), for both connection kinds. */
  connectionOptions: Record<string, unknown>;
}

/**
 * Where Temporal is: the standard TEMPORAL_* environment and profile file (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE, TEMPORAL_API_KEY, TLS …) through @temporalio/envconfig, then localhost:7233.
 */
export function temporalTarget(overrides: { address?: string; namespace?: string } = {}): TemporalTarget {
  const cfg = loadClientConnectConfig();
  const connectionOptions = { ...(cfg.connectionOptions as Record<string, unknown>) };
  const address = overrides.address ?? (connectionOptions.address as string | undefined) ?? 'localhost:7233';
  return { address, namespace: overrides.namespace ?? cfg.namespace ?? 'default', connectionOptions: { ...connectionOptions, address } };
}

export async function connectClient(target: TemporalTarget = temporalTarget()): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect(target.connectionOptions as Parameters<typeof Connection.connect>[0]);
  return { client: new Client({ connection, namespace: target.namespace }), connection };
}

export async function connectWorker(target: TemporalTarget = temporalTarget()): Promise<NativeConnection> {
  return NativeConnection.connect(target.connectionOptions as Parameters<typeof NativeConnection.connect>[0]);
}
