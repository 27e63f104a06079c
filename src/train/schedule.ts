import type { TrainingRecipe } from './recipe';

/**
 * Learning rate for optimisation step `step` (0-based) of a run of `totalSteps` steps: cosine annealing from the base
 * rate towards 0 (lr·½(1+cos(π·step/total)), SGDR without restarts), or constant.
 */
export function learningRateAt(recipe: Pick<TrainingRecipe, 'learningRate' | 'schedule'>, step: number, totalSteps: number): number {
  if (recipe.schedule === 'constant' || totalSteps <= 0) return recipe.learningRate;
  const progress = Math.min(Math.max(step / totalSteps, 0), 1);
  return 0.5 * recipe.learningRate * (1 + Math.cos(Math.PI * progress));
}
