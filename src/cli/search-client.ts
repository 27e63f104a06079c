import * as fs from 'node:fs';
import { type Client, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { parseSearchConfig } from '../config/load';
import type { SearchConfig } from '../config/search-config';
import { RunLayout } from '../store/layout';
import { runDirFor } from '../store/root';
import { openStore } from '../store/storage';
import { SEARCH_WORKFLOW_TYPE } from '../workflows/definitions';
import type { searchWorkflow } from '../workflows/search';
import { type FieldChange, diffConfigs, formatChanges } from '../util/config-diff';

export type SearchHandle = WorkflowHandle<typeof searchWorkflow>;

/** The search of this name was started with another configuration: reusing its name would mix results. */
export class ConfigMismatchError extends Error {
  constructor(
    readonly searchId: string,
    readonly where: string,
    readonly changes: FieldChange[],
    source: string,
  ) {
    super(
      `search "${searchId}" already exists with a different configuration (${where}); ${source} changes:\n${formatChanges(changes)}\n` +
        `A search keeps the configuration it started with. To run this one as a new search, give it another \`name\` ` +
        `(e.g. name: ${searchId}-2) in ${source}; to resume "${searchId}", run it with its unchanged configuration.`,
    );
    this.name = 'ConfigMismatchError';
  }
}

/** Both sides through the same schema, so defaults and spellings do not count as differences. */
function normalized(raw: unknown, source: string): unknown {
  try {
    return JSON.parse(JSON.stringify(parseSearchConfig(raw, source)));
  } catch {
    // Recorded by an older eas whose schema no longer parses: compare it as it is.
    return raw;
  }
}

/** The configuration a running search was started with (its workflow input), or undefined when none is running. */
async function runningConfig(client: Client, searchId: string): Promise<unknown> {
  const desc = await client.workflow
    .getHandle(searchId)
    .describe()
    .catch(() => undefined);
  if (desc?.status.name !== 'RUNNING') return undefined;
  // Only the first event (started, with the input), not the whole history of a long search.
  const page = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId: searchId, runId: desc.runId },
    maximumPageSize: 1,
  });
  const payload = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
}

/**
 * Refuses (ConfigMismatchError) when `config` differs from the one the search of the same name runs with on Temporal,
 * or, when none runs, from the one recorded in its run directory (config.json).
 */
export async function checkSameConfig(client: Client, config: SearchConfig, source = '(config)'): Promise<void> {
  const mine = normalized(config, source);
  const running = await runningConfig(client, config.name);
  if (running !== undefined) {
    const changes = diffConfigs(normalized(running, 'the running search'), mine);
    if (changes.length) throw new ConfigMismatchError(config.name, 'it is running on Temporal', changes, source);
    return;
  }
  const recorded = new RunLayout(runDirFor(config.storage.root, config.name)).config();
  // From an object store, into this host's cache first (a no-op on a directory).
  await openStore(config.storage.root).pull(`${config.name}/config.json`);
  if (!fs.existsSync(recorded)) return;
  let old: unknown;
  try {
    old = JSON.parse(fs.readFileSync(recorded, 'utf8'));
  } catch (err) {
    throw new Error(`${recorded} is not valid JSON (${(err as Error).message}): move it aside, or give the search another \`name\` in ${source}`, { cause: err });
  }
  const changes = diffConfigs(normalized(old, recorded), mine);
  if (changes.length) throw new ConfigMismatchError(config.name, `recorded in ${recorded}`, changes, source);
}

/**
 * Start a search, or attach to the running one of the same name (the workflow id is the config's name), so that running
 * the same command again resumes instead of starting over. The config is validated first, and compared with the one
 * the search already has (running or recorded): nothing starts when it is bad or differs.
 */
export async function startOrAttachSearch(client: Client, raw: unknown, source = '(config)'): Promise<{ handle: SearchHandle; config: SearchConfig; attached: boolean }> {
  const config = parseSearchConfig(raw, source);
  await checkSameConfig(client, config, source);
  try {
    const handle = await client.workflow.start<typeof searchWorkflow>(SEARCH_WORKFLOW_TYPE, {
      workflowId: config.name,
      taskQueue: config.taskQueues.control,
      args: [config],
      memo: { dataset: config.dataset.name },
    });
    return { handle, config, attached: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle<typeof searchWorkflow>(config.name), config, attached: true };
  }
}
