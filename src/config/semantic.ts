import { INPUT_SHAPES, type InputShape } from '../arch/schema';
import { SyntheticSpecSchema } from '../data/synthetic';
import { spaceOf } from '../space';
import { ConfigError, type DatasetConfig, type RetryConfig, type SearchConfig } from './search-config';
import { durationMs } from './duration';

type Issue = { path: string; message: string };

export const DATASET_CLASSES: Record<DatasetConfig['name'], number | undefined> = { cifar10: 10, svhn: 10, 'fashion-mnist': 10, synthetic: undefined };

export function datasetInputShape(d: DatasetConfig): InputShape {
  if (d.name === 'synthetic') return SyntheticSpecSchema.parse(d.synthetic ?? {}).shape;
  return [...INPUT_SHAPES[d.name]] as InputShape;
}

export function datasetClasses(d: DatasetConfig): number {
  return DATASET_CLASSES[d.name] ?? SyntheticSpecSchema.parse(d.synthetic ?? {}).classes;
}

/** Rules across fields that the schema cannot express; pure, so the workflow checks them too. */
export function checkSearchConfig(config: SearchConfig): void {
  const issues: { path: string; message: string }[] = [];
  // The space checks its own part: the start net in its notation, steps it cannot take, limits already exceeded.
  const space = spaceOf(config.searchSpace, { poolMaxSize: config.controller.poolMaxSize });
  issues.push(
    ...space.checkConfig({
      notation: 'notation' in config.startNet ? config.startNet.notation : undefined,
      input: datasetInputShape(config.dataset),
      classes: datasetClasses(config.dataset),
      dataset: config.dataset.name,
      stages: config.stages,
    }),
  );
  if (config.dataset.synthetic && config.dataset.name !== 'synthetic') issues.push({ path: 'dataset.synthetic', message: 'only allowed with dataset.name "synthetic"' });
  if (config.dataset.name === 'synthetic') {
    const train = SyntheticSpecSchema.parse(config.dataset.synthetic ?? {}).train;
    if (config.dataset.validationSize !== undefined && config.dataset.validationSize >= train) issues.push({ path: 'dataset.validationSize', message: `must be smaller than the synthetic training set (${train})` });
  }
  if (config.dataset.limit?.train !== undefined && config.dataset.validationSize !== undefined && config.dataset.validationSize >= config.dataset.limit.train) {
    issues.push({ path: 'dataset.validationSize', message: `must be smaller than dataset.limit.train (${config.dataset.limit.train})` });
  }
  issues.push(...checkCounts(config), ...checkDurations(config));
  if (issues.length) throw new ConfigError('(semantic checks)', issues);
}

/** Counts bounded by what the space and the controller allow, and by the stages' budgets. */
function checkCounts(config: SearchConfig): Issue[] {
  const issues: Issue[] = [];
  const { controller } = config;
  // A Net2Deeper step inserts a layer at a (block, position) the controller can name.
  const places = controller.maxBlocks * controller.maxPositions;
  config.stages.forEach((st, i) => {
    if (st.widerSteps + st.deeperSteps === 0) issues.push({ path: `stages.${i}`, message: 'needs at least one wider or deeper step' });
    if (st.deeperSteps > places) {
      issues.push({ path: `stages.${i}.deeperSteps`, message: `${st.deeperSteps} deeper steps, but the controller can place at most ${places} layers (controller.maxBlocks × controller.maxPositions)` });
    }
    if (st.networksPerEpisode > st.networks) {
      issues.push({ path: `stages.${i}.networksPerEpisode`, message: `${st.networksPerEpisode} networks per episode, but the stage samples only ${st.networks} (stages.${i}.networks)` });
    }
  });
  const last = config.stages.at(-1);
  if (last && config.final.topK > last.networks) {
    issues.push({ path: 'final.topK', message: `${config.final.topK} final networks, but the last stage samples only ${last.networks} (stages.${config.stages.length - 1}.networks)` });
  }
  return issues;
}

/** Durations that only make sense in order. */
function checkDurations(config: SearchConfig): Issue[] {
  const issues: Issue[] = [];
  const t = config.timeouts;
  if (durationMs(t.epochHeartbeat) >= durationMs(t.training)) {
    issues.push({ path: 'timeouts.epochHeartbeat', message: `${t.epochHeartbeat} must be shorter than timeouts.training (${t.training})` });
  }
  for (const [kind, r] of Object.entries(config.retry) as [string, RetryConfig][]) {
    if (durationMs(r.maximumInterval) < durationMs(r.initialInterval)) {
      issues.push({ path: `retry.${kind}.maximumInterval`, message: `${r.maximumInterval} must not be shorter than retry.${kind}.initialInterval (${r.initialInterval})` });
    }
  }
  return issues;
}
