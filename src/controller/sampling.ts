import type { AnySearchSpace, DeeperChoice, DeeperMasks, Heads, NetView } from '../space';
import { Rng, deriveSeed } from '../util/rng';
import type { Decision, Sample, SampleSteps } from './types';

/**
 * Makes the per-step decisions for a batch of networks (the RL policy or the uniform random one); the driver records
 * them and applies the actions. It sees only the space's view of the networks: tokens and masks.
 */
export interface Chooser {
  /** For each network, which parts to widen (only where views[i].widenMask[j]). */
  widen(views: readonly NetView[], rngs: readonly Rng[]): boolean[][];
  /** For each network, a valid block, position, and kernel index exactly where masks[i].kernelMasks[block] is non-null. */
  deepen(masks: readonly DeeperMasks[], views: readonly NetView[], rngs: readonly Rng[]): DeeperChoice[];
}

/** Heads that limit nothing (the random controller). */
export const UNLIMITED_HEADS: Heads = { maxBlocks: Infinity, maxPositions: Infinity };

/** Draw an index with probability proportional to `probs`, restricted to `mask`; uniform if they give no mass. */
export function drawMasked(rng: Rng, probs: ArrayLike<number> | null, mask: readonly boolean[]): number {
  const w = mask.map((ok, i) => (ok ? (probs ? Math.max(0, probs[i]) : 1) : 0));
  if (!w.some((x) => x > 0)) return rng.categorical(mask.map((ok) => (ok ? 1 : 0)));
  return rng.categorical(w);
}

function startCheck(space: AnySearchSpace, start: unknown, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`number of samples must be a positive integer, got ${n}`);
  if (!space.owns(start)) throw new Error(`start network is not valid in the search space: it is not a ${space.kind} network`);
  try {
    space.validate(start);
  } catch (err) {
    throw new Error(`start network is not valid in the search space: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function checkChoice(m: DeeperMasks, c: DeeperChoice): void {
  const { block, position, kernelIndex } = c;
  const kernels = m.blockMask[block] ? m.kernelMasks[block] : undefined;
  const ok = m.blockMask[block] === true && m.positionMasks[block]?.[position] === true && (kernelIndex === null ? kernels === null : kernels?.[kernelIndex] === true);
  if (!ok) throw new Error(`chooser picked an invalid Net2Deeper choice (block ${block}, position ${position}, kernel index ${kernelIndex})`);
}

/** One transformation step of a sampled sequence. */
export type StepKind = 'wider' | 'deeper';

/** The paper's order: all Net2Wider steps, then all Net2Deeper steps. */
export function stepPlan(steps: SampleSteps): StepKind[] {
  return [...Array.from({ length: steps.widerSteps }, () => 'wider' as const), ...Array.from({ length: steps.deeperSteps }, () => 'deeper' as const)];
}

/**
 * The authors' random search's order (han-cai/EAS arch_search_convnet_net2net.py, random branch): at each step a
 * Net2Wider step with probability (wider steps left) / (steps left), else a Net2Deeper step, so every interleaving of
 * the two kinds is equally likely. Drawn from its own stream.
 */
export function randomStepPlan(steps: SampleSteps, rng: Rng): StepKind[] {
  const plan: StepKind[] = [];
  let wider = steps.widerSteps;
  let deeper = steps.deeperSteps;
  while (wider + deeper > 0) {
    const w = rng.float() < wider / (wider + deeper);
    plan.push(w ? 'wider' : 'deeper');
    if (w) wider--;
    else deeper--;
  }
  return plan;
}

/** Per network, the order of its steps: one plan for all, or network i's own (e.g. randomStepPlan). */
export type Plans = SampleSteps | readonly StepKind[] | ((network: number) => readonly StepKind[]);

/**
 * Sample n networks from `start` in `space`: the steps of `steps` (by default steps.widerSteps Net2Wider steps, then
 * steps.deeperSteps Net2Deeper steps; an explicit plan, or one per network, takes them in its own order), each on the
 * current network, recording every decision with its tokens and masks. Network i draws from its own stream
 * deriveSeed(seed, 'sample', i), so it does not depend on n.
 */
export function sampleWith(chooser: Chooser, space: AnySearchSpace, start: unknown, n: number, seed: number, steps: Plans, heads: Heads = UNLIMITED_HEADS): Sample[] {
  startCheck(space, start, n);
  const planOf = typeof steps === 'function' ? steps : Array.isArray(steps) ? () => steps as readonly StepKind[] : () => stepPlan(steps as SampleSteps);
  const plans = Array.from({ length: n }, (_, i) => planOf(i));
  const rngs = Array.from({ length: n }, (_, i) => Rng.fromSeed(deriveSeed(seed, 'sample', i)));
  const nets: unknown[] = Array.from({ length: n }, () => start);
  const actions: unknown[][] = nets.map(() => []);
  const decisions: Decision[][] = nets.map(() => []);
  const length = Math.max(0, ...plans.map((p) => p.length));
  for (let t = 0; t < length; t++) {
    // The networks whose step t is of each kind, in network order (all of them when every plan is the same).
    const of = (kind: StepKind) => plans.flatMap((p, i) => (p[t] === kind ? [i] : []));
    const w = of('wider');
    if (w.length) widerStep(chooser, space, w, nets, actions, decisions, rngs);
    const d = of('deeper');
    if (d.length) deeperStep(chooser, space, d, nets, actions, decisions, rngs, heads);
  }
  return nets.map((net, i) => ({ actions: actions[i], net, decisions: decisions[i] }));
}

function widerStep(chooser: Chooser, space: AnySearchSpace, idx: readonly number[], nets: unknown[], actions: unknown[][], decisions: Decision[][], rngs: readonly Rng[]): void {
  const views = idx.map((i) => space.view(nets[i]));
  const widen = chooser.widen(views, idx.map((i) => rngs[i]));
  idx.forEach((i, k) => {
    const net = nets[i];
    const v = views[k];
    const w = v.widenMask.map((ok, j) => ok && widen[k][j] === true);
    const action = space.widerAction(net, w);
    decisions[i].push({ type: 'wider', tokens: v.tokens, mask: v.widenMask, widen: w });
    actions[i].push(action);
    nets[i] = space.apply(net, action);
  });
}

function deeperStep(chooser: Chooser, space: AnySearchSpace, idx: readonly number[], nets: unknown[], actions: unknown[][], decisions: Decision[][], rngs: readonly Rng[], heads: Heads): void {
  const masks = idx.map((i) => space.deeperMasks(nets[i], heads));
  const views = idx.map((i) => space.view(nets[i]));
  const choices = chooser.deepen(masks, views, idx.map((i) => rngs[i]));
  idx.forEach((i, k) => {
    const net = nets[i];
    const m = masks[k];
    const c = choices[k];
    checkChoice(m, c);
    const action = space.deeperAction(net, c);
    decisions[i].push({
      type: 'deeper',
      tokens: views[k].tokens,
      blockMask: m.blockMask,
      block: c.block,
      positionMask: m.positionMasks[c.block],
      position: c.position,
      kernelMask: c.kernelIndex !== null ? m.kernelMasks[c.block] : null,
      kernelIndex: c.kernelIndex,
    });
    actions[i].push(action);
    nets[i] = space.apply(net, action);
  });
}
