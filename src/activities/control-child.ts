/**
 * Entry point of a control child process (started by the control worker's ChildPool): serves the CPU-heavy control
 * tasks (src/activities/tasks/) one at a time over IPC, so the worker's own event loop stays free for
 * workflow tasks, queries and heartbeats. Exits when its parent goes away.
 */
import { initBackend } from '../backend';
import { CONTROL_TASKS } from './tasks';
import { serveTasks } from './child-pool';
import { errorLike } from './errors';

serveTasks(CONTROL_TASKS, errorLike);
// Load the engine while no task waits for it (every task calls initBackend, which returns this choice, or retries
// and reports the error if loading failed here).
initBackend({ log: () => {} }).catch(() => {});
