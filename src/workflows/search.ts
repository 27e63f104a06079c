import {
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { recipeFor } from '../train/recipe';
import type { ActivityOptions, Duration } from '@temporalio/common';
import type * as controlActivities from '../activities/control';
import type * as trainActivities from '../activities/train';
import type { CandidateRecord, NetworkRef, SampledCandidate, TrainNetworkInput, TrainNetworkOutput } from '../activities/contract';
import { type SearchConfig, type SearchConfigInput, validateSearchConfig, ConfigError } from '../config/search-config';
import { checkSearchConfig } from '../config/semantic';
import { deriveSeed } from '../util/seed';
import { RunLayout, candidateName, jobPaths } from '../store/layout';
import {
  type RunningTask,
  type SearchProgress,
  SA_BEST_ACCURACY,
  SA_DATASET,
  SA_STAGE,
  extendStageUpdate,
  pauseSignal,
  progressQuery,
  resumeSignal,
  stopSignal,
} from './definitions';

/** State carried across continue-as-new: references, counters and the current stage's compact records only. */
export interface CarriedState {
  runDir: string;
  start: NetworkRef;
  /** Start network of the current stage (the trained Table-1-style net, or the previous stage's best). */
  stageStart: NetworkRef;
  stage: number;
  episode: number;
  budgets: number[];
  policy: string | null;
  policyUpdates: number;
  /** Records of the current stage (earlier stages live in the run store). */
  candidates: CandidateRecord[];
  evaluatedBefore: number;
  best: NetworkRef | null;
  paused: boolean;
  stopping: boolean;
  phase: 'search' | 'final';
}

const NON_RETRYABLE = ['ConfigError', 'BadInput', 'DataFileError', 'ArchError'];

const control = proxyActivities<typeof controlActivities>({
  startToCloseTimeout: '30m',
  retry: { initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE },
});

/** Training goes to the training workers' queue; a missing epoch heartbeat means a lost worker and a retry that resumes. */
function trainOptions(config: SearchConfig): ActivityOptions {
  return {
    taskQueue: config.taskQueues.train,
    startToCloseTimeout: config.timeouts.training as Duration,
    heartbeatTimeout: config.timeouts.epochHeartbeat as Duration,
    retry: { initialInterval: '5s', maximumInterval: '2m', nonRetryableErrorTypes: NON_RETRYABLE },
  };
}

const percent = (a: number | null): string => (a === null ? '–' : `${(a * 100).toFixed(2)}%`);

/** The two-stage EAS search (Cai et al. 2018): stages of episodes, stage-best training, then final training of the top networks. */
export async function searchWorkflow(input: SearchConfigInput, carried?: CarriedState): Promise<import('../activities/contract').SearchResultSummary> {
  let config: SearchConfig;
  try {
    config = validateSearchConfig(input, 'workflow input');
    checkSearchConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) throw ApplicationFailure.nonRetryable(err.message, 'ConfigError', err.issues);
    throw err;
  }
  const searchId = workflowInfo().workflowId;
  const train = proxyActivities<typeof trainActivities>(trainOptions(config));
  const dataSeed = deriveSeed(config.seed, 'data');
  const running = new Map<number, RunningTask>();
  let taskSeq = 0;
  const track = async <T>(task: RunningTask, p: () => Promise<T>): Promise<T> => {
    const id = taskSeq++;
    running.set(id, task);
    try {
      return await p();
    } finally {
      running.delete(id);
    }
  };

  let state: CarriedState | undefined = carried;
  let phase: SearchProgress['phase'] = carried ? (carried.phase === 'final' ? 'final' : 'search') : 'start';
  let paused = carried?.paused ?? false;
  let stopping = carried?.stopping ?? false;
  const budgets = carried?.budgets ?? config.stages.map((s) => s.networks);

  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(stopSignal, () => void (stopping = true));
  setHandler(
    extendStageUpdate,
    ({ networks, stage }) => {
      const s = (stage ?? (state ? state.stage + 1 : 1)) - 1;
      budgets[s] += networks;
      return budgets[s];
    },
    {
      validator: ({ networks, stage }) => {
        if (!Number.isInteger(networks) || networks <= 0) throw new Error('networks must be a positive integer');
        const s = stage ?? (state ? state.stage + 1 : 1);
        if (!Number.isInteger(s) || s < 1 || s > config.stages.length) throw new Error(`stage must be 1..${config.stages.length}`);
        if (state && s - 1 < state.stage) throw new Error(`stage ${s} is already finished`);
      },
    },
  );
  setHandler(progressQuery, (): SearchProgress => {
    const stageIdx = state?.stage ?? 0;
    const inStage = state?.candidates.length ?? 0;
    return {
      searchId,
      phase,
      stage: Math.min(stageIdx + 1, config.stages.length),
      stages: config.stages.length,
      episode: state?.episode ?? 0,
      evaluatedInStage: inStage,
      plannedInStage: budgets[Math.min(stageIdx, budgets.length - 1)],
      evaluatedTotal: (state?.evaluatedBefore ?? 0) + inStage,
      plannedTotal: budgets.reduce((a, b) => a + b, 0),
      policyUpdates: state?.policyUpdates ?? 0,
      best: state?.best ?? null,
      running: [...running.values()],
      paused,
      stopping,
    };
  });

  const publishVisibility = () => {
    upsertSearchAttributes([
      { key: SA_DATASET, value: config.dataset.name },
      { key: SA_STAGE, value: (state?.stage ?? 0) + 1 },
      ...(state?.best?.accuracy != null ? [{ key: SA_BEST_ACCURACY, value: state.best.accuracy }] : []),
    ]);
    upsertMemo({
      dataset: config.dataset.name,
      stage: `${(state?.stage ?? 0) + 1}/${config.stages.length}`,
      best: state?.best ? `${percent(state.best.accuracy)} ${state.best.notation}` : null,
      runDir: state?.runDir ?? null,
    });
  };

  const trainNetwork = (kind: RunningTask['kind'], req: TrainNetworkInput): Promise<TrainNetworkOutput> =>
    track({ kind, name: req.name }, () =>
      train.trainNetwork.executeWithOptions(
        { ...trainOptions(config), summary: `train ${req.name} ${req.epochs} epochs (${req.mode})` },
        [req],
      ),
    );

  // ---- start: prepare the run store and the trained start network ----
  if (!state) {
    publishVisibility();
    const prep = await track({ kind: 'prepare', name: 'start' }, () => control.prepareSearch({ searchId, config }));
    let start = prep.start;
    if (prep.startEpochs > 0) {
      const trained = await trainNetwork('train-start', {
        name: 'start',
        from: start.dir,
        jobDir: new RunLayout(prep.runDir).start(),
        dataset: config.dataset,
        dataSeed,
        mode: 'search',
        epochs: prep.startEpochs,
        recipe: recipeFor(config.training, 'start'),
        seed: deriveSeed(config.seed, 'train', 'start'),
        backend: config.backend,
      });
      start = trained.network;
    }
    state = {
      runDir: prep.runDir,
      start,
      stageStart: start,
      stage: 0,
      episode: 0,
      budgets,
      policy: null,
      policyUpdates: 0,
      candidates: [],
      evaluatedBefore: 0,
      best: null,
      paused,
      stopping,
      phase: 'search',
    };
  }
  const s = state;
  const layout = new RunLayout(s.runDir);
  phase = s.phase === 'final' ? 'final' : 'search';
  publishVisibility();

  const carry = (): CarriedState => ({ ...s, budgets, paused, stopping });

  // ---- stages ----
  while (s.phase === 'search' && s.stage < config.stages.length) {
    const stageCfg = config.stages[s.stage];
    const controllerCfg = { ...config.controller, widerSteps: stageCfg.widerSteps, deeperSteps: stageCfg.deeperSteps };
    /** Same architecture, same stage start: the earlier result is reused, never trained twice. */
    const byKey = new Map<string, CandidateRecord>();
    for (const c of s.candidates) if (!c.cachedFrom) byKey.set(c.network.key, c);

    while (s.candidates.length < budgets[s.stage] && !stopping) {
      if (paused) await condition(() => !paused || stopping);
      if (stopping) break;
      const n = Math.min(stageCfg.networksPerEpisode, budgets[s.stage] - s.candidates.length);
      const episode = s.episode;
      const sampled = await track({ kind: 'sample', name: `stage ${s.stage + 1} episode ${episode}` }, () =>
        control.samplePolicy({
          runDir: s.runDir,
          stage: s.stage,
          episode,
          policy: s.policy,
          controller: controllerCfg,
          space: config.space,
          start: s.stageStart.dir,
          n,
          seed: deriveSeed(config.seed, 'sample', s.stage, episode),
          policySeed: deriveSeed(config.seed, 'policy'),
        }),
      );
      const inFlight = new Map<string, Promise<CandidateRecord>>();
      const evaluate = async (c: SampledCandidate): Promise<CandidateRecord> => {
        const id = { stage: s.stage, episode, index: c.index };
        const name = candidateName(id);
        const base = { name, stage: s.stage, episode, index: c.index, parent: s.stageStart.name, actions: c.actions };
        const earlier = byKey.get(c.key);
        const pending = inFlight.get(c.key);
        if (earlier || pending) {
          const prev = earlier ?? (await pending!);
          return { ...base, network: prev.network, diverged: prev.diverged, cachedFrom: prev.name, maxAbsDiff: prev.maxAbsDiff };
        }
        const work = (async (): Promise<CandidateRecord> => {
          const candDir = layout.candidate(id);
          const child = await track({ kind: 'transform', name }, () =>
            control.transformCandidate.executeWithOptions(
              { startToCloseTimeout: '30m', retry: { initialInterval: '2s', maximumInterval: '1m', nonRetryableErrorTypes: NON_RETRYABLE }, summary: `transform ${name}: ${c.notation}` },
              [{ name, start: s.stageStart.dir, actions: c.actions, space: config.space, dataset: config.dataset, dataSeed, output: jobPaths(candDir).init, seed: deriveSeed(config.seed, 'transform', name) }],
            ),
          );
          const trained = await trainNetwork('train', {
            name,
            from: child.network.dir,
            jobDir: candDir,
            dataset: config.dataset,
            dataSeed,
            mode: 'search',
            epochs: stageCfg.epochs,
            recipe: recipeFor(config.training, 'candidates'),
            seed: deriveSeed(config.seed, 'train', name),
            backend: config.backend,
          });
          return { ...base, network: trained.network, diverged: trained.diverged, cachedFrom: null, maxAbsDiff: child.maxAbsDiff };
        })();
        inFlight.set(c.key, work);
        return work;
      };
      const records = await Promise.all(sampled.candidates.map(evaluate));
      const update = await track({ kind: 'update', name: `policy update ${s.policyUpdates + 1}` }, () =>
        control.updatePolicy({
          policy: s.policy,
          samplesFile: sampled.samplesFile,
          accuracies: records.map((r) => (r.diverged ? 0 : (r.network.accuracy ?? 0))),
          output: layout.policy(s.policyUpdates + 1),
          controller: controllerCfg,
          space: config.space,
          policySeed: deriveSeed(config.seed, 'policy'),
        }),
      );
      for (const r of records) {
        s.candidates.push(r);
        if (!r.cachedFrom) byKey.set(r.network.key, r);
        if (!r.diverged && r.network.accuracy !== null && (s.best === null || r.network.accuracy > (s.best.accuracy ?? -1))) s.best = r.network;
      }
      s.policy = update.policy;
      s.policyUpdates = update.updates;
      s.episode++;
      publishVisibility();
      if (workflowInfo().continueAsNewSuggested) await continueAsNew<typeof searchWorkflow>(config, carry());
    }

    // ---- stage end: record it, train its best longer as the next stage's start ----
    await track({ kind: 'result', name: `stage ${s.stage + 1} summary` }, () =>
      control.recordStage({ runDir: s.runDir, stage: s.stage, start: s.stageStart, candidates: s.candidates }),
    );
    const stageBest = bestOf(s.candidates);
    const isLast = s.stage === config.stages.length - 1 || stopping;
    if (!isLast && stageBest && stageCfg.bestEpochs > 0) {
      phase = 'stage-best';
      const trained = await trainNetwork('train-best', {
        name: `s${s.stage + 1}-best`,
        from: stageBest.network.dir,
        jobDir: layout.stageBest(s.stage),
        dataset: config.dataset,
        dataSeed,
        mode: 'search',
        epochs: stageCfg.bestEpochs,
        recipe: recipeFor(config.training, 'stageBest'),
        seed: deriveSeed(config.seed, 'train', 'stage-best', s.stage),
        backend: config.backend,
      });
      s.stageStart = { ...trained.network, name: `s${s.stage + 1}-best` };
      phase = 'search';
    } else if (!isLast && stageBest) {
      s.stageStart = stageBest.network;
    }
    if (isLast) {
      s.phase = 'final';
      break;
    }
    s.evaluatedBefore += s.candidates.length;
    s.stage++;
    s.episode = 0;
    s.candidates = [];
    // A fresh history per stage keeps every run far from Temporal's history limits.
    await continueAsNew<typeof searchWorkflow>(config, carry());
  }

  // ---- final training of the top networks of the last stage, on the full training set, tested ----
  phase = 'final';
  const lastStage = s.stage;
  const top = [...s.candidates]
    .filter((c) => !c.cachedFrom && !c.diverged && c.network.accuracy !== null)
    .sort((a, b) => (b.network.accuracy ?? 0) - (a.network.accuracy ?? 0))
    .slice(0, config.final.topK);
  const finals = await Promise.all(
    top.map(async (c, rank) => {
      const out = await trainNetwork('final', {
        name: `top-${rank + 1}`,
        from: c.network.dir,
        jobDir: layout.final(rank),
        dataset: config.dataset,
        dataSeed,
        mode: 'final',
        epochs: config.final.epochs,
        recipe: recipeFor(config.training, 'final'),
        seed: deriveSeed(config.seed, 'final', rank),
        backend: config.backend,
      });
      return { from: c.name, network: { ...out.network, name: `top-${rank + 1}` } };
    }),
  );
  const result = await track({ kind: 'result', name: 'result' }, () =>
    control.writeResult({
      runDir: s.runDir,
      searchId,
      config,
      start: s.start,
      stagesRecorded: lastStage + 1,
      final: finals,
      policyUpdates: s.policyUpdates,
      stopped: stopping,
    }),
  );
  phase = 'done';
  publishVisibility();
  return result;
}

function bestOf(cands: CandidateRecord[]): CandidateRecord | undefined {
  let best: CandidateRecord | undefined;
  for (const c of cands) {
    if (c.cachedFrom || c.diverged || c.network.accuracy === null) continue;
    if (!best || c.network.accuracy > (best.network.accuracy ?? -1)) best = c;
  }
  return best;
}
