import * as fs from 'node:fs';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { bestCandidate, bestNetwork } from '../search/rules';
import { claimInputs, inputsFile } from '../store/inputs';
import { RunLayout } from '../store/layout';
import { type SearchResult, gainsOver } from '../store/result';
import { inStore, toStore } from '../store/root';
import { openStore } from '../store/storage';
import { writeJsonAtomic } from '../util/atomic';
import {
  CandidateRecordSchema,
  NetworkRefSchema,
  type PrepareSearchInput,
  PrepareSearchInputSchema,
  type PrepareSearchOutput,
  PrepareSearchOutputSchema,
  type RecordStageInput,
  RecordStageInputSchema,
  type SamplePolicyInput,
  SamplePolicyInputSchema,
  type SamplePolicyOutput,
  SamplePolicyOutputSchema,
  type SearchResultSummary,
  type TransformInput,
  TransformInputSchema,
  type TransformOutput,
  TransformOutputSchema,
  type UpdatePolicyInput,
  UpdatePolicyInputSchema,
  type UpdatePolicyOutput,
  UpdatePolicyOutputSchema,
  type WriteResultInput,
  WriteResultInputSchema,
} from './contract';
import type { ControlTaskName } from './tasks';
import { publishWrites, pullReads, taskIo } from './tasks/io';
import { toFailure } from './errors';
import { heartbeatEveryMs } from './options';

/** Runs a control task somewhere other than the worker's event loop (the control worker: a ChildPool). */
export interface TaskRunner {
  run(task: string, input: unknown, opts?: { signal?: AbortSignal }): Promise<unknown>;
}

export interface ControlActivityDeps {
  /** Runs the CPU-heavy tasks (prepare, sample, transform, update) off this process's event loop. */
  runner: TaskRunner;
  /** This host's run-store root, overriding the configured one (default: EAS_STORAGE_ROOT, else the configured root). */
  storageRoot?: string;
}

function parseInput<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw ApplicationFailure.create({
      type: 'BadInput',
      nonRetryable: true,
      message: `${what}: invalid input: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    });
  }
  return r.data;
}

const StageSummarySchema = z.object({ stage: z.number(), start: NetworkRefSchema, candidates: z.array(CandidateRecordSchema) });

/**
 * The control activities, with their dependencies injected (Temporal's dependency-injection pattern): the worker
 * registers the returned object; the workflow types its proxies with ControlActivities.
 */
export function createControlActivities(deps: ControlActivityDeps) {
  /** Runs `task` in the runner while heartbeating; a cancelled activity kills the task's child. */
  async function offloaded<O>(task: ControlTaskName, schema: z.ZodType<O>, configuredRoot: string, input: unknown): Promise<O> {
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), heartbeatEveryMs(ctx.info.heartbeatTimeoutMs));
    try {
      // The task works on files under this host's root; with an object store, its reads are pulled first and its
      // writes published after (src/activities/tasks/io.ts).
      const store = openStore(configuredRoot, deps.storageRoot);
      const io = taskIo(task, input as Record<string, unknown>);
      await pullReads(store, io);
      const out = await deps.runner.run(task, { root: store.root, input }, { signal: ctx.cancellationSignal });
      const r = schema.safeParse(out);
      if (!r.success) throw new Error(`${task}: the control child returned an invalid result: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      await publishWrites(store, io, fs.existsSync);
      return r.data;
    } catch (err) {
      // A cancelled activity: let the SDK report the cancellation rather than the killed child.
      if (ctx.cancellationSignal.aborted) throw err;
      throw toFailure(err);
    } finally {
      clearInterval(beat);
    }
  }

  return {
    /** Creates (or checks) the search's folder: config.json compared, the start network, the data probe. */
    async prepareSearch(raw: PrepareSearchInput): Promise<PrepareSearchOutput> {
      const input = parseInput(PrepareSearchInputSchema, raw, 'prepareSearch');
      return offloaded('prepareSearch', PrepareSearchOutputSchema, input.config.storage.root, input);
    },

    /** Samples an episode's networks from the policy (written once, returned on every retry). */
    async samplePolicy(raw: SamplePolicyInput): Promise<SamplePolicyOutput> {
      const input = parseInput(SamplePolicyInputSchema, raw, 'samplePolicy');
      return offloaded('samplePolicy', SamplePolicyOutputSchema, input.storageRoot, input);
    },

    /** Applies the sampled actions to the stage's start network, checks function preservation, saves the child. */
    async transformCandidate(raw: TransformInput): Promise<TransformOutput> {
      const input = parseInput(TransformInputSchema, raw, 'transformCandidate');
      return offloaded('transformCandidate', TransformOutputSchema, input.storageRoot, input);
    },

    /** One REINFORCE update from an episode (the next policy checkpoint, written once). */
    async updatePolicy(raw: UpdatePolicyInput): Promise<UpdatePolicyOutput> {
      const input = parseInput(UpdatePolicyInputSchema, raw, 'updatePolicy');
      return offloaded('updatePolicy', UpdatePolicyOutputSchema, input.storageRoot, input);
    },

    /** Writes a stage's summary to the run store, so the workflow can forget the stage's records. */
    async recordStage(raw: RecordStageInput): Promise<string> {
      const input = parseInput(RecordStageInputSchema, raw, 'recordStage');
      try {
        const store = openStore(input.storageRoot, deps.storageRoot);
        const root = store.root;
        const file = new RunLayout(inStore(root, input.runDir)).stageSummary(input.stage);
        const stored = toStore(root, file);
        await Promise.all([store.pull(inputsFile(stored)), store.pull(stored)]);
        const summary = { stage: input.stage, start: input.start, candidates: input.candidates };
        claimInputs(file, summary, `the summary of stage ${input.stage + 1}`);
        await store.publish(inputsFile(stored));
        if (!fs.existsSync(file)) writeJsonAtomic(file, summary);
        await store.publish(stored);
        return stored;
      } catch (err) {
        throw toFailure(err);
      }
    },

    /** The search's result: every candidate with architecture, accuracy and lineage, the stage starts, the final networks. */
    async writeResult(raw: WriteResultInput): Promise<SearchResultSummary> {
      const input = parseInput(WriteResultInputSchema, raw, 'writeResult');
      try {
        const store = openStore(input.config.storage.root, deps.storageRoot);
        const root = store.root;
        const layout = new RunLayout(inStore(root, input.runDir));
        const stages = [];
        for (let s = 0; s < input.stagesRecorded; s++) {
          const file = layout.stageSummary(s);
          await store.pull(toStore(root, file));
          stages.push(StageSummarySchema.parse(JSON.parse(fs.readFileSync(file, 'utf8'))));
        }
        const candidates = stages.flatMap((s) => s.candidates);
        const best = bestCandidate(candidates)?.network ?? null;
        const bestFinal = bestNetwork(input.final);
        const result: SearchResult = {
          searchId: input.searchId,
          dataset: input.config.dataset.name,
          controller: input.config.controller.kind,
          stopped: input.stopped,
          start: input.start,
          stages: stages.map((s) => ({ stage: s.stage + 1, start: s.start, candidates: s.candidates.length })),
          candidates,
          final: input.final,
          best,
          bestFinal,
          ...(input.reference ? { reference: input.reference, gains: gainsOver(input.reference.network, input.final) } : {}),
          policyUpdates: input.policyUpdates,
          config: input.config,
        };
        writeJsonAtomic(layout.result(), result);
        await store.publish(toStore(root, layout.result()), { replace: true });
        const reference = input.reference ? { reference: input.reference.network, gains: result.gains } : {};
        return { resultFile: toStore(root, layout.result()), best, bestFinal, candidates: candidates.length, policyUpdates: input.policyUpdates, ...reference };
      } catch (err) {
        throw toFailure(err);
      }
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;
