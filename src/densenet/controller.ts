import { z } from 'zod';
import { Rng, deriveSeed } from '../util/rng';
import { type DenseAction, DenseActionSchema, applyDenseActionToNet, denseDeeperMask, denseWidenable } from './actions';
import { validateDenseNet } from './analysis';
import { type DenseNet, DenseNetSchema, type DenseSpace } from './schema';

/**
 * The meta-controller's view of a DenseNet (pure; the policy network consumes it the way it consumes plain nets):
 * - the encoder reads one token per part, in network order: the stem, each dense layer (by growth rate), each
 *   transition, and the classifier;
 * - the wider actor takes one Bernoulli per token, valid only on dense layers whose growth can still grow to the next
 *   of the space's rates ({40, 44, …, 64} in the paper), so repeated steps choose a layer's growth from that set;
 * - the deeper actor picks a dense block, then a position in it (insert after that layer); there is no kernel head.
 */

export const DENSE_PAD_ID = 0;
export const DENSE_UNK_ID = 1;

/** Tokens: <pad>, <unk>, stem, transition, classifier, then dense-g for every growth rate of the space. */
export class DenseVocabulary {
  readonly tokens: string[];
  private readonly ids: Map<string, number>;

  constructor(space: DenseSpace) {
    this.tokens = ['<pad>', '<unk>', 'stem', 'transition', 'classifier', ...space.growthRates.map((g) => `dense-${g}`)];
    this.ids = new Map(this.tokens.map((t, i) => [t, i]));
  }

  get size(): number {
    return this.tokens.length;
  }

  id(token: string): number {
    return this.ids.get(token) ?? DENSE_UNK_ID;
  }
}

export interface DenseView {
  /** Token ids in network order. */
  tokens: number[];
  /** The dense layer id behind each token (null for stem, transitions, classifier). */
  layerIds: (string | null)[];
  /** Wider actor mask over the tokens. */
  widenMask: boolean[];
}

/** The encoder's sequence and the wider actor's mask for `net`. Growth rates outside the space map to <unk>. */
export function denseView(net: DenseNet, space: DenseSpace, vocab: DenseVocabulary): DenseView {
  const widenable = denseWidenable(net, space);
  const tokens = [vocab.id('stem')];
  const layerIds: (string | null)[] = [null];
  const widenMask = [false];
  net.blocks.forEach((b, bi) => {
    b.layers.forEach((l, li) => {
      tokens.push(vocab.id(`dense-${l.growth}`));
      layerIds.push(l.id);
      widenMask.push(widenable[bi][li]);
    });
    if (b.transition !== undefined) {
      tokens.push(vocab.id('transition'));
      layerIds.push(null);
      widenMask.push(false);
    }
  });
  tokens.push(vocab.id('classifier'));
  layerIds.push(null);
  widenMask.push(false);
  return { tokens, layerIds, widenMask };
}

export interface DenseDeeperMasks {
  blockMask: boolean[];
  /** Per block, per position (insert after that layer). */
  positionMasks: boolean[][];
}

/** Valid deeper choices, limited to the policy heads' sizes; throws when nothing is valid. */
export function denseDeeperMasks(net: DenseNet, space: DenseSpace, maxBlocks = Infinity, maxPositions = Infinity): DenseDeeperMasks {
  const positionMasks = denseDeeperMask(net, space).map((row, b) => row.map((ok, p) => ok && b < maxBlocks && p < maxPositions));
  const blockMask = positionMasks.map((row) => row.some(Boolean));
  if (!blockMask.some(Boolean)) throw new Error('no valid DenseNet deeper choice (every block is full or beyond the policy heads)');
  return { blockMask, positionMasks };
}

/** Makes the per-step decisions for a batch of networks (the RL policy or the random twin). */
export interface DenseChooser {
  widen(views: readonly DenseView[], rngs: readonly Rng[]): boolean[][];
  /** `views`: the networks the choices are made on (the RL policy encodes them; the random twin ignores them). */
  deepen(masks: readonly DenseDeeperMasks[], rngs: readonly Rng[], views: readonly DenseView[]): { block: number; position: number }[];
}

function uniformIndex(rng: Rng, mask: readonly boolean[]): number {
  return rng.categorical(mask.map((ok) => (ok ? 1 : 0)));
}

/** The random twin: each widenable layer with probability 0.5; uniform valid block, then uniform valid position. */
export const randomDenseChooser: DenseChooser = {
  widen: (views, rngs) => views.map((v, i) => v.widenMask.map((ok) => ok && rngs[i].bernoulli(0.5))),
  deepen: (masks, rngs) =>
    masks.map((m, i) => {
      const block = uniformIndex(rngs[i], m.blockMask);
      return { block, position: uniformIndex(rngs[i], m.positionMasks[block]) };
    }),
};

export const DenseWiderDecisionSchema = z
  .object({ type: z.literal('wider'), net: DenseNetSchema, tokens: z.array(z.number().int()), mask: z.array(z.boolean()), widen: z.array(z.boolean()) })
  .strict();
export const DenseDeeperDecisionSchema = z
  .object({
    type: z.literal('deeper'),
    net: DenseNetSchema,
    blockMask: z.array(z.boolean()),
    block: z.number().int().nonnegative(),
    positionMask: z.array(z.boolean()),
    position: z.number().int().nonnegative(),
  })
  .strict();
export const DenseDecisionSchema = z.discriminatedUnion('type', [DenseWiderDecisionSchema, DenseDeeperDecisionSchema]);
export const DenseSampleSchema = z.object({ actions: z.array(DenseActionSchema), net: DenseNetSchema, decisions: z.array(DenseDecisionSchema) }).strict();
export type DenseDecision = z.infer<typeof DenseDecisionSchema>;
export type DenseSample = z.infer<typeof DenseSampleSchema>;

export interface DenseSampleOptions {
  widerSteps: number;
  deeperSteps: number;
  maxBlocks?: number;
  maxPositions?: number;
}

/**
 * Sample n networks from `start`: widerSteps wider steps then deeperSteps deeper steps (as for plain nets), recording
 * every decision with its mask and the network it was taken on. Network i draws from deriveSeed(seed, 'sample', i).
 */
export function sampleDense(chooser: DenseChooser, start: DenseNet, n: number, seed: number, opts: DenseSampleOptions, space: DenseSpace): DenseSample[] {
  if (!Number.isInteger(n) || n < 1) throw new Error(`number of samples must be a positive integer, got ${n}`);
  validateDenseNet(start);
  const vocab = new DenseVocabulary(space);
  const rngs = Array.from({ length: n }, (_, i) => Rng.fromSeed(deriveSeed(seed, 'sample', i)));
  const nets: DenseNet[] = Array.from({ length: n }, () => start);
  const actions: DenseAction[][] = nets.map(() => []);
  const decisions: DenseDecision[][] = nets.map(() => []);
  for (let step = 0; step < opts.widerSteps; step++) {
    const views = nets.map((net) => denseView(net, space, vocab));
    const widen = chooser.widen(views, rngs);
    nets.forEach((net, i) => {
      const v = views[i];
      const w = v.widenMask.map((ok, j) => ok && widen[i][j] === true);
      const action: DenseAction = { type: 'wider', layers: v.layerIds.filter((id, j): id is string => w[j] && id !== null) };
      decisions[i].push({ type: 'wider', net, tokens: v.tokens, mask: v.widenMask, widen: w });
      actions[i].push(action);
      nets[i] = applyDenseActionToNet(net, action, space);
    });
  }
  for (let step = 0; step < opts.deeperSteps; step++) {
    const masks = nets.map((net) => denseDeeperMasks(net, space, opts.maxBlocks, opts.maxPositions));
    const choices = chooser.deepen(masks, rngs, nets.map((net) => denseView(net, space, vocab)));
    nets.forEach((net, i) => {
      const { block, position } = choices[i];
      const m = masks[i];
      if (!m.blockMask[block] || !m.positionMasks[block][position]) throw new Error(`chooser picked an invalid DenseNet deeper choice (block ${block}, position ${position})`);
      const action: DenseAction = { type: 'deeper', block, position };
      decisions[i].push({ type: 'deeper', net, blockMask: m.blockMask, block, positionMask: m.positionMasks[block], position });
      actions[i].push(action);
      nets[i] = applyDenseActionToNet(net, action, space);
    });
  }
  return nets.map((net, i) => ({ actions: actions[i], net, decisions: decisions[i] }));
}
