import { ArchError } from '../arch/errors';
import { parseNotation } from '../arch/notation';
import { INPUT_SHAPES, type InputShape } from '../arch/schema';
import { SyntheticSpecSchema } from '../data/synthetic';
import { ConfigError, type DatasetConfig, type SearchConfig } from './search-config';

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
  if ('notation' in config.startNet) {
    try {
      const arch = parseNotation(config.startNet.notation, datasetInputShape(config.dataset), config.space);
      const classes = datasetClasses(config.dataset);
      if (arch.classes !== classes) issues.push({ path: 'startNet.notation', message: `ends in SM(${arch.classes}) but ${config.dataset.name} has ${classes} classes` });
    } catch (err) {
      if (!(err instanceof ArchError)) throw err;
      issues.push({ path: 'startNet.notation', message: err.message });
    }
  }
  if (config.dataset.synthetic && config.dataset.name !== 'synthetic') issues.push({ path: 'dataset.synthetic', message: 'only allowed with dataset.name "synthetic"' });
  if (config.dataset.name === 'synthetic') {
    const train = SyntheticSpecSchema.parse(config.dataset.synthetic ?? {}).train;
    if (config.dataset.validationSize >= train) issues.push({ path: 'dataset.validationSize', message: `must be smaller than the synthetic training set (${train})` });
  }
  if (config.dataset.limit?.train !== undefined && config.dataset.validationSize >= config.dataset.limit.train) {
    issues.push({ path: 'dataset.validationSize', message: `must be smaller than dataset.limit.train (${config.dataset.limit.train})` });
  }
  config.stages.forEach((st, i) => {
    if (st.widerSteps + st.deeperSteps === 0) issues.push({ path: `stages.${i}`, message: 'needs at least one wider or deeper step' });
  });
  if (issues.length) throw new ConfigError('(semantic checks)', issues);
}
