import { z } from 'zod';
import type { AnySearchSpace, SearchSpaceConfig } from '../space';
import type { ControllerCheckpoint } from './checkpoint';
import type { ControllerConfig } from './config';

/**
 * The decisions record what the policy saw, not the network: the encoder's token ids (`space.view(net).tokens`) and
 * the masks of the heads. That is all REINFORCE needs to recompute a decision's log-probability, in any space.
 */
const TokensSchema = z.array(z.number().int().nonnegative());

/** A Net2Wider decision: one Bernoulli per token, taken only where `mask` is true. */
export const WiderDecisionSchema = z.object({ type: z.literal('wider'), tokens: TokensSchema, mask: z.array(z.boolean()), widen: z.array(z.boolean()) }).strict();

/**
 * A Net2Deeper decision: a block (valid where blockMask), a position in it (valid where positionMask), and where the
 * block takes a kernel choice, a kernel index into the space's kernel choices (valid where kernelMask); both null
 * where it takes none (the plain space's fc block, every DenseNet block).
 */
export const DeeperDecisionSchema = z
  .object({
    type: z.literal('deeper'),
    tokens: TokensSchema,
    blockMask: z.array(z.boolean()),
    block: z.number().int().nonnegative(),
    positionMask: z.array(z.boolean()),
    position: z.number().int().nonnegative(),
    kernelMask: z.array(z.boolean()).nullable(),
    kernelIndex: z.number().int().nonnegative().nullable(),
  })
  .strict();

export const DecisionSchema = z.discriminatedUnion('type', [WiderDecisionSchema, DeeperDecisionSchema]);

export type WiderDecision = z.infer<typeof WiderDecisionSchema>;
export type DeeperDecision = z.infer<typeof DeeperDecisionSchema>;
export type Decision = z.infer<typeof DecisionSchema>;

/** One sampled network: the space's actions from the start net, the final network, and every decision with its masks. */
export interface Sample<N = unknown, A = unknown> {
  actions: A[];
  net: N;
  decisions: Decision[];
}

/**
 * A sample of any space, its actions and network unchecked (what crosses Temporal and the samples file); read it with
 * `sampleSchemaFor(space)` where the space is known.
 */
export const SampleSchema = z
  .object({ actions: z.array(z.unknown()), net: z.unknown().refine((n) => n !== undefined, 'a sample needs its network'), decisions: z.array(DecisionSchema) })
  .strict() as unknown as z.ZodType<Sample>;

/**
 * A sample of `space`: its actions and network checked by the space's schemas. Samples written before the one
 * controller (the plain `{actions, arch, decisions: [{arch, …}]}` and the DenseNet `{actions, net, decisions: [{net, …}]}`
 * files of existing run stores) are read too, their decisions' tokens recomputed from the recorded networks.
 */
export function sampleSchemaFor<N, A>(space: { netSchema: z.ZodType<N>; actionSchema: z.ZodType<A>; view: AnySearchSpace['view'] }): z.ZodType<Sample<N, A>> {
  const current = z.object({ actions: z.array(space.actionSchema), net: space.netSchema, decisions: z.array(DecisionSchema) }).strict();
  return z.preprocess((raw) => upgradeSample(raw, space), current) as unknown as z.ZodType<Sample<N, A>>;
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * An old-format sample in the current format (anything else unchanged, for the schema to judge): plain samples kept the
 * architecture in `arch` and in every decision; DenseNet samples kept the network in every decision and had no tokens
 * and no kernel fields on deeper decisions.
 */
export function upgradeSample(raw: unknown, space: { netSchema: z.ZodType<unknown>; view: AnySearchSpace['view'] }): unknown {
  if (!isObj(raw) || !Array.isArray(raw.decisions)) return raw;
  const legacyPlain = 'arch' in raw && !('net' in raw);
  const legacy = legacyPlain || raw.decisions.some((d) => isObj(d) && ('net' in d || 'arch' in d));
  if (!legacy) return raw;
  const tokensOf = (net: unknown): unknown => {
    const r = space.netSchema.safeParse(net);
    return r.success ? space.view(r.data).tokens : undefined;
  };
  const decisions = raw.decisions.map((d) => {
    if (!isObj(d)) return d;
    const { arch, net, ...rest } = d;
    const on = arch ?? net;
    const tokens = rest.tokens ?? tokensOf(on);
    if (rest.type === 'wider') return { type: rest.type, tokens, mask: rest.mask, widen: rest.widen };
    return { type: rest.type, tokens, blockMask: rest.blockMask, block: rest.block, positionMask: rest.positionMask, position: rest.position, kernelMask: rest.kernelMask ?? null, kernelIndex: rest.kernelIndex ?? null };
  });
  const { arch, ...rest } = raw;
  return { actions: rest.actions, net: legacyPlain ? arch : rest.net, decisions };
}

export interface UpdateStats {
  /** Reward per network (after the accuracy transform and the optional parameter penalty). */
  rewards: number[];
  /** Reward − baseline per network, shared by all of its decisions. */
  advantages: number[];
  meanReward: number;
  /** Baseline after this update. */
  baseline: number;
  /** Updates applied so far (the random controller counts calls but learns nothing). */
  updates: number;
  /** Policy-gradient loss and mean decision entropy before the step (NaN for the random controller). */
  loss: number;
  entropy: number;
}

export type ControllerKind = 'rl' | 'random';

/** How one update treats its batch. */
export interface UpdateOptions {
  /**
   * The batch is the first of a search stage after the first: the baseline carried from the previous stage (rewards
   * around another start network) is forgotten, and the batch is handled as a search's very first one (reward.ts
   * `baselineStep` with no previous baseline; with the default 'paper' update: centred on its own mean). The policy's
   * weights and Adam state are kept.
   */
  stageStart?: boolean;
}

/** Net2Wider then Net2Deeper steps per sampled network (a stage's; by default the controller config's). */
export interface SampleSteps {
  widerSteps: number;
  deeperSteps: number;
}

/**
 * What the search loop needs from a controller, RL or random, in any search space (it never asks which), so both can
 * run side by side on the same budget.
 */
export interface Controller {
  readonly kind: ControllerKind;
  readonly config: ControllerConfig;
  /** The space's configuration (what the checkpoint records) and the space built from it. */
  readonly searchSpace: SearchSpaceConfig;
  readonly space: AnySearchSpace;
  /**
   * n networks from `start` (steps.widerSteps Net2Wider then steps.deeperSteps Net2Deeper steps; by default the
   * config's); same state + seed → same samples, and network i does not depend on n.
   */
  sample(start: unknown, n: number, seed: number, steps?: SampleSteps): Sample[];
  /**
   * One update from an episode: accuracies in [0, 1], one per sample; a failed or diverged network
   * (NaN/Infinity/null accuracy) counts as accuracy 0.
   */
  update(samples: readonly Sample[], accuracies: readonly (number | null)[], opts?: UpdateOptions): UpdateStats;
  /** The whole state as one JSON-serialisable object (what `save` writes atomically). */
  toCheckpoint(): ControllerCheckpoint;
  save(path: string): void;
  dispose(): void;
}
