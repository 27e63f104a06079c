import { ParentClosePolicy, executeChild, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ExperimentActivities } from '../experiment/activities';
import { type ChildSpec, type ExperimentConfig, type ExperimentConfigInput, experimentRoot, validateExperimentConfig } from '../experiment/config';
import { searchBudget } from '../experiment/plan';
import type { ChildOutcome, ExperimentRecord, ReferenceRecord } from '../experiment/records';
import type { SearchConfig } from '../config/search-config';
import { checkSearchConfig } from '../config/semantic';
import { referencePaths } from '../store/layout';
import { deriveSeed } from '../util/seed';
import { retryPolicy } from './proxies';
import { newRun } from './run';
import { prepare } from './steps';
import { configOrFail, searchWorkflow, validSearchConfig } from './search';
import { recipeFor } from '../train/recipe';

/**
 * An experiment (issue 21): a grid of arms × seeds run as child workflows, at most `concurrency` at a time, seed by seed.
 * Search arms are ordinary searches (searchWorkflow); the reference arm trains the start network with the final recipe
 * for the search's planned training images (referenceWorkflow). Children have deterministic ids
 * (`<experiment>-<arm>-s<seed>`), so a crashed worker or server resumes them like any search; a child that fails is
 * recorded and the experiment goes on. The comparison is computed from the run store at the end (and any time by
 * `eas compare`).
 */

export const EXPERIMENT_WORKFLOW_TYPE = 'experimentWorkflow';
export const REFERENCE_WORKFLOW_TYPE = 'referenceWorkflow';

export interface ExperimentSummary {
  experimentId: string;
  summaryFile: string;
  completed: number;
  failed: number;
}

export interface ReferenceInput {
  config: SearchConfig;
  arm: string;
  budget: ExperimentRecord['referenceBudget'] & object;
}

/** Small file writes in the control worker: the experiment's records. */
function experimentActivities(control: string) {
  return proxyActivities<ExperimentActivities>({
    taskQueue: control,
    startToCloseTimeout: '5m',
    retry: retryPolicy({ maximumAttempts: 10, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m' }),
  });
}

export async function experimentWorkflow(input: ExperimentConfigInput): Promise<ExperimentSummary> {
  const { config, children } = validExperiment(input);
  const experimentId = workflowInfo().workflowId;
  const storageRoot = experimentRoot(config);
  const base = children[0].config;
  const acts = experimentActivities(base.taskQueues.control);
  const referenceBudget = config.arms.some((a) => a.kind === 'reference') ? searchBudget(base) : null;

  await acts.recordExperiment({
    storageRoot,
    record: {
      experimentId,
      arms: config.arms.map((a) => ({ name: a.name, kind: a.kind })),
      seeds: config.seeds,
      concurrency: config.concurrency,
      children: children.map(({ id, arm, kind, seed }) => ({ id, arm, kind, seed })),
      referenceBudget,
      config: input as unknown as Record<string, unknown>,
    },
  });

  const outcomes: ChildOutcome[] = new Array(children.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < children.length) {
      const i = next++;
      outcomes[i] = await runChild(children[i], referenceBudget);
      await acts.recordChild({ storageRoot, experimentId, outcome: outcomes[i] });
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.concurrency, children.length) }, lane));

  const summaryFile = await acts.summarizeExperiment({ storageRoot, experimentId });
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  return { experimentId, summaryFile, completed: outcomes.length - failed, failed };
}

/** One child to its end: its outcome, never a rejection for the child's own failure. */
async function runChild(c: ChildSpec, budget: ExperimentRecord['referenceBudget']): Promise<ChildOutcome> {
  const plan = { id: c.id, arm: c.arm, kind: c.kind, seed: c.seed };
  const startedAt = Date.now();
  const options = {
    workflowId: c.id,
    taskQueue: c.config.taskQueues.control,
    // A terminated experiment ends its children; started again, it starts them again under the same ids and run-store
    // folders, where every finished activity's output is found and reused (the activities are idempotent).
    parentClosePolicy: ParentClosePolicy.TERMINATE,
  };
  try {
    let resultFile: string;
    if (c.kind === 'search') {
      resultFile = (await executeChild(searchWorkflow, { ...options, args: [c.config] })).resultFile;
    } else {
      resultFile = await executeChild(referenceWorkflow, { ...options, args: [{ config: c.config, arm: c.arm, budget: budget! }] });
    }
    return { ...plan, status: 'completed', resultFile, startedAt, endedAt: Date.now(), error: null };
  } catch (err) {
    const message = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
    log.warn(`${c.id} failed: ${message}; recorded, the experiment goes on`);
    return { ...plan, status: 'failed', resultFile: null, startedAt, endedAt: Date.now(), error: message };
  }
}

/**
 * The reference arm's child: the search's own first step (same run-store layout, seed, data split, start net and its
 * training), then the trained start net trained further by the final recipe for `budget.referenceEpochs` epochs of the
 * final-mode training set, tested, and recorded (reference.json).
 */
export async function referenceWorkflow(input: ReferenceInput): Promise<string> {
  const config = validSearchConfig(input.config);
  const run = newRun(config, undefined);
  const s = await prepare(run);
  const paths = referencePaths(s.runDir);
  const trained = await run.acts.trainNetwork.executeWithOptions({ summary: `train the reference ${input.budget.referenceEpochs} epochs (final)` }, [
    {
      storageRoot: config.storage.root,
      name: 'reference',
      from: s.start.dir,
      jobDir: paths.job,
      dataset: config.dataset,
      dataSeed: run.dataSeed,
      mode: 'final',
      epochs: input.budget.referenceEpochs,
      recipe: recipeFor(config.training, 'final'),
      seed: deriveSeed(config.seed, 'final', 'reference-arm'),
      backend: config.backend,
    },
  ]);
  const record: ReferenceRecord = {
    searchId: run.searchId,
    seed: config.seed,
    start: s.start,
    network: { ...trained.network, name: input.arm },
    epochs: input.budget.referenceEpochs,
    budget: input.budget,
  };
  return experimentActivities(config.taskQueues.control).writeReference({ storageRoot: config.storage.root, runDir: s.runDir, record });
}


function validExperiment(input: ExperimentConfigInput): { config: ExperimentConfig; children: ChildSpec[] } {
  return configOrFail(() => {
    const v = validateExperimentConfig(input, 'workflow input');
    for (const c of v.children) checkSearchConfig(c.config);
    return v;
  });
}
