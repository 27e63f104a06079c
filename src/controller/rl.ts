import * as tf from '@tensorflow/tfjs';
import { type AnySearchSpace, type DeeperChoice, type SearchSpaceConfig, spaceOf } from '../space';
import { writeJsonAtomic } from '../util/atomic';
import { Adam, type AdamState } from './adam';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type ControllerCheckpoint, encodeTensors } from './checkpoint';
import type { ControllerConfig } from './config';
import type { LstmState } from './lstm';
import { PolicyNet, maskTensor, maskedLogSoftmax, oneHotRows, policyShapeOf } from './policy';
import { baselineStep, episodeRewards } from './reward';
import { type Chooser, drawMasked, sampleWith } from './sampling';
import type { Controller, Decision, DeeperDecision, Sample, SampleSteps, UpdateOptions, UpdateStats, WiderDecision } from './types';

export interface RlState {
  params: Record<string, Float32Array>;
  adam?: AdamState;
  baseline: number | null;
  updates: number;
}

type WiderRow = WiderDecision & { advantage: number };
type DeeperRow = DeeperDecision & { advantage: number };

const pad = (row: readonly boolean[], width: number): boolean[] => Array.from({ length: width }, (_, j) => row[j] === true);
const allTrue = (k: number): boolean[] => Array.from({ length: k }, () => true);

/**
 * Check that a recorded decision fits a policy's heads and vocabulary before its log-probability is recomputed: the
 * tokens are the space's ids, the masks have one entry per token, nothing masked was chosen, and a kernel index is
 * given exactly where the block had kernel choices. `where` names the decision in errors.
 */
export function checkDecision(d: Decision, heads: { maxBlocks: number; maxPositions: number; vocabSize: number; kernelChoices: number }, where: string): void {
  const bad = d.tokens.find((t) => t < 1 || t >= heads.vocabSize);
  if (d.tokens.length === 0 || bad !== undefined) throw new Error(`${where}: ${d.tokens.length === 0 ? 'no tokens' : `token id ${bad} is outside the space's vocabulary (1..${heads.vocabSize - 1})`}`);
  if (d.type === 'wider') {
    if (d.mask.length !== d.tokens.length || d.widen.length !== d.tokens.length) throw new Error(`${where}: wider mask/decision lengths do not match the ${d.tokens.length} tokens`);
    if (d.widen.some((w, j) => w && !d.mask[j])) throw new Error(`${where}: a masked layer was widened`);
    return;
  }
  if (d.block >= heads.maxBlocks || !d.blockMask[d.block]) throw new Error(`${where}: block ${d.block} is not a valid choice`);
  if (d.position >= heads.maxPositions || !d.positionMask[d.position]) throw new Error(`${where}: position ${d.position} is not a valid choice`);
  if ((d.kernelIndex === null) !== (d.kernelMask === null)) throw new Error(`${where}: kernelIndex and kernelMask must both be set (a block with kernel choices) or both null`);
  if (d.kernelIndex !== null && (d.kernelIndex >= heads.kernelChoices || !d.kernelMask?.[d.kernelIndex])) throw new Error(`${where}: kernel index ${d.kernelIndex} is not a valid choice`);
}

/**
 * The paper's RL meta-controller, in any search space: a bidirectional-LSTM encoder over the space's tokens, a
 * Net2Wider actor (one Bernoulli per token, masked by the space) and a Net2Deeper decoder actor (block, position, and a
 * kernel size where the space has kernel choices), trained with REINFORCE (EMA baseline, one advantage per network
 * shared by all of its decisions, entropy bonus, Adam).
 */
export class RlController implements Controller {
  readonly kind = 'rl' as const;
  readonly space: AnySearchSpace;
  private readonly net: PolicyNet;
  private readonly adam: Adam;
  private baseline: number | null;
  private updates: number;

  constructor(
    readonly config: ControllerConfig,
    readonly searchSpace: SearchSpaceConfig,
    state: RlState,
  ) {
    this.space = spaceOf(searchSpace, { poolMaxSize: config.poolMaxSize });
    this.net = new PolicyNet(config, policyShapeOf(this.space), state.params);
    const shapes = Object.fromEntries(Object.entries(this.net.specs).map(([k, s]) => [k, s.shape]));
    try {
      this.adam = new Adam(config.learningRate, shapes, state.adam);
    } catch (err) {
      this.net.dispose();
      throw err;
    }
    this.baseline = state.baseline;
    this.updates = state.updates;
  }

  private readonly chooser: Chooser = {
    widen: (views, rngs) => {
      const probs = tf.tidy(() => tf.sigmoid(this.net.widerLogits(this.net.encodeIds(views.map((v) => v.tokens)).outputs)));
      const p = probs.arraySync() as number[][];
      probs.dispose();
      return views.map((v, i) => v.widenMask.map((ok, j) => ok && rngs[i].bernoulli(p[i][j])));
    },
    deepen: (masks, views, rngs) => {
      const { maxBlocks, maxPositions } = this.config;
      const K = this.space.kernelChoices;
      // Sequential decisions; the decoder state is carried between them outside tidy and disposed by hand.
      let state = tf.tidy(() => {
        const s = this.net.decoderInit(this.net.encodeIds(views.map((v) => v.tokens)).final);
        return [s.h, s.c];
      });
      const advance = (fn: (s: LstmState) => { state: LstmState; logits: tf.Tensor2D }, mask: boolean[][], width: number): number[][] => {
        const [h, c, probs] = tf.tidy(() => {
          const r = fn({ h: state[0] as tf.Tensor2D, c: state[1] as tf.Tensor2D });
          return [r.state.h, r.state.c, tf.exp(maskedLogSoftmax(r.logits, maskTensor(mask, width)))];
        });
        tf.dispose(state);
        state = [h, c];
        const p = probs.arraySync() as number[][];
        probs.dispose();
        return p;
      };
      try {
        const pBlock = advance((s) => this.net.blockStep(s), masks.map((m) => m.blockMask), maxBlocks);
        const choices: DeeperChoice[] = masks.map((m, i) => ({ block: drawMasked(rngs[i], pBlock[i], m.blockMask), position: 0, kernelIndex: null }));
        const pPos = advance((s) => this.net.positionStep(s, choices.map((c) => c.block)), masks.map((m, i) => m.positionMasks[choices[i].block]), maxPositions);
        choices.forEach((c, i) => (c.position = drawMasked(rngs[i], pPos[i], masks[i].positionMasks[c.block])));
        if (K > 0) {
          const kernelMasks = masks.map((m, i) => m.kernelMasks[choices[i].block]);
          const pKernel = advance((s) => this.net.kernelStep(s, choices.map((c) => c.position)), kernelMasks.map((k) => k ?? allTrue(K)), K);
          choices.forEach((c, i) => (c.kernelIndex = kernelMasks[i] ? drawMasked(rngs[i], pKernel[i], kernelMasks[i]) : null));
        }
        return choices;
      } finally {
        tf.dispose(state);
      }
    },
  };

  sample(start: unknown, n: number, seed: number, steps: SampleSteps = this.config): Sample[] {
    return sampleWith(this.chooser, this.space, start, n, seed, { widerSteps: steps.widerSteps, deeperSteps: steps.deeperSteps }, { maxBlocks: this.config.maxBlocks, maxPositions: this.config.maxPositions });
  }

  private rows(samples: readonly Sample[], advantages: readonly number[], where: (i: number, k: number) => string): { wider: WiderRow[]; deeper: DeeperRow[] } {
    const heads = { maxBlocks: this.config.maxBlocks, maxPositions: this.config.maxPositions, vocabSize: this.space.vocabSize, kernelChoices: this.space.kernelChoices };
    const wider: WiderRow[] = [];
    const deeper: DeeperRow[] = [];
    samples.forEach((s, i) =>
      s.decisions.forEach((d, k) => {
        checkDecision(d, heads, where(i, k));
        if (d.type === 'wider') wider.push({ ...d, advantage: advantages[i] });
        else deeper.push({ ...d, advantage: advantages[i] });
      }),
    );
    return { wider, deeper };
  }

  /**
   * REINFORCE on one episode. Loss = −(1/N) Σ_n A_n Σ_{d ∈ n} log π(d) − entropyBonus · mean entropy of the decisions,
   * as the reference code (which divides rewards by the batch size and sums over decisions).
   */
  update(samples: readonly Sample[], accuracies: readonly (number | null)[], opts: UpdateOptions = {}): UpdateStats {
    const rewards = episodeRewards(samples, accuracies, this.space, this.config);
    const { baseline, advantages } = baselineStep(opts.stageStart ? null : this.baseline, rewards, this.config);
    const { wider, deeper } = this.rows(samples, advantages, (i, k) => `sample ${i}, decision ${k}`);
    let loss = NaN;
    let entropy = NaN;
    if (wider.length + deeper.length > 0) {
      const varList = Object.values(this.net.vars);
      const byVarName = new Map(Object.entries(this.net.vars).map(([k, v]) => [v.name, k]));
      let kept: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const terms = this.objective(wider, deeper);
        kept = tf.keep(terms.entropy);
        return tf.sub(tf.neg(tf.div(terms.logProbSum, samples.length)), tf.mul(this.config.entropyBonus, terms.entropy)) as tf.Scalar;
      }, varList);
      try {
        loss = value.dataSync()[0];
        entropy = kept ? kept.dataSync()[0] : NaN;
        const named: Record<string, tf.Tensor> = {};
        for (const [varName, g] of Object.entries(grads)) named[byVarName.get(varName) ?? varName] = g;
        this.adam.apply(this.net.vars, named);
      } finally {
        tf.dispose([value, kept, ...Object.values(grads)]);
      }
    }
    this.baseline = baseline;
    this.updates += 1;
    const meanReward = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    return { rewards, advantages, meanReward, baseline, updates: this.updates, loss, entropy };
  }

  /** Σ advantage · log-prob over all decisions, and the mean entropy of the decisions taken. */
  private objective(widerRows: WiderRow[], deeperRows: DeeperRow[]): { logProbSum: tf.Scalar; entropy: tf.Scalar } {
    const Bw = widerRows.length;
    const Bd = deeperRows.length;
    const enc = this.net.encodeIds([...widerRows.map((r) => r.tokens), ...deeperRows.map((r) => r.tokens)]);
    const steps = enc.outputs.shape[1];
    let logProbSum: tf.Scalar = tf.scalar(0);
    let entropySum: tf.Scalar = tf.scalar(0);
    let count = 0;
    if (Bw > 0) {
      const z = this.net.widerLogits(tf.slice(enc.outputs, [0, 0, 0], [Bw, -1, -1]));
      const mask = maskTensor(widerRows.map((r) => r.mask), steps);
      const taken = maskTensor(widerRows.map((r) => r.widen), steps);
      const adv = tf.tensor2d(widerRows.map((r) => r.advantage), [Bw, 1]);
      const logP1 = tf.neg(tf.softplus(tf.neg(z)));
      const logP0 = tf.neg(tf.softplus(z));
      const chosen = tf.add(tf.mul(taken, logP1), tf.mul(tf.sub(1, taken), logP0));
      logProbSum = tf.add(logProbSum, tf.sum(tf.mul(tf.mul(chosen, mask), adv)));
      const p = tf.sigmoid(z);
      const h = tf.neg(tf.add(tf.mul(p, logP1), tf.mul(tf.sub(1, p), logP0)));
      entropySum = tf.add(entropySum, tf.sum(tf.mul(h, mask)));
      count += widerRows.reduce((s, r) => s + r.mask.filter(Boolean).length, 0);
    }
    if (Bd > 0) {
      const { maxBlocks, maxPositions } = this.config;
      const K = this.space.kernelChoices;
      const rows = (t: tf.Tensor2D) => tf.slice(t, [Bw, 0], [Bd, -1]);
      const s0 = this.net.decoderInit({ h: rows(enc.final.h), c: rows(enc.final.c) });
      const blocks = deeperRows.map((r) => r.block);
      const positions = deeperRows.map((r) => r.position);
      const r0 = this.net.blockStep(s0);
      const r1 = this.net.positionStep(r0.state, blocks);
      const heads: [tf.Tensor2D, boolean[][], number[], number, number[]][] = [
        [r0.logits, deeperRows.map((r) => pad(r.blockMask, maxBlocks)), blocks, maxBlocks, deeperRows.map(() => 1)],
        [r1.logits, deeperRows.map((r) => pad(r.positionMask, maxPositions)), positions, maxPositions, deeperRows.map(() => 1)],
      ];
      if (K > 0) {
        // Every row runs the kernel step (so every kernel parameter has a gradient); rows without a kernel choice weigh 0.
        const r2 = this.net.kernelStep(r1.state, positions);
        heads.push([r2.logits, deeperRows.map((r) => r.kernelMask ?? allTrue(K)), deeperRows.map((r) => r.kernelIndex ?? 0), K, deeperRows.map((r) => (r.kernelIndex !== null ? 1 : 0))]);
      }
      const adv = tf.tensor1d(deeperRows.map((r) => r.advantage));
      for (const [logits, maskRows, chosenIdx, width, weight] of heads) {
        const lp = maskedLogSoftmax(logits, maskTensor(maskRows, width));
        const w = tf.tensor1d(weight);
        const chosen = tf.sum(tf.mul(lp, oneHotRows(chosenIdx, width)), 1);
        logProbSum = tf.add(logProbSum, tf.sum(tf.mul(tf.mul(chosen, w), adv)));
        const h = tf.neg(tf.sum(tf.mul(tf.exp(lp), lp), 1));
        entropySum = tf.add(entropySum, tf.sum(tf.mul(h, w)));
        count += weight.reduce((a, b) => a + b, 0);
      }
    }
    return { logProbSum, entropy: count > 0 ? tf.div(entropySum, count) : tf.scalar(0) };
  }

  /** log π(sample) under the current policy: the sum of the log-probabilities of its recorded decisions. */
  logProb(sample: Sample): number {
    const { wider, deeper } = this.rows([sample], [1], (_i, k) => `decision ${k}`);
    if (wider.length + deeper.length === 0) return 0;
    const t = tf.tidy(() => this.objective(wider, deeper).logProbSum);
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  }

  /** The weights now (copies), by parameter name. */
  weights(): Record<string, Float32Array> {
    return this.net.read();
  }

  toCheckpoint(): ControllerCheckpoint {
    const shapes = Object.fromEntries(Object.entries(this.net.specs).map(([k, s]) => [k, s.shape]));
    const adam = this.adam.state();
    return {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      kind: 'rl',
      config: this.config,
      searchSpace: this.searchSpace,
      updates: this.updates,
      baseline: this.baseline,
      params: encodeTensors(this.net.read(), shapes),
      adam: { step: adam.step, beta1Power: adam.beta1Power, beta2Power: adam.beta2Power, m: encodeTensors(adam.m, shapes), v: encodeTensors(adam.v, shapes) },
    };
  }

  save(path: string): void {
    writeJsonAtomic(path, this.toCheckpoint());
  }

  dispose(): void {
    this.net.dispose();
    this.adam.dispose();
  }
}
