import * as tf from '@tensorflow/tfjs';
import type { Arch, SearchSpace } from '../arch';
import { writeJsonAtomic } from '../util/atomic';
import { Adam, type AdamState } from './adam';
import { CHECKPOINT_FORMAT, type ControllerCheckpoint, encodeTensors } from './checkpoint';
import type { ControllerConfig } from './config';
import type { LstmState } from './lstm';
import { PolicyNet, maskTensor, maskedLogSoftmax, oneHotRows } from './policy';
import { baselineStep, cleanAccuracy, rewardOf } from './reward';
import { type Chooser, type DeeperChoice, drawMasked, isConvBlock, sampleWith } from './sampling';
import type { Controller, DeeperDecision, Sample, UpdateStats, WiderDecision } from './types';

export interface RlState {
  params: Record<string, Float32Array>;
  adam?: AdamState;
  baseline: number | null;
  updates: number;
}

type WiderRow = WiderDecision & { advantage: number };
type DeeperRow = DeeperDecision & { advantage: number };

const pad = (row: readonly boolean[], width: number): boolean[] => Array.from({ length: width }, (_, j) => row[j] === true);

/**
 * The paper's RL meta-controller: a bidirectional-LSTM encoder, a Net2Wider actor and a Net2Deeper decoder actor,
 * trained with REINFORCE (EMA baseline, one advantage per network shared by all of its decisions, entropy bonus, Adam).
 */
export class RlController implements Controller {
  readonly kind = 'rl' as const;
  private readonly net: PolicyNet;
  private readonly adam: Adam;
  private baseline: number | null;
  private updates: number;

  constructor(
    readonly config: ControllerConfig,
    readonly space: SearchSpace,
    state: RlState,
  ) {
    this.net = new PolicyNet(config, space, state.params);
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
    widen: (archs, masks, rngs) => {
      const probs = tf.tidy(() => tf.sigmoid(this.net.widerLogits(this.net.encode(archs).outputs)));
      const p = probs.arraySync() as number[][];
      probs.dispose();
      return masks.map((m, i) => m.map((ok, j) => ok && rngs[i].bernoulli(p[i][j])));
    },
    deepen: (archs, masks, rngs) => {
      const { maxBlocks, maxPositions } = this.config;
      const K = this.space.convKernels.length;
      // Three sequential decisions; the decoder state is carried between them outside tidy and disposed by hand.
      let state = tf.tidy(() => {
        const s = this.net.decoderInit(this.net.encode(archs).final);
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
        const pKernel = advance((s) => this.net.kernelStep(s, choices.map((c) => c.position)), masks.map((m) => m.kernelMask), K);
        choices.forEach((c, i) => (c.kernelIndex = isConvBlock(masks[i], c.block) ? drawMasked(rngs[i], pKernel[i], masks[i].kernelMask) : null));
        return choices;
      } finally {
        tf.dispose(state);
      }
    },
  };

  sample(start: Arch, n: number, seed: number): Sample[] {
    return sampleWith(this.chooser, start, n, seed, this.config, this.space, { maxBlocks: this.config.maxBlocks, maxPositions: this.config.maxPositions });
  }

  /** Check that a recorded decision fits this policy's heads before its log-probability is recomputed. */
  private checkDecision(d: WiderDecision | DeeperDecision, where: string): void {
    if (d.type === 'wider') {
      if (d.mask.length !== d.arch.layers.length || d.widen.length !== d.arch.layers.length) throw new Error(`${where}: wider mask/decision lengths do not match the arch's ${d.arch.layers.length} layers`);
      if (d.widen.some((w, j) => w && !d.mask[j])) throw new Error(`${where}: a masked layer was widened`);
      return;
    }
    const { maxBlocks, maxPositions } = this.config;
    if (d.block >= maxBlocks || !d.blockMask[d.block]) throw new Error(`${where}: block ${d.block} is not a valid choice`);
    if (d.position >= maxPositions || !d.positionMask[d.position]) throw new Error(`${where}: position ${d.position} is not a valid choice`);
    if ((d.kernelIndex === null) !== (d.kernelMask === null)) throw new Error(`${where}: kernelIndex and kernelMask must both be set (conv block) or both null (fc block)`);
    if (d.kernelIndex !== null && (d.kernelIndex >= this.space.convKernels.length || !d.kernelMask?.[d.kernelIndex])) throw new Error(`${where}: kernel index ${d.kernelIndex} is not a valid choice`);
  }

  /**
   * REINFORCE on one episode. Loss = −(1/N) Σ_n A_n Σ_{d ∈ n} log π(d) − entropyBonus · mean entropy of the decisions,
   * as the reference code (which divides rewards by the batch size and sums over decisions).
   */
  update(samples: Sample[], accuracies: readonly (number | null)[]): UpdateStats {
    if (samples.length === 0 || samples.length !== accuracies.length) throw new Error(`update needs one accuracy per sample, got ${samples.length} samples and ${accuracies.length} accuracies`);
    const rewards = samples.map((s, i) => rewardOf(cleanAccuracy(accuracies[i], i), s.arch, this.config));
    const { baseline, advantages } = baselineStep(this.baseline, rewards, this.config);
    const widerRows: WiderRow[] = [];
    const deeperRows: DeeperRow[] = [];
    samples.forEach((s, i) =>
      s.decisions.forEach((d, k) => {
        this.checkDecision(d, `sample ${i}, decision ${k}`);
        if (d.type === 'wider') widerRows.push({ ...d, advantage: advantages[i] });
        else deeperRows.push({ ...d, advantage: advantages[i] });
      }),
    );
    let loss = NaN;
    let entropy = NaN;
    if (widerRows.length + deeperRows.length > 0) {
      const varList = Object.values(this.net.vars);
      const byVarName = new Map(Object.entries(this.net.vars).map(([k, v]) => [v.name, k]));
      let kept: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const terms = this.objective(widerRows, deeperRows);
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
    const enc = this.net.encode([...widerRows.map((r) => r.arch), ...deeperRows.map((r) => r.arch)]);
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
      const K = this.space.convKernels.length;
      const rows = (t: tf.Tensor2D) => tf.slice(t, [Bw, 0], [Bd, -1]);
      const s0 = this.net.decoderInit({ h: rows(enc.final.h), c: rows(enc.final.c) });
      const blocks = deeperRows.map((r) => r.block);
      const positions = deeperRows.map((r) => r.position);
      const hasKernel = deeperRows.map((r) => r.kernelIndex !== null);
      const r0 = this.net.blockStep(s0);
      const r1 = this.net.positionStep(r0.state, blocks);
      const r2 = this.net.kernelStep(r1.state, positions);
      const heads: [tf.Tensor2D, boolean[][], number[], number, number[]][] = [
        [r0.logits, deeperRows.map((r) => pad(r.blockMask, maxBlocks)), blocks, maxBlocks, deeperRows.map(() => 1)],
        [r1.logits, deeperRows.map((r) => pad(r.positionMask, maxPositions)), positions, maxPositions, deeperRows.map(() => 1)],
        [r2.logits, deeperRows.map((r) => r.kernelMask ?? K_ALL(K)), deeperRows.map((r) => r.kernelIndex ?? 0), K, hasKernel.map((k) => (k ? 1 : 0))],
      ];
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
    const widerRows: WiderRow[] = [];
    const deeperRows: DeeperRow[] = [];
    sample.decisions.forEach((d, k) => {
      this.checkDecision(d, `decision ${k}`);
      if (d.type === 'wider') widerRows.push({ ...d, advantage: 1 });
      else deeperRows.push({ ...d, advantage: 1 });
    });
    if (widerRows.length + deeperRows.length === 0) return 0;
    const t = tf.tidy(() => this.objective(widerRows, deeperRows).logProbSum);
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
      version: 1,
      kind: 'rl',
      config: this.config,
      space: this.space,
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

const K_ALL = (k: number): boolean[] => Array.from({ length: k }, () => true);
