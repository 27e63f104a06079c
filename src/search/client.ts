import { type Client, WorkflowExecutionAlreadyStartedError, type WorkflowHandle } from '@temporalio/client';
import { parseSearchConfig } from '../config/load';
import type { SearchConfig } from '../config/search-config';
import { SEARCH_WORKFLOW_TYPE } from '../workflows/definitions';
import type { searchWorkflow } from '../workflows/search';

export type SearchHandle = WorkflowHandle<typeof searchWorkflow>;

/**
 * Start a search, or attach to the running one of the same name (the workflow id is the config's name), so that running
 * the same command again resumes instead of starting over. The config is validated first: nothing starts when it is bad.
 */
export async function startOrAttachSearch(client: Client, raw: unknown, source = '(config)'): Promise<{ handle: SearchHandle; config: SearchConfig; attached: boolean }> {
  const config = parseSearchConfig(raw, source);
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
