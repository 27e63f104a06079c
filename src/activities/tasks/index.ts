import { prepareSearchTask } from './prepare-search';
import { samplePolicyTask } from './sample-policy';
import { transformCandidateTask } from './transform-candidate';
import { updatePolicyTask } from './update-policy';

/**
 * The control activities' CPU work, one small task per activity, without Temporal: each takes the run-store root of
 * this host and its activity input (paths relative to the root) and returns the activity output. None knows which
 * search space it works in: the space comes from the input's `searchSpace` (src/space). The control child process runs
 * these; tests call them directly.
 */
export const CONTROL_TASKS = {
  prepareSearch: prepareSearchTask,
  samplePolicy: samplePolicyTask,
  transformCandidate: transformCandidateTask,
  updatePolicy: updatePolicyTask,
} as const;
export type ControlTaskName = keyof typeof CONTROL_TASKS;

export { prepareSearchTask, samplePolicyTask, transformCandidateTask, updatePolicyTask };
export type { TaskInput } from './envelope';
