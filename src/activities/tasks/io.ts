import { inputsFile } from '../../store/inputs';
import { RunLayout, jobPaths } from '../../store/layout';
import type { RunStore } from '../../store/storage';
import type { ControlTaskName } from './index';

/**
 * What each control task reads from and writes to the run store, as stored paths: the activity pulls `reads` into this
 * host's view of the store before the task runs, and publishes `writes` (those that exist, in this order: inputs
 * records before the artifacts they describe, a probe's images before its meta) after it returned. With a directory
 * store both are no-ops; with an object store this is what makes a task run on any host.
 */
export interface TaskIo {
  reads: string[];
  writes: string[];
}

const withInputs = (output: string): string[] => [inputsFile(output), output];
const SEARCH_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function taskIo(task: ControlTaskName, input: Record<string, unknown>): TaskIo {
  const s = (k: string): string | undefined => (typeof input[k] === 'string' && input[k] ? (input[k] as string) : undefined);
  switch (task) {
    case 'prepareSearch': {
      const id = s('searchId');
      // A bad id is the task's to report (ConfigError naming the field).
      if (!id || !SEARCH_ID.test(id)) return { reads: [], writes: [] };
      const layout = new RunLayout(id);
      const probe = layout.probe();
      const init = jobPaths(layout.start()).init;
      const all = [layout.config(), inputsFile(probe.meta), probe.images, probe.meta, ...withInputs(init)];
      return { reads: all, writes: all };
    }
    case 'samplePolicy': {
      const runDir = s('runDir')!;
      const samples = new RunLayout(runDir).samples(Number(input.stage), Number(input.episode));
      return { reads: [s('start'), s('policy'), ...withInputs(samples)].filter((x): x is string => !!x), writes: withInputs(samples) };
    }
    case 'transformCandidate': {
      const probe = new RunLayout(s('runDir')!).probe();
      const out = s('output')!;
      return { reads: [s('start')!, probe.images, probe.meta, ...withInputs(out)], writes: withInputs(out) };
    }
    case 'updatePolicy': {
      const out = s('output')!;
      const outputs = [...withInputs(out), `${out}.summary.json`];
      return { reads: [s('samplesFile')!, s('policy'), ...outputs].filter((x): x is string => !!x), writes: outputs };
    }
  }
}

/** Pull every read (in parallel): what is not published yet is simply absent, as on a directory store. */
export async function pullReads(store: RunStore, io: TaskIo): Promise<void> {
  await Promise.all(io.reads.map((r) => store.pull(r)));
}

/** Publish every write that exists on this host, in order. */
export async function publishWrites(store: RunStore, io: TaskIo, exists: (local: string) => boolean): Promise<void> {
  for (const w of io.writes) if (exists(store.localPath(w))) await store.publish(w);
}
