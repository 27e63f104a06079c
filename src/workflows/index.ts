export { searchWorkflow } from './search';
export { experimentWorkflow, referenceWorkflow } from './experiment';
