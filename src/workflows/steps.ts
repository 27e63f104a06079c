import { condition, log, patched } from '@temporalio/workflow';
import type { CandidateFailure, CandidateRecord, NetworkRef, SampledCandidate, SearchResultSummary, TrainNetworkInput, TrainNetworkOutput } from '../activities/contract';
import { bestCandidate, firstByKey, rewardOf, topCandidates } from '../search/rules';
import { RunLayout, candidateName, jobPaths } from '../store/layout';
import { type TrainingPhase, recipeFor } from '../train/recipe';
import { deriveSeed } from '../util/seed';
import type { RunningTask } from './definitions';
import { failureOf } from './proxies';
import { type CarriedState, type Run, layoutOf, noteOutcome, pausesFor, track } from './run';

/**
 * The search's steps, each a small function over the typed activity proxies (run.acts): prepare and train the start
 * network, one episode, one candidate, the end of a stage, the final training. The workflow (search.ts) sequences them.
 */

/** A training job of this search (the shared fields filled in). */
function trainJob(run: Run, job: { name: string; from: string; jobDir: string; mode: 'search' | 'final'; epochs: number; phase: TrainingPhase; seed: number }): TrainNetworkInput {
  const { config } = run;
  return {
    storageRoot: config.storage.root,
    name: job.name,
    from: job.from,
    jobDir: job.jobDir,
    dataset: config.dataset,
    dataSeed: run.dataSeed,
    mode: job.mode,
    epochs: job.epochs,
    recipe: recipeFor(config.training, job.phase),
    seed: job.seed,
    backend: config.backend,
  };
}

function train(run: Run, kind: RunningTask['kind'], job: TrainNetworkInput): Promise<TrainNetworkOutput> {
  return track(run, { kind, name: job.name }, () =>
    run.acts.trainNetwork.executeWithOptions({ summary: `train ${job.name} ${job.epochs} epochs (${job.mode})` }, [job]),
  );
}

/** Start: the run store and the start network, trained for the configured epochs (a given checkpoint is used as is). */
export async function prepare(run: Run): Promise<CarriedState> {
  const { config, searchId } = run;
  const prep = await track(run, { kind: 'prepare', name: 'start' }, () =>
    run.acts.prepareSearch.executeWithOptions({ summary: `prepare ${searchId}` }, [{ searchId, config }]),
  );
  let start = prep.start;
  if (prep.startEpochs > 0) {
    const jobDir = new RunLayout(prep.runDir).start();
    const trained = await train(run, 'train-start', trainJob(run, { name: 'start', from: start.dir, jobDir, mode: 'search', epochs: prep.startEpochs, phase: 'start', seed: deriveSeed(config.seed, 'train', 'start') }));
    start = trained.network;
  }
  return {
    runDir: prep.runDir,
    start,
    stageStart: start,
    stage: 0,
    episode: 0,
    budgets: run.budgets,
    policy: null,
    policyUpdates: 0,
    candidates: [],
    evaluatedBefore: 0,
    best: null,
    paused: run.paused,
    stopping: run.stopping,
    phase: 'search',
  };
}

/** Waits while paused; true when the stage should take another episode. */
export async function stageGoesOn(run: Run, s: CarriedState): Promise<boolean> {
  if (s.candidates.length >= run.budgets[s.stage] || run.stopping) return false;
  if (run.paused) await condition(() => !run.paused || run.stopping);
  return !run.stopping;
}

/** The controller's settings for this stage: the stage's own Net2Wider / Net2Deeper step counts. */
function stageController(run: Run, s: CarriedState) {
  const st = run.config.stages[s.stage];
  return { ...run.config.controller, widerSteps: st.widerSteps, deeperSteps: st.deeperSteps };
}

/**
 * Results known in this stage by architecture: a sample whose architecture was (or is being) evaluated from the same
 * stage start reuses that result instead of training the same network twice.
 */
export type Seen = Map<string, Promise<CandidateRecord>>;
export const seenIn = (s: CarriedState): Seen => new Map([...firstByKey(s.candidates)].map(([k, c]) => [k, Promise.resolve(c)]));

/**
 * The episode is the first of a stage after the first: its policy update re-centres the baseline on the batch (the new
 * stage's start network moves the rewards; README "The controller across stages"). The first stage's first update is
 * centred anyway (no baseline yet), so it is not marked and its inputs stay as they were.
 */
export const startsStage = (s: Pick<CarriedState, 'stage' | 'episode'>): boolean => s.stage > 0 && s.episode === 0;

/** One episode: sample n networks, evaluate each (failures recorded, never fatal), one policy update from the rewards. */
export async function runEpisode(run: Run, s: CarriedState, seen: Seen): Promise<void> {
  const { config } = run;
  const stageCfg = config.stages[s.stage];
  const n = Math.min(stageCfg.networksPerEpisode, run.budgets[s.stage] - s.candidates.length);
  const episode = s.episode;
  const controller = stageController(run, s);
  const sampled = await track(run, { kind: 'sample', name: `stage ${s.stage + 1} episode ${episode}` }, () =>
    run.acts.samplePolicy.executeWithOptions({ summary: `sample ${n} networks, stage ${s.stage + 1} episode ${episode}` }, [
      {
        storageRoot: config.storage.root,
        runDir: s.runDir,
        stage: s.stage,
        episode,
        policy: s.policy,
        controller,
        searchSpace: config.searchSpace,
        start: s.stageStart.dir,
        n,
        seed: deriveSeed(config.seed, 'sample', s.stage, episode),
        policySeed: deriveSeed(config.seed, 'policy'),
        widerSteps: stageCfg.widerSteps,
        deeperSteps: stageCfg.deeperSteps,
      },
    ]),
  );
  // evaluateCandidate never rejects for a candidate's own failure, so one bad network cannot end the episode.
  const records = await Promise.all(sampled.candidates.map((c) => evaluateCandidate(run, s, episode, c, seen)));
  const update = await track(run, { kind: 'update', name: `policy update ${s.policyUpdates + 1}` }, () =>
    run.acts.updatePolicy.executeWithOptions({ summary: `policy update ${s.policyUpdates + 1}` }, [
      {
        storageRoot: config.storage.root,
        policy: s.policy,
        samplesFile: sampled.samplesFile,
        accuracies: records.map(rewardOf),
        output: layoutOf(s).policy(s.policyUpdates + 1),
        controller,
        searchSpace: config.searchSpace,
        policySeed: deriveSeed(config.seed, 'policy'),
        ...(startsStage(s) ? { stageStart: true as const } : {}),
      },
    ]),
  );
  s.candidates.push(...records);
  const top = bestCandidate(records);
  if (top && (s.best === null || (top.network.accuracy as number) > (s.best.accuracy ?? -1))) s.best = top.network;
  s.policy = update.policy;
  s.policyUpdates = update.updates;
  s.episode++;
}

/** One candidate: reuse an earlier result of the same architecture, else transform and train it. */
export async function evaluateCandidate(run: Run, s: CarriedState, episode: number, c: SampledCandidate, seen: Seen): Promise<CandidateRecord> {
  const name = candidateName({ stage: s.stage, episode, index: c.index });
  const base = { name, stage: s.stage, episode, index: c.index, parent: s.stageStart.name, actions: c.actions };
  const earlier = seen.get(c.key);
  if (earlier) {
    const prev = await earlier;
    return { ...base, network: prev.network, diverged: prev.diverged, cachedFrom: prev.name, maxAbsDiff: prev.maxAbsDiff, failed: prev.failed };
  }
  const work = transformAndTrain(run, s, episode, c).then((r) => {
    noteOutcome(run, r);
    return { ...base, ...r };
  });
  seen.set(c.key, work);
  return work;
}

type Outcome = Pick<CandidateRecord, 'network' | 'diverged' | 'cachedFrom' | 'maxAbsDiff' | 'failed'>;

/** Net2Net transform of the stage start, then a short training; a step that fails for good becomes the record's `failed`. */
async function transformAndTrain(run: Run, s: CarriedState, episode: number, c: SampledCandidate): Promise<Outcome> {
  const { config } = run;
  const id = { stage: s.stage, episode, index: c.index };
  const name = candidateName(id);
  const candDir = layoutOf(s).candidate(id);
  let child;
  try {
    child = await heldOnPause(run, name, 'transform', () =>
      track(run, { kind: 'transform', name }, () =>
        run.acts.transformCandidate.executeWithOptions({ summary: `transform ${name}: ${c.notation}` }, [
          {
            storageRoot: config.storage.root,
            runDir: s.runDir,
            name,
            start: s.stageStart.dir,
            actions: c.actions,
            searchSpace: config.searchSpace,
            transform: config.transform,
            output: jobPaths(candDir).init,
            seed: deriveSeed(config.seed, 'transform', name),
          },
        ]),
      ),
    );
  } catch (err) {
    return failedOutcome(run, name, candDir, c, null, failureOf('transform', err) ?? rethrow(err));
  }
  try {
    const job = trainJob(run, { name, from: child.network.dir, jobDir: candDir, mode: 'search', epochs: config.stages[s.stage].epochs, phase: 'candidates', seed: deriveSeed(config.seed, 'train', name) });
    const trained = await heldOnPause(run, name, 'train', () => train(run, 'train', job));
    return { network: trained.network, diverged: trained.diverged, cachedFrom: null, maxAbsDiff: child.maxAbsDiff, failed: null };
  } catch (err) {
    return failedOutcome(run, name, candDir, c, { network: child.network, maxAbsDiff: child.maxAbsDiff }, failureOf('train', err) ?? rethrow(err));
  }
}

/**
 * A candidate's step. When it fails for good in a way that pauses the search (the same error as the candidates before
 * it: run.ts pausesFor), it waits for `eas resume` and runs again, a fresh activity with all its attempts; otherwise (and
 * when the search is stopped meanwhile) the failure goes to the caller.
 */
async function heldOnPause<T>(run: Run, name: string, step: 'transform' | 'train', p: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await p();
    } catch (err) {
      const failed = failureOf(step, err);
      if (!failed || !pausesFor(run, name, failed)) throw err;
      log.warn(`${name} failed in ${failed.step} (${failed.type}); held until the search is resumed, then tried again`);
      run.held.add(name);
      await condition(() => !run.paused || run.stopping);
      run.held.delete(name);
      if (run.stopping) throw err;
    }
  }
}

function rethrow(err: unknown): never {
  throw err;
}

/** A failed candidate's record: reward 0, never best; its network as far as it got (the sampled architecture at least). */
function failedOutcome(run: Run, name: string, candDir: string, c: SampledCandidate, child: { network: NetworkRef; maxAbsDiff: number } | null, failed: CandidateFailure): Outcome {
  log.warn(`${name} failed in ${failed.step} (${failed.type}): ${failed.message}; recorded with reward 0, the search goes on`);
  const network: NetworkRef = child ? { ...child.network, accuracy: null } : { name, dir: jobPaths(candDir).init, notation: c.notation, key: c.key, params: c.params, accuracy: null };
  return { network, diverged: false, cachedFrom: null, maxAbsDiff: child?.maxAbsDiff ?? null, failed };
}

/**
 * Stage end: record the stage in the run store, train its best longer as the next stage's start. Returns whether the
 * search goes on to another stage ('next') or to the final training ('final').
 */
export async function endStage(run: Run, s: CarriedState): Promise<'next' | 'final'> {
  const { config } = run;
  await track(run, { kind: 'result', name: `stage ${s.stage + 1} summary` }, () =>
    run.acts.recordStage.executeWithOptions({ summary: `record stage ${s.stage + 1}` }, [
      { storageRoot: config.storage.root, runDir: s.runDir, stage: s.stage, start: s.stageStart, candidates: s.candidates },
    ]),
  );
  if (s.stage === config.stages.length - 1 || run.stopping) {
    s.phase = 'final';
    return 'final';
  }
  const stageBest = bestCandidate(s.candidates);
  if (stageBest) s.stageStart = await trainStageBest(run, s, stageBest);
  s.evaluatedBefore += s.candidates.length;
  s.stage++;
  s.episode = 0;
  s.candidates = [];
  return 'next';
}

/** The stage's best candidate trained `bestEpochs` longer; if that training fails for good, the candidate itself. */
async function trainStageBest(run: Run, s: CarriedState, best: CandidateRecord): Promise<NetworkRef> {
  const { config } = run;
  const epochs = config.stages[s.stage].bestEpochs;
  if (epochs === 0) return best.network;
  const name = `s${s.stage + 1}-best`;
  run.phase = 'stage-best';
  try {
    const trained = await train(run, 'train-best', trainJob(run, { name, from: best.network.dir, jobDir: layoutOf(s).stageBest(s.stage), mode: 'search', epochs, phase: 'stageBest', seed: deriveSeed(config.seed, 'train', 'stage-best', s.stage) }));
    return { ...trained.network, name };
  } catch (err) {
    const failed = failureOf('train', err) ?? rethrow(err);
    log.warn(`${name} failed (${failed.type}): ${failed.message}; the next stage starts from ${best.name} as it is`);
    return best.network;
  } finally {
    run.phase = 'search';
  }
}

/** Final: the top networks of the last stage trained on the full training set and tested; then the result file. */
export async function finish(run: Run, s: CarriedState): Promise<SearchResultSummary> {
  const { config, searchId } = run;
  run.phase = 'final';
  const top = topCandidates(s.candidates, config.final.topK);
  const finalsDone = Promise.all(
    top.map(async (c, rank) => {
      const name = `top-${rank + 1}`;
      try {
        const out = await train(run, 'final', trainJob(run, { name, from: c.network.dir, jobDir: layoutOf(s).final(rank), mode: 'final', epochs: config.final.epochs, phase: 'final', seed: deriveSeed(config.seed, 'final', rank) }));
        return { from: c.name, network: { ...out.network, name } };
      } catch (err) {
        // One final training that fails for good leaves the others and the result; the log says which.
        const failed = failureOf('train', err) ?? rethrow(err);
        log.warn(`${name} (from ${c.name}) failed (${failed.type}): ${failed.message}; left out of the result`);
        return null;
      }
    }),
  );
  // Searches that reached their final training before the reference existed replay without it.
  const referenceDone = top.length > 0 && config.final.reference && patched('final-reference') ? trainReference(run, s) : undefined;
  const [finals, reference] = await Promise.all([finalsDone, referenceDone]);
  const result = await track(run, { kind: 'result', name: 'result' }, () =>
    run.acts.writeResult.executeWithOptions({ summary: `write the result of ${searchId}` }, [
      {
        runDir: s.runDir,
        searchId,
        config,
        start: s.start,
        stagesRecorded: s.stage + 1,
        final: finals.filter((f) => f !== null),
        ...(reference ? { reference } : {}),
        policyUpdates: s.policyUpdates,
        stopped: run.stopping,
      },
    ]),
  );
  run.phase = 'done';
  return result;
}

/**
 * Every result's reference: the start network given the final training of the finals (same epochs, phase and recipe,
 * its own job and seed), beside them. A failure for good is recorded as such and costs nothing else.
 */
async function trainReference(run: Run, s: CarriedState): Promise<{ network: NetworkRef | null; failed: CandidateFailure | null }> {
  const { config } = run;
  const name = 'reference';
  try {
    const out = await train(run, 'final', trainJob(run, { name, from: s.start.dir, jobDir: layoutOf(s).finalReference(), mode: 'final', epochs: config.final.epochs, phase: 'final', seed: deriveSeed(config.seed, 'final', 'reference') }));
    return { network: { ...out.network, name }, failed: null };
  } catch (err) {
    const failed = failureOf('train', err) ?? rethrow(err);
    log.warn(`the reference (the start network's final training) failed (${failed.type}): ${failed.message}; the result has no gains`);
    return { network: null, failed };
  }
}
