import * as path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ChildPool } from '../activities/child-pool';
import { createControlActivities } from '../activities/control';
import { createExperimentActivities } from '../experiment/activities';

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  /** Let running activities finish (they are short) before the worker stops. */
  shutdownGraceTime?: string;
  /** This host's run-store root, overriding the configured one (default: EAS_STORAGE_ROOT). */
  storageRoot?: string;
  /** Control tasks at a time, each in its own child process (default 2). */
  concurrency?: number;
}

/**
 * Runs the search workflows and the control activities. The CPU-heavy activities (sampling, transforms, policy
 * updates, preparing a search) run in a pool of control child processes, so that this process's event loop, which
 * also runs the workflow tasks, never waits behind them. The children are killed when the worker stops.
 */
export async function createControlWorker(opts: ControlWorkerOptions): Promise<Worker> {
  const concurrency = opts.concurrency ?? 2;
  // A child per concurrent task; a child is replaced after many tasks so that nothing it leaks can grow unbounded.
  // One engine thread per control child: transforms and policy updates are small, and a child's OpenMP threads spinning
  // beside a trainer's on the same cores slow both many times over (EAS_CONTROL_THREADS overrides).
  const env = { ...process.env, EAS_THREADS: process.env.EAS_CONTROL_THREADS ?? '1' };
  const pool = new ChildPool({ script: path.join(__dirname, '../activities/control-child.ts'), size: concurrency, maxTasksPerChild: 500, env });
  // The children load tfjs and compile their modules (a second or two) while Worker.create bundles the workflows, so a
  // search's first tasks do not wait for them.
  pool.start();
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection: opts.connection,
      namespace: opts.namespace ?? 'default',
      taskQueue: opts.taskQueue,
      workflowsPath: require.resolve('../workflows'),
      activities: {
        ...createControlActivities({ runner: pool, storageRoot: opts.storageRoot }),
        // The experiment workflow's record writes (issue 21): small, in this process.
        ...createExperimentActivities({ storageRoot: opts.storageRoot }),
      },
      maxConcurrentActivityTaskExecutions: concurrency,
      shutdownGraceTime: (opts.shutdownGraceTime ?? '30s') as '30s',
    });
  } catch (err) {
    await pool.close();
    throw err;
  }
  // runUntil and run both go through run(): the pool's children end with the worker.
  const run = worker.run.bind(worker);
  worker.run = () => run().finally(() => pool.close());
  return worker;
}
