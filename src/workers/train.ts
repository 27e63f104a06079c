import { NativeConnection, Worker } from '@temporalio/worker';
import { createTrainActivities } from '../activities/train';
import { DevicePool } from '../train/devices';

export interface TrainWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  /** Devices this host trains on: one training at a time on each. */
  devices: readonly string[];
  /**
   * How long a stopping worker lets a training run before it is cancelled. Every finished epoch is already
   * checkpointed, so at most the epoch in flight is lost; a longer grace time lets it finish.
   */
  shutdownGraceTime?: string;
  /** This host's run-store root, overriding the configured one (default: EAS_STORAGE_ROOT). */
  storageRoot?: string;
}

/** Runs training activities on this host's devices, each in its own trainer process. */
export async function createTrainWorker(opts: TrainWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    activities: createTrainActivities({ devices: new DevicePool(opts.devices), storageRoot: opts.storageRoot }),
    maxConcurrentActivityTaskExecutions: opts.devices.length,
    shutdownGraceTime: (opts.shutdownGraceTime ?? '60s') as '60s',
  });
}
