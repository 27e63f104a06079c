import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { toFailure } from '../activities/errors';
import { canonicalJson } from '../store/inputs';
import { ExperimentLayout, referencePaths } from '../store/layout';
import { inStore, toStore } from '../store/root';
import { type RunStore, openStore } from '../store/storage';
import { writeJsonAtomic } from '../util/atomic';
import { compareExperiment } from './compare';
import { ChildOutcomeSchema, ExperimentRecordSchema, ReferenceRecordSchema } from './records';
import { loadExperiment, pullExperiment } from './results';

/**
 * The experiment workflow's activities (registered by the control worker): small file writes into the run store,
 * each atomic (writeJsonAtomic, as the search's records) and then published to the store (on an object store: uploaded,
 * its commit marker last), each idempotent (same input, same file).
 */

const RecordExperimentInputSchema = z.object({ storageRoot: z.string().min(1), record: ExperimentRecordSchema });
const RecordChildInputSchema = z.object({ storageRoot: z.string().min(1), experimentId: z.string().min(1), outcome: ChildOutcomeSchema });
const WriteReferenceInputSchema = z.object({ storageRoot: z.string().min(1), runDir: z.string().min(1), record: ReferenceRecordSchema });
const SummarizeInputSchema = z.object({ storageRoot: z.string().min(1), experimentId: z.string().min(1) });

export type RecordExperimentInput = z.infer<typeof RecordExperimentInputSchema>;
export type RecordChildInput = z.infer<typeof RecordChildInputSchema>;
export type WriteReferenceInput = z.infer<typeof WriteReferenceInputSchema>;
export type SummarizeInput = z.infer<typeof SummarizeInputSchema>;

function parseInput<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw ApplicationFailure.create({ type: 'BadInput', nonRetryable: true, message: `${what}: invalid input: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` });
  }
  return r.data;
}

export function createExperimentActivities(deps: { storageRoot?: string } = {}) {
  const storeFor = (configured: string): RunStore => openStore(configured, deps.storageRoot);
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      throw toFailure(err);
    }
  };
  /** Writes `value` to `file` (a path under the store's local root) atomically and publishes it; returns its store path. */
  const put = async (store: RunStore, file: string, value: unknown, replace: boolean): Promise<string> => {
    writeJsonAtomic(file, value);
    const stored = toStore(store.root, file);
    await store.publish(stored, { replace });
    return stored;
  };
  return {
    /**
     * <root>/<experiment>/experiment.json. An experiment of the same name recorded with another config or grid is
     * refused (a name keeps its experiment, as a search's does).
     */
    async recordExperiment(raw: RecordExperimentInput): Promise<string> {
      const input = parseInput(RecordExperimentInputSchema, raw, 'recordExperiment');
      return guarded(async () => {
        const store = storeFor(input.storageRoot);
        const file = new ExperimentLayout(path.join(store.root, input.record.experimentId)).record();
        await store.pull(toStore(store.root, file));
        if (fs.existsSync(file)) {
          const old = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
          if (canonicalJson(old) !== canonicalJson(input.record)) {
            throw ApplicationFailure.create({
              type: 'InputsChanged',
              nonRetryable: true,
              message: `${file} records experiment "${input.record.experimentId}" with another configuration: give this one another name, or move the old one aside`,
            });
          }
          // Published already, unless an earlier attempt stopped between the write and the upload.
          await store.publish(toStore(store.root, file));
          return toStore(store.root, file);
        }
        return put(store, file, input.record, false);
      });
    },

    /** <root>/<experiment>/children/<child>.json: a finished child's outcome (the latest attempt's wins). */
    async recordChild(raw: RecordChildInput): Promise<string> {
      const input = parseInput(RecordChildInputSchema, raw, 'recordChild');
      return guarded(async () => {
        const store = storeFor(input.storageRoot);
        return put(store, new ExperimentLayout(path.join(store.root, input.experimentId)).child(input.outcome.id), input.outcome, true);
      });
    },

    /** <root>/<reference child>/reference.json. */
    async writeReference(raw: WriteReferenceInput): Promise<string> {
      const input = parseInput(WriteReferenceInputSchema, raw, 'writeReference');
      return guarded(async () => {
        const store = storeFor(input.storageRoot);
        return put(store, referencePaths(inStore(store.root, input.runDir)).record, input.record, true);
      });
    },

    /** <root>/<experiment>/summary.json: the comparison (src/experiment/compare.ts) of everything recorded. */
    async summarizeExperiment(raw: SummarizeInput): Promise<string> {
      const input = parseInput(SummarizeInputSchema, raw, 'summarizeExperiment');
      return guarded(async () => {
        const store = storeFor(input.storageRoot);
        await pullExperiment(store, input.experimentId);
        const view = loadExperiment(store.root, input.experimentId);
        const file = new ExperimentLayout(path.join(store.root, input.experimentId)).summary();
        const summary = { ...compareExperiment(view), children: view.children.map(({ metrics, ...c }) => ({ ...c, metrics: metrics && { ...metrics, runningBest: undefined } })) };
        return put(store, file, summary, true);
      });
    },
  };
}

export type ExperimentActivities = ReturnType<typeof createExperimentActivities>;
