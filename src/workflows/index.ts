export { searchWorkflow } from './search';
