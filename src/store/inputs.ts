import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { diffConfigs, formatChanges, type FieldChange } from '../util/config-diff';
import { writeJsonAtomic } from '../util/atomic';

/**
 * Artifacts keyed by their inputs. Every activity output in the run store is found by its path; beside it,
 * `<output>.inputs.json` records the inputs that determine it (and their sha256 over canonical JSON). An artifact is
 * reused only when the inputs asking for it hash the same: a changed config re-run under the same search id would
 * otherwise silently mix stale results into the new search.
 */

/** JSON with object keys sorted at every level and undefined fields dropped: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : sortKeys(x)));
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort()
        .map((k) => [k, sortKeys(o[k])]),
    );
  }
  return v;
}

export function inputsHash(inputs: unknown): string {
  return createHash('sha256').update(canonicalJson(inputs)).digest('hex');
}

export const inputsFile = (output: string): string => `${output}.inputs.json`;

const InputsRecordSchema = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), inputs: z.unknown() });

/** An artifact (or a run folder's config.json) exists but was made from other inputs than the ones now asking for it. */
export class InputsChangedError extends Error {
  constructor(
    readonly file: string,
    readonly changes: FieldChange[],
    what: string,
  ) {
    super(
      `${file}: ${what} was made from different inputs than this run asks for:\n${formatChanges(changes) || '  (the recorded inputs differ)'}\n` +
        'The run store reuses finished work by its path, so a search cannot change its settings midway: start a new search ' +
        '(another name or search id), or delete that search folder to redo it from scratch.',
    );
    this.name = 'InputsChangedError';
  }
}

/** The inputs recorded beside `output`, or undefined when none are. A recorded file that does not parse names itself. */
export function readInputs(output: string): { sha256: string; inputs: unknown } | undefined {
  const file = inputsFile(output);
  if (!fs.existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message}); it records the inputs of ${output}`, { cause: err });
  }
  const r = InputsRecordSchema.safeParse(raw);
  if (!r.success) throw new Error(`${file}: expected { sha256, inputs }: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return { sha256: r.data.sha256, inputs: r.data.inputs };
}

/**
 * Before producing (or reusing) `output`: when inputs are recorded beside it they must hash the same as `inputs`
 * (else InputsChangedError naming the file and the fields that changed); when none are, they are recorded now, before
 * the output exists, so a finished output always has its inputs beside it.
 */
export function claimInputs(output: string, inputs: unknown, what = 'this artifact'): void {
  const sha256 = inputsHash(inputs);
  const recorded = readInputs(output);
  if (!recorded) {
    writeJsonAtomic(inputsFile(output), { sha256, inputs: JSON.parse(canonicalJson(inputs)) as unknown });
    return;
  }
  if (recorded.sha256 !== sha256) throw new InputsChangedError(inputsFile(output), diffConfigs(recorded.inputs, JSON.parse(canonicalJson(inputs))), what);
}

/**
 * A run folder's config.json: written on first use, compared on every later one. A differing config is refused with
 * the fields that differ.
 */
export function claimConfig(file: string, config: unknown): void {
  const now = JSON.parse(canonicalJson(config)) as unknown;
  if (!fs.existsSync(file)) {
    writeJsonAtomic(file, config);
    return;
  }
  let recorded: unknown;
  try {
    recorded = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  const changes = diffConfigs(JSON.parse(canonicalJson(recorded)), now);
  if (changes.length) throw new InputsChangedError(file, changes, 'this search folder');
}
