import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { type CandidateRecord, CandidateRecordSchema, type NetworkRef, NetworkRefSchema } from '../store/records';
import { ArchSchema } from '../arch';
import { AnyActionSchema, AnyNetSchema, spaceOfNet } from '../space';
import { SEARCH_NAME, type SearchConfig, SearchConfigSchema } from '../config/search-config';
import { gainsOver, readSearchResult } from '../store/result';
import { type ReferenceView, referenceOfResult } from './reference';
import { storageRoot } from '../store/root';
import { RunLayout, candidateName, jobPaths } from '../store/layout';
import { bestCandidate, bestNetwork } from '../search/rules';
import { JsonFileError, readJsonFile } from '../util/files';

/**
 * A read-only view of one search's run store, for the report and the export. Built from result.json when the search
 * has finished; otherwise from what exists so far: config.json, the start network's outcome, the stage summaries of
 * finished stages, and the samples and candidate outcomes of the stage in progress.
 */

export interface PendingCandidate {
  name: string;
  stage: number;
  episode: number;
  index: number;
  parent: string;
  actions: CandidateRecord['actions'];
  notation: string;
  params: number;
}

export interface StageView {
  /** 0-based, as in the candidate records. */
  stage: number;
  start: NetworkRef | null;
  /** The stage summary was written (the stage finished). */
  recorded: boolean;
  /** Networks the configuration allows this stage (null without config). */
  budget: number | null;
}

export interface FinalView {
  from: string;
  network: NetworkRef;
}

export interface RunView {
  searchId: string;
  runDir: string;
  /** result.json exists: the search finished (or was stopped and finalised). */
  complete: boolean;
  stopped: boolean;
  controller: 'rl' | 'random' | null;
  dataset: string | null;
  config: SearchConfig | null;
  start: NetworkRef | null;
  stages: StageView[];
  /** Every evaluated candidate, in sampling order. */
  candidates: CandidateRecord[];
  /** Sampled but not evaluated yet (in-progress runs only). */
  pending: PendingCandidate[];
  final: FinalView[];
  best: NetworkRef | null;
  bestFinal: NetworkRef | null;
  /** The start network with the same final training and each final's gain over it (null: none in this run). */
  reference: ReferenceView | null;
}

/** The run store is missing, or holds something the report or the export cannot use; the message names the file. */
export class RunStoreError extends JsonFileError {
  override name = 'RunStoreError';
}

/**
 * The storage root on this host: an explicit --runs wins, then EAS_STORAGE_ROOT, then "runs". For an object store
 * (s3://bucket/prefix) it is this host's cache of it; the async readers pull the search first (src/store/storage pullSearch).
 */
export function resolveStorageRoot(runs?: string): string {
  return storageRoot('runs', runs);
}

/** `<root>/<id>`, checked to exist and look like a run store. */
export function locateRun(root: string, searchId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(searchId)) throw new Error(`search id '${searchId}' is not a valid search name`);
  const dir = path.join(root, searchId);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new RunStoreError(dir, `no run store for search '${searchId}' under storage root ${root} (set --runs or EAS_STORAGE_ROOT)`);
  const layout = new RunLayout(dir);
  if (!fs.existsSync(layout.result()) && !fs.existsSync(layout.config()) && !fs.existsSync(layout.start())) {
    throw new RunStoreError(dir, 'is not a run store (no result.json, config.json or start/)');
  }
  return dir;
}

const StageSummarySchema = z.object({ stage: z.number().int(), start: NetworkRefSchema, candidates: z.array(CandidateRecordSchema) });
const OutcomeSchema = z.object({ network: NetworkRefSchema, diverged: z.boolean() }).passthrough();
// A sample's network is `net` (src/controller/types.ts); samples of plain searches written before the one controller kept it in `arch`.
const SamplesSchema = z
  .object({ samples: z.array(z.union([z.object({ actions: z.array(AnyActionSchema), net: AnyNetSchema }).passthrough(), z.object({ actions: z.array(AnyActionSchema), arch: ArchSchema }).passthrough()])) })
  .passthrough();
function sampledNet(s: z.infer<typeof SamplesSchema>['samples'][number]): { key: string; notation: string; params: number } {
  const net = 'net' in s ? s.net : s.arch;
  const space = spaceOfNet(net);
  return { key: space.key(net), notation: space.notation(net), params: space.params(net) };
}
const TransformMetaSchema = z.object({ maxAbsDiff: z.number().optional() }).passthrough();

function readOutcome(jobDir: string): z.infer<typeof OutcomeSchema> | undefined {
  const file = path.join(jobDir, 'outcome.json');
  return fs.existsSync(file) ? readJsonFile(file, OutcomeSchema, 'training outcome', RunStoreError) : undefined;
}

const numbered = (dir: string, prefix: string): number[] =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .map((f) => new RegExp(`^${prefix}-(\\d+)$`).exec(f))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => Number(m[1]))
        .sort((a, b) => a - b)
    : [];

/** The start network of stage `stage` (0-based) of an unfinished run, from what the run store holds. */
function stageStartInProgress(layout: RunLayout, stage: number, start: NetworkRef | null, previous: CandidateRecord[]): NetworkRef | null {
  if (stage === 0) return start;
  const best = readOutcome(layout.stageBest(stage - 1));
  if (best) return { ...best.network, name: `s${stage}-best` };
  // bestEpochs 0: the next stage starts from the previous stage's best candidate itself.
  return bestCandidate(previous)?.network ?? null;
}

/** Records of one unfinished stage: trained candidates from their outcomes, reused ones from the samples' keys. */
function stageInProgress(layout: RunLayout, stage: number, parent: string): { candidates: CandidateRecord[]; pending: PendingCandidate[] } {
  const candidates: CandidateRecord[] = [];
  const pending: PendingCandidate[] = [];
  const byKey = new Map<string, CandidateRecord>();
  for (const episode of numbered(layout.stage(stage), 'episode')) {
    const samplesFile = layout.samples(stage, episode);
    if (!fs.existsSync(samplesFile)) continue;
    const { samples } = readJsonFile(samplesFile, SamplesSchema, 'samples file', RunStoreError);
    const records: (CandidateRecord | undefined)[] = [];
    samples.forEach((s, index) => {
      const id = { stage, episode, index };
      const name = candidateName(id);
      const net = sampledNet(s);
      const key = net.key;
      const base = { name, stage, episode, index, parent, actions: s.actions };
      const jobDir = layout.candidate(id);
      const outcome = readOutcome(jobDir);
      const earlier = byKey.get(key);
      if (outcome) {
        const metaFile = path.join(jobPaths(jobDir).init, 'meta.json');
        const meta = fs.existsSync(metaFile) ? readJsonFile(metaFile, TransformMetaSchema, 'transformed network meta', RunStoreError) : {};
        const rec: CandidateRecord = { ...base, network: outcome.network, diverged: outcome.diverged, cachedFrom: null, maxAbsDiff: meta.maxAbsDiff ?? null, failed: null };
        records.push(rec);
        byKey.set(key, rec);
      } else if (earlier && !fs.existsSync(jobDir)) {
        records.push({ ...base, network: earlier.network, diverged: earlier.diverged, cachedFrom: earlier.name, maxAbsDiff: earlier.maxAbsDiff, failed: earlier.failed });
      } else {
        records.push(undefined);
        pending.push({ ...base, notation: net.notation, params: net.params });
      }
    });
    for (const r of records) if (r) candidates.push(r);
  }
  return { candidates, pending };
}

function finishedView(runDir: string): RunView {
  const file = new RunLayout(runDir).result();
  const r = readSearchResult(file);
  const budgets = r.config.stages.map((s) => s.networks);
  return {
    searchId: r.searchId,
    runDir,
    complete: true,
    stopped: r.stopped,
    controller: r.controller,
    dataset: r.dataset,
    config: r.config,
    start: r.start,
    // result.json numbers its stages from 1; the candidate records from 0.
    stages: r.stages.map((s) => ({ stage: s.stage - 1, start: s.start, recorded: true, budget: budgets[s.stage - 1] ?? null })),
    candidates: r.candidates,
    pending: [],
    final: r.final,
    best: r.best,
    bestFinal: r.bestFinal,
    reference: referenceOfResult(r),
  };
}

function progressView(runDir: string, searchId: string): RunView {
  const layout = new RunLayout(runDir);
  const config = fs.existsSync(layout.config()) ? readJsonFile(layout.config(), SearchConfigSchema, 'search configuration', RunStoreError) : null;
  const startOutcome = readOutcome(layout.start());
  const start = startOutcome ? startOutcome.network : null;
  const stages: StageView[] = [];
  const candidates: CandidateRecord[] = [];
  const pending: PendingCandidate[] = [];
  const stageCount = Math.max(config?.stages.length ?? 0, numbered(runDir, 'stage').at(-1) ?? 0);
  let previous: CandidateRecord[] = [];
  for (let s = 0; s < stageCount; s++) {
    const budget = config?.stages[s]?.networks ?? null;
    const summaryFile = layout.stageSummary(s);
    if (fs.existsSync(summaryFile)) {
      const summary = readJsonFile(summaryFile, StageSummarySchema, 'stage summary', RunStoreError);
      stages.push({ stage: s, start: summary.start, recorded: true, budget });
      candidates.push(...summary.candidates);
      previous = summary.candidates;
      continue;
    }
    if (!fs.existsSync(layout.stage(s))) break;
    const stageStart = stageStartInProgress(layout, s, start, previous);
    const found = stageInProgress(layout, s, stageStart?.name ?? (s === 0 ? 'start' : `s${s}-best`));
    stages.push({ stage: s, start: stageStart, recorded: false, budget });
    candidates.push(...found.candidates);
    pending.push(...found.pending);
    previous = found.candidates;
  }
  const final: FinalView[] = [];
  for (const rank of numbered(path.join(runDir, 'final'), 'top')) {
    const outcome = readOutcome(layout.final(rank - 1));
    const metaFile = path.join(layout.final(rank - 1), 'trained', 'meta.json');
    if (!outcome || !fs.existsSync(metaFile)) continue;
    const meta = readJsonFile(metaFile, z.object({ startedFrom: z.string() }).passthrough(), 'checkpoint meta', RunStoreError);
    const from = candidates.find((c) => !c.cachedFrom && sameRunPath({ searchId }, c.network.dir, meta.startedFrom));
    final.push({ from: from?.name ?? meta.startedFrom, network: { ...outcome.network, name: `top-${rank}` } });
  }
  return {
    searchId,
    runDir,
    complete: false,
    stopped: false,
    controller: config?.controller.kind ?? null,
    dataset: config?.dataset.name ?? null,
    config,
    start,
    stages,
    candidates,
    pending,
    final,
    best: bestCandidate(candidates)?.network ?? null,
    bestFinal: bestNetwork(final),
    reference: referenceInProgress(layout, final),
  };
}

/** An unfinished run's reference: the start network's final training once it has finished (final/reference). */
function referenceInProgress(layout: RunLayout, final: FinalView[]): ReferenceView | null {
  const outcome = readOutcome(layout.finalReference());
  if (!outcome) return null;
  const network = { ...outcome.network, name: 'reference' };
  return { network, failed: null, gains: gainsOver(network, final) };
}

export function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}

/** The part of a recorded path below the search's folder ("stage-1/episode-000/candidate-01/trained"), if any. */
function inRun(searchId: string, p: string): string | undefined {
  const parts = p.split(/[\\/]/);
  const at = parts.lastIndexOf(searchId);
  return at >= 0 ? parts.slice(at + 1).join('/') : undefined;
}

/** Two recorded paths name the same file of this run store (also when the store was moved since). */
export function sameRunPath(view: Pick<RunView, 'searchId'>, a: string, b: string): boolean {
  if (samePath(a, b)) return true;
  const ra = inRun(view.searchId, a);
  return ra !== undefined && ra === inRun(view.searchId, b);
}

/** Load the view of `<root>/<id>`: from result.json when it exists, else from the files present so far. */
export function loadRunView(runDir: string, searchId = path.basename(runDir)): RunView {
  return fs.existsSync(new RunLayout(runDir).result()) ? finishedView(runDir) : progressView(runDir, searchId);
}

/**
 * A network directory recorded in the run store, resolved on this host: as recorded when it exists, else the same
 * path below `runDir` (the run store was moved or mounted elsewhere).
 */
export function resolveNetworkDir(view: Pick<RunView, 'runDir' | 'searchId'>, dir: string): string {
  if (fs.existsSync(dir)) return dir;
  const rel = inRun(view.searchId, dir);
  if (rel !== undefined) {
    const moved = path.join(view.runDir, rel);
    if (fs.existsSync(moved)) return moved;
  }
  throw new RunStoreError(dir, `network checkpoint is missing (recorded in the run store of '${view.searchId}' at ${view.runDir})`);
}

// ---- Additions for the live dashboard (src/ui): listing run stores, a candidate's training curve ----------------

/** Whether `id` is a valid search name (the folder of a run store under the root): no separators, no leading dot. */
export function isRunId(id: string): boolean {
  return SEARCH_NAME.test(id) && id.length <= 200;
}

/** The search ids under the storage root that hold a run store (result.json, config.json or start/), sorted by name. */
export function listRunIds(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && isRunId(d.name))
    .map((d) => d.name)
    .filter((id) => {
      const layout = new RunLayout(path.join(root, id));
      return fs.existsSync(layout.result()) || fs.existsSync(layout.config()) || fs.existsSync(layout.start());
    })
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

/** The search space a run explores: 'plain' (the paper's CNN space) or 'densenet' (null without config). */
export function runSpaceKind(view: Pick<RunView, 'config'>): 'plain' | 'densenet' | null {
  return view.config ? view.config.searchSpace.kind : null;
}

/** Where a candidate's training job lives in this run store (its init/, work/ epoch checkpoints and trained/). */
export function candidateJobDir(view: Pick<RunView, 'runDir'>, c: Pick<CandidateRecord, 'stage' | 'episode' | 'index'>): string {
  return new RunLayout(view.runDir).candidate({ stage: c.stage, episode: c.episode, index: c.index });
}

/** One epoch of a training curve, as the trainer records it (src/train/checkpoint.ts EpochRecord). */
export interface CurvePoint {
  epoch: number;
  loss: number;
  trainAcc: number;
  valAcc: number | null;
  lr: number;
  seconds: number;
}

const CurvePointSchema = z.object({ epoch: z.number(), loss: z.number(), trainAcc: z.number(), valAcc: z.number().nullable(), lr: z.number(), seconds: z.number() }).passthrough();
// A network published without training (a no-op trainer, a given checkpoint) has no trainResult: no curve.
const TrainedMetaSchema = z.object({ trainResult: z.object({ history: z.array(CurvePointSchema) }).passthrough().optional() }).passthrough();
const EpochStateSchema = z.object({ history: z.array(CurvePointSchema) }).passthrough();

/**
 * The per-epoch training curve of a training job folder: from its published network (trained/meta.json) when it
 * finished, else from its latest epoch checkpoint (work/epoch-NNNN/state.json) while it trains; empty when neither
 * exists yet. `done` tells which.
 */
export function trainingCurve(jobDir: string): { points: CurvePoint[]; done: boolean } {
  const { trained, work } = jobPaths(jobDir);
  const metaFile = path.join(trained, 'meta.json');
  if (fs.existsSync(metaFile)) {
    const meta = readJsonFile(metaFile, TrainedMetaSchema, 'trained network meta', RunStoreError);
    return { points: (meta.trainResult?.history ?? []).map(curvePoint), done: true };
  }
  const epochs = numbered(work, 'epoch');
  for (const e of epochs.reverse()) {
    const state = path.join(work, `epoch-${String(e).padStart(4, '0')}`, 'state.json');
    if (!fs.existsSync(state)) continue;
    return { points: readJsonFile(state, EpochStateSchema, 'epoch checkpoint state', RunStoreError).history.map(curvePoint), done: false };
  }
  return { points: [], done: false };
}

const curvePoint = (h: z.infer<typeof CurvePointSchema>): CurvePoint => ({ epoch: h.epoch, loss: h.loss, trainAcc: h.trainAcc, valAcc: h.valAcc, lr: h.lr, seconds: h.seconds });
