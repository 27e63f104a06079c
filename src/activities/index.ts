/** Types of the activities, for the workflow's proxies (type-only imports there: nothing here runs in a workflow). */
export type { ControlActivities } from './control';
export type { TrainActivities } from './train';
export type { ExperimentActivities } from '../experiment/activities';
