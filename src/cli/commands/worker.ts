import type { Command } from 'commander';
import { connectWorker, temporalTarget } from '../../temporal/connection';
import { createControlWorker } from '../../workers/control';
import { parseDevices } from '../../train/devices';
import { createTrainWorker } from '../../workers/train';
import { installCompactLogging } from '../../temporal/logging';
import { ensureSearchAttributes } from '../../temporal/search-attributes';

export function register(program: Command): void {
  program
    .command('worker')
    .description('run a worker: "control" (search workflows, sampling, transforms, policy updates) or "train" (training on this host\'s devices)')
    .requiredOption('--queue <kind>', 'control | train')
    .option('--task-queue <name>', 'Temporal task queue (default eas-control / eas-train, as in the configs)')
    .option('--devices <list>', 'training devices: a count or GPU ids like "0,1" (default EAS_DEVICES, else one)')
    .option('--address <host:port>', 'Temporal server (default TEMPORAL_ADDRESS or the TEMPORAL_* profile, else localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default TEMPORAL_NAMESPACE, else "default")')
    .action(async (opts: { queue: string; taskQueue?: string; devices?: string; address?: string; namespace?: string }) => {
      if (opts.queue !== 'control' && opts.queue !== 'train') throw new Error(`--queue must be "control" or "train", got "${opts.queue}"`);
      installCompactLogging('INFO');
      const target = temporalTarget({ address: opts.address, namespace: opts.namespace });
      const connection = await connectWorker(target);
      const taskQueue = opts.taskQueue ?? (opts.queue === 'control' ? 'eas-control' : 'eas-train');
      let worker;
      if (opts.queue === 'control') {
        // Searches started around eas (`temporal workflow start`) need them too; a server that refuses only gets a warning.
        await ensureSearchAttributes(connection, target.namespace).catch((e) => console.error(`[eas] warning: ${(e as Error).message}`));
        worker = await createControlWorker({ connection, namespace: target.namespace, taskQueue });
      } else {
        const devices = parseDevices(opts.devices);
        console.error(`[eas] training worker: devices ${devices.join(',')}; each training runs in its own trainer process`);
        worker = await createTrainWorker({ connection, namespace: target.namespace, taskQueue, devices });
      }
      console.error(`[eas] ${opts.queue} worker polling "${taskQueue}" on ${target.address} (namespace ${target.namespace}), pid ${process.pid}`);
      await worker.run();
      await connection.close();
    });
}
