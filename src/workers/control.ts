import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from '../activities/control';

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  /** Let running activities finish (they are short) before the worker stops. */
  shutdownGraceTime?: string;
}

/** Runs the search workflows and the CPU activities: sampling, transforming, policy updates, results. */
export async function createControlWorker(opts: ControlWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    workflowsPath: require.resolve('../workflows'),
    activities,
    // Sampling and transforming are CPU-bound tfjs work; two at a time keeps a small host responsive.
    maxConcurrentActivityTaskExecutions: 2,
    shutdownGraceTime: (opts.shutdownGraceTime ?? '30s') as '30s',
  });
}
