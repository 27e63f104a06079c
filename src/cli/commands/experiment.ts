import type { Command } from 'commander';
import { type Client, type Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { experimentRoot } from '../../experiment/config';
import { loadExperimentConfig } from '../../experiment/load';
import { ensureSearchAttributes } from '../../temporal/search-attributes';
import { storeUrl } from '../../store/storage';
import { EXPERIMENT_WORKFLOW_TYPE, type experimentWorkflow } from '../../workflows/experiment';
import { type ConnectionFlags, addConnectionFlags, withClient } from '../client';
import { printComparison } from './compare';

/**
 * `eas experiment --config E.yaml`: starts the experiment's durable workflow (a grid of arms × seeds as child
 * workflows) on a running Temporal server with workers polling its queues, or attaches to it when it runs already.
 */
export function register(program: Command): void {
  addConnectionFlags(
    program
      .command('experiment')
      .description('start an experiment (arms × seeds of searches, and the start net as a reference) on a running Temporal server; re-attaches if it is running')
      .requiredOption('--config <file>', 'experiment configuration (YAML or JSON)')
      .option('--wait', 'wait for the experiment to end, then print the comparison'),
  ).action(async (opts: ConnectionFlags & { config: string; wait?: boolean }) => {
    const { config, children } = loadExperimentConfig(opts.config);
    const queues = children[0].config.taskQueues;
    const root = experimentRoot(config);
    await withClient(opts, async (client: Client, namespace) => {
      await ensureSearchAttributes(client.connection as Connection, namespace);
      let attached = false;
      let handle;
      try {
        handle = await client.workflow.start<typeof experimentWorkflow>(EXPERIMENT_WORKFLOW_TYPE, { workflowId: config.name, taskQueue: queues.control, args: [config] });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        handle = client.workflow.getHandle<typeof experimentWorkflow>(config.name);
        attached = true;
      }
      console.log(`${attached ? 'attached to running' : 'started'} experiment ${config.name}: ${config.arms.length} arms × ${config.seeds.length} seeds = ${children.length} children, ${config.concurrency} at a time (task queues ${queues.control} / ${queues.train})`);
      console.log(`results: ${storeUrl(root)}/${config.name}; compare with \`eas compare ${config.name} --runs ${storeUrl(root)}\``);
      if (opts.wait) {
        const r = await handle.result();
        console.log(`experiment ${r.experimentId} ended: ${r.completed} children completed, ${r.failed} failed`);
        await printComparison(config.name, { runs: storeUrl(root) });
      }
    });
  });
}
