import { z } from 'zod';
import { ConfigError, SEARCH_NAME, type SearchConfig, type SearchConfigInput, validateSearchConfig } from '../config/search-config';

/**
 * An experiment (issue 21): a grid of arms × seeds over one base search config. Arms of kind `search` are searches (the
 * base config with the arm's overrides, e.g. controller.kind); the arm of kind `reference` trains the start network with
 * the final recipe for as many training image-epochs as the base search plans to spend (src/experiment/plan.ts).
 * Pure zod and pure functions: the CLI validates with them, and so does the workflow.
 */

const ARM_NAME = /^[a-z0-9][a-z0-9_]*$/;

/** A plain JSON object (the arm's overrides of the base search config, merged field by field). */
const OverridesSchema = z.record(z.string(), z.unknown());

export const ArmSchema = z.discriminatedUnion('kind', [
  z
    .object({
      name: z.string().regex(ARM_NAME, 'lower-case letters, digits and "_", starting with a letter or digit'),
      kind: z.literal('search'),
      /** Fields of the base search config this arm changes (deep-merged; arrays replaced), e.g. { controller: { kind: random } }. */
      overrides: OverridesSchema.default({}),
    })
    .strict(),
  z
    .object({
      name: z.string().regex(ARM_NAME, 'lower-case letters, digits and "_", starting with a letter or digit'),
      kind: z.literal('reference'),
    })
    .strict(),
]);
export type Arm = z.infer<typeof ArmSchema>;

export const ExperimentConfigSchema = z
  .object({
    /** The workflow id and the run-store folder; children are named `<name>-<arm>-s<seed>`. */
    name: z.string().regex(SEARCH_NAME, 'letters, digits, ".", "_" and "-", starting with a letter or digit'),
    /** The base search config, inline (a path to one is resolved by the loader, src/experiment/load.ts). */
    search: z.record(z.string(), z.unknown()),
    arms: z.array(ArmSchema).min(1),
    /** One search (or reference) per arm and seed; a seed is the child search's `seed` (start net, data split, sampling). */
    seeds: z.array(z.number().int()).min(1),
    /** Children running at once. */
    concurrency: z.number().int().positive().default(2),
    /** Run-store root of the experiment and its children (default: the base search's storage.root). */
    storage: z.object({ root: z.string().min(1) }).strict().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.arms.forEach((a, i) => {
      if (names.has(a.name)) ctx.addIssue({ code: 'custom', path: ['arms', i, 'name'], message: `arm "${a.name}" appears twice` });
      names.add(a.name);
    });
    const seeds = new Set<number>();
    c.seeds.forEach((s, i) => {
      if (seeds.has(s)) ctx.addIssue({ code: 'custom', path: ['seeds', i], message: `seed ${s} appears twice` });
      seeds.add(s);
    });
    if (!c.arms.some((a) => a.kind === 'search')) ctx.addIssue({ code: 'custom', path: ['arms'], message: 'at least one arm must be of kind "search"' });
    if (c.arms.filter((a) => a.kind === 'reference').length > 1) ctx.addIssue({ code: 'custom', path: ['arms'], message: 'at most one arm of kind "reference"' });
  });

export type ExperimentConfig = z.infer<typeof ExperimentConfigSchema>;
export type ExperimentConfigInput = z.input<typeof ExperimentConfigSchema>;

/** One child of the grid: its workflow id (also its run-store folder), arm, seed and the config it runs. */
export interface ChildSpec {
  id: string;
  arm: string;
  kind: Arm['kind'];
  seed: number;
  /** The child's search config (a reference child uses it for its start net, data, recipe and run store). */
  config: SearchConfig;
}

/** `<experiment>-<arm>-s<seed>`: deterministic, so a resumed experiment finds its children again. */
export const childId = (experiment: string, arm: string, seed: number): string => `${experiment}-${arm}-s${seed < 0 ? `m${-seed}` : seed}`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge of plain objects: `over`'s fields win, objects merge field by field, arrays and scalars are replaced. */
export function mergeOverrides(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? mergeOverrides(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/** Fields an arm may not override: the experiment sets them for every child. */
const FIXED_FIELDS = ['name', 'seed', 'storage'];

/** The experiment's run-store root as configured. */
export const experimentRoot = (c: ExperimentConfig): string => c.storage?.root ?? ((c.search.storage as { root?: string } | undefined)?.root ?? 'runs');

/**
 * Every child of the grid, seed by seed (so the arms of one seed finish close together), arms in the config's order.
 * Each child's search config is validated; all problems are reported at once, naming the arm and the field.
 */
export function planChildren(c: ExperimentConfig, source = '(experiment)'): ChildSpec[] {
  const issues: { path: string; message: string }[] = [];
  const root = experimentRoot(c);
  const children: ChildSpec[] = [];
  c.arms.forEach((arm, ai) => {
    if (arm.kind === 'search') {
      for (const f of FIXED_FIELDS) if (f in arm.overrides) issues.push({ path: `arms.${ai}.overrides.${f}`, message: `set by the experiment for every child; remove it` });
    }
  });
  if (issues.length) throw new ConfigError(source, issues);
  for (const seed of c.seeds) {
    for (const [ai, arm] of c.arms.entries()) {
      const id = childId(c.name, arm.name, seed);
      const merged = mergeOverrides(c.search, arm.kind === 'search' ? arm.overrides : {});
      const raw = { ...merged, name: id, seed, storage: { root } } as SearchConfigInput;
      try {
        children.push({ id, arm: arm.name, kind: arm.kind, seed, config: validateSearchConfig(raw, `arm ${arm.name}`) });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        // One report per arm is enough: the seed does not change what is wrong.
        if (seed === c.seeds[0]) for (const i of err.issues) issues.push({ path: arm.kind === 'search' ? `arms.${ai} (search + overrides).${i.path}` : `search.${i.path}`, message: i.message });
      }
    }
  }
  if (issues.length) throw new ConfigError(source, issues);
  return children;
}

/** Schema, then every child's search config: throws ConfigError naming each bad field. */
export function validateExperimentConfig(raw: unknown, source = '(input)'): { config: ExperimentConfig; children: ChildSpec[] } {
  const r = ExperimentConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(source, r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
  return { config: r.data, children: planChildren(r.data, source) };
}
