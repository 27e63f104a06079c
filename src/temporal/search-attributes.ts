import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions';

const INDEXED: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
};

/**
 * Registers eas's search attributes (EasDataset, EasStage, EasBestAccuracy) in the namespace when missing, so the Web UI
 * can list searches by them. On Temporal Cloud, add them in the UI instead: this call then reports what is missing.
 */
export async function ensureSearchAttributes(connection: Pick<Connection | NativeConnection, 'operatorService'>, namespace: string): Promise<void> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((k) => !have.has(k.name));
  if (!missing.length) return;
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED[k.type]])) });
  } catch (err) {
    throw new Error(
      `search attributes ${missing.map((k) => `${k.name} (${k.type})`).join(', ')} are not registered in namespace "${namespace}" and could not be added: ${(err as Error).message}. ` +
        `Add them with \`temporal operator search-attribute create --name <name> --type <type>\`.`,
      { cause: err },
    );
  }
}
