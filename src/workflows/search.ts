import { ApplicationFailure, continueAsNew, workflowInfo } from '@temporalio/workflow';
import type { SearchResultSummary } from '../activities/contract';
import { type SearchConfig, type SearchConfigInput, validateSearchConfig, ConfigError } from '../config/search-config';
import { checkSearchConfig } from '../config/semantic';
import { type CarriedState, carry, installHandlers, newRun, publishVisibility } from './run';
import { endStage, finish, prepare, runEpisode, seenIn, stageGoesOn } from './steps';

export type { CarriedState } from './run';

/**
 * The two-stage EAS search (Cai et al. 2018): stages of episodes, stage-best training, then final training of the top
 * networks. Each stage runs in a fresh history (continue-as-new carrying references and counters only).
 */
export async function searchWorkflow(input: SearchConfigInput, carried?: CarriedState): Promise<SearchResultSummary> {
  const config = validSearchConfig(input);
  const run = newRun(config, carried);
  installHandlers(run);
  if (!run.state) {
    publishVisibility(run);
    run.state = await prepare(run);
  }
  const s = run.state;
  run.phase = s.phase === 'final' ? 'final' : 'search';
  publishVisibility(run);

  while (s.phase === 'search') {
    const seen = seenIn(s);
    while (await stageGoesOn(run, s)) {
      await runEpisode(run, s, seen);
      publishVisibility(run);
      if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof searchWorkflow>(config, carry(run, s));
    }
    if ((await endStage(run, s)) === 'final') break;
    // A fresh history per stage keeps every run far from Temporal's history limits.
    await continueAsNew<typeof searchWorkflow>(config, carry(run, s));
  }

  const result = await finish(run, s);
  publishVisibility(run);
  return result;
}

/** Runs `check`; a ConfigError from it fails the workflow for good, naming every bad field. */
export function configOrFail<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ConfigError) throw ApplicationFailure.nonRetryable(err.message, 'ConfigError', err.issues);
    throw err;
  }
}

/** The config as the workflow sees it: invalid input fails the workflow for good, naming every bad field. */
export function validSearchConfig(input: SearchConfigInput): SearchConfig {
  return configOrFail(() => {
    const config = validateSearchConfig(input, 'workflow input');
    checkSearchConfig(config);
    return config;
  });
}
