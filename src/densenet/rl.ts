import * as tf from '@tensorflow/tfjs';
import { DEFAULT_SPACE } from '../arch/space';
import { Adam, type AdamState } from '../controller/adam';
import { encodeTensors } from '../controller/checkpoint';
import type { ControllerConfig } from '../controller/config';
import type { LstmState } from '../controller/lstm';
import { PolicyNet, initialValues, maskTensor, maskedLogSoftmax, oneHotRows, paramSpecs } from '../controller/policy';
import { baselineStep, cleanAccuracy } from '../controller/reward';
import { drawMasked } from '../controller/sampling';
import { deriveSeed } from '../util/rng';
import { type DenseChooser, type DenseSample, DenseVocabulary, denseView, sampleDense } from './controller';
import type { DenseNet, DenseSpace } from './schema';
import { denseReward } from './reward';

/**
 * The paper's RL meta-controller in the DenseNet space: the same BiLSTM encoder, wider actor and deeper decoder as the
 * plain space's (src/controller/policy.ts), reading the DenseView tokens (stem, dense-g per layer, transitions,
 * classifier); the wider actor's Bernoulli per token is masked to the growable layers, the deeper decoder picks a
 * block then a position. DenseNets have no kernel choice: the kernel head exists (the parameter set is the plain
 * one's) but every decision weighs it 0, so it neither samples nor learns. REINFORCE as src/controller/rl.ts.
 */

// The kernel head's width is the plain default space's; unused here.
const KERNEL_SPACE = DEFAULT_SPACE;

export interface DenseRlState {
  params: Record<string, Float32Array>;
  adam?: AdamState;
  baseline: number | null;
  updates: number;
}

interface Row {
  tokens: number[];
  advantage: number;
}
type WiderRow = Row & { mask: boolean[]; widen: boolean[] };
type DeeperRow = Row & { blockMask: boolean[]; block: number; positionMask: boolean[]; position: number };

const pad = (row: readonly boolean[], width: number): boolean[] => Array.from({ length: width }, (_, j) => row[j] === true);

export function denseParamSpecs(config: ControllerConfig, space: DenseSpace) {
  return paramSpecs(config, KERNEL_SPACE, new DenseVocabulary(space).size);
}

export class DenseRlController {
  readonly kind = 'rl' as const;
  private readonly net: PolicyNet;
  private readonly adam: Adam;
  private readonly vocab: DenseVocabulary;
  private baseline: number | null;
  private updates: number;

  constructor(
    readonly config: ControllerConfig,
    readonly space: DenseSpace,
    state: DenseRlState,
  ) {
    this.vocab = new DenseVocabulary(space);
    this.net = new PolicyNet(config, KERNEL_SPACE, state.params, this.vocab.size);
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

  /** A fresh policy: seeded initial weights (the plain controller's derivation). */
  static create(config: ControllerConfig, space: DenseSpace, seed: number): DenseRlController {
    return new DenseRlController(config, space, { params: initialValues(denseParamSpecs(config, space), deriveSeed(seed, 'controller-init')), baseline: null, updates: 0 });
  }

  private readonly chooser: DenseChooser = {
    widen: (views, rngs) => {
      const probs = tf.tidy(() => tf.sigmoid(this.net.widerLogits(this.net.encodeIds(views.map((v) => v.tokens)).outputs)));
      const p = probs.arraySync() as number[][];
      probs.dispose();
      return views.map((v, i) => v.widenMask.map((ok, j) => ok && rngs[i].bernoulli(p[i][j])));
    },
    deepen: (masks, rngs, views) => {
      const { maxBlocks, maxPositions } = this.config;
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
        const blocks = masks.map((m, i) => drawMasked(rngs[i], pBlock[i], m.blockMask));
        const pPos = advance((s) => this.net.positionStep(s, blocks), masks.map((m, i) => m.positionMasks[blocks[i]]), maxPositions);
        return blocks.map((block, i) => ({ block, position: drawMasked(rngs[i], pPos[i], masks[i].positionMasks[block]) }));
      } finally {
        tf.dispose(state);
      }
    },
  };

  sample(start: DenseNet, n: number, seed: number, steps: { widerSteps: number; deeperSteps: number }): DenseSample[] {
    return sampleDense(this.chooser, start, n, seed, { ...steps, maxBlocks: this.config.maxBlocks, maxPositions: this.config.maxPositions }, this.space);
  }

  private rows(samples: readonly DenseSample[], advantages: readonly number[]): { wider: WiderRow[]; deeper: DeeperRow[] } {
    const wider: WiderRow[] = [];
    const deeper: DeeperRow[] = [];
    const { maxBlocks, maxPositions } = this.config;
    samples.forEach((s, i) =>
      s.decisions.forEach((d, k) => {
        const where = `sample ${i}, decision ${k}`;
        if (d.type === 'wider') {
          if (d.mask.length !== d.tokens.length || d.widen.length !== d.tokens.length) throw new Error(`${where}: wider mask/decision lengths do not match the ${d.tokens.length} tokens`);
          if (d.widen.some((w, j) => w && !d.mask[j])) throw new Error(`${where}: a masked layer was widened`);
          wider.push({ tokens: d.tokens, mask: d.mask, widen: d.widen, advantage: advantages[i] });
        } else {
          if (d.block >= maxBlocks || !d.blockMask[d.block]) throw new Error(`${where}: block ${d.block} is not a valid choice`);
          if (d.position >= maxPositions || !d.positionMask[d.position]) throw new Error(`${where}: position ${d.position} is not a valid choice`);
          deeper.push({ tokens: denseView(d.net, this.space, this.vocab).tokens, blockMask: d.blockMask, block: d.block, positionMask: d.positionMask, position: d.position, advantage: advantages[i] });
        }
      }),
    );
    return { wider, deeper };
  }

  /** REINFORCE on one episode, as RlController.update (one advantage per network, entropy bonus, Adam). */
  update(samples: readonly DenseSample[], accuracies: readonly (number | null)[]) {
    if (samples.length === 0 || samples.length !== accuracies.length) throw new Error(`update needs one accuracy per sample, got ${samples.length} samples and ${accuracies.length} accuracies`);
    const rewards = samples.map((s, i) => denseReward(cleanAccuracy(accuracies[i], i), s.net, this.config));
    const { baseline, advantages } = baselineStep(this.baseline, rewards, this.config);
    const { wider, deeper } = this.rows(samples, advantages);
    let loss = NaN;
    let entropy = NaN;
    if (wider.length + deeper.length > 0) {
      const byVarName = new Map(Object.entries(this.net.vars).map(([k, v]) => [v.name, k]));
      let kept: tf.Scalar | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const terms = this.objective(wider, deeper);
        kept = tf.keep(terms.entropy);
        return tf.sub(tf.neg(tf.div(terms.logProbSum, samples.length)), tf.mul(this.config.entropyBonus, terms.entropy)) as tf.Scalar;
      }, Object.values(this.net.vars));
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

  /** log π(sample) under the current policy. */
  logProb(sample: DenseSample): number {
    const { wider, deeper } = this.rows([sample], [1]);
    if (wider.length + deeper.length === 0) return 0;
    const t = tf.tidy(() => this.objective(wider, deeper).logProbSum);
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  }

  private objective(wider: WiderRow[], deeper: DeeperRow[]): { logProbSum: tf.Scalar; entropy: tf.Scalar } {
    const Bw = wider.length;
    const Bd = deeper.length;
    const enc = this.net.encodeIds([...wider.map((r) => r.tokens), ...deeper.map((r) => r.tokens)]);
    const steps = enc.outputs.shape[1];
    let logProbSum: tf.Scalar = tf.scalar(0);
    let entropySum: tf.Scalar = tf.scalar(0);
    let count = 0;
    if (Bw > 0) {
      const z = this.net.widerLogits(tf.slice(enc.outputs, [0, 0, 0], [Bw, -1, -1]));
      const mask = maskTensor(wider.map((r) => r.mask), steps);
      const taken = maskTensor(wider.map((r) => r.widen), steps);
      const adv = tf.tensor2d(wider.map((r) => r.advantage), [Bw, 1]);
      const logP1 = tf.neg(tf.softplus(tf.neg(z)));
      const logP0 = tf.neg(tf.softplus(z));
      const chosen = tf.add(tf.mul(taken, logP1), tf.mul(tf.sub(1, taken), logP0));
      logProbSum = tf.add(logProbSum, tf.sum(tf.mul(tf.mul(chosen, mask), adv)));
      const p = tf.sigmoid(z);
      const h = tf.neg(tf.add(tf.mul(p, logP1), tf.mul(tf.sub(1, p), logP0)));
      entropySum = tf.add(entropySum, tf.sum(tf.mul(h, mask)));
      count += wider.reduce((s, r) => s + r.mask.filter(Boolean).length, 0);
    }
    if (Bd > 0) {
      const { maxBlocks, maxPositions } = this.config;
      const K = KERNEL_SPACE.convKernels.length;
      const rows = (t: tf.Tensor2D) => tf.slice(t, [Bw, 0], [Bd, -1]);
      const s0 = this.net.decoderInit({ h: rows(enc.final.h), c: rows(enc.final.c) });
      const blocks = deeper.map((r) => r.block);
      const positions = deeper.map((r) => r.position);
      const r0 = this.net.blockStep(s0);
      const r1 = this.net.positionStep(r0.state, blocks);
      // No kernel choice for DenseNets: the head is evaluated with weight 0 so that every parameter has a gradient.
      const r2 = this.net.kernelStep(r1.state, positions);
      const heads: [tf.Tensor2D, boolean[][], number[], number, number[]][] = [
        [r0.logits, deeper.map((r) => pad(r.blockMask, maxBlocks)), blocks, maxBlocks, deeper.map(() => 1)],
        [r1.logits, deeper.map((r) => pad(r.positionMask, maxPositions)), positions, maxPositions, deeper.map(() => 1)],
        [r2.logits, deeper.map(() => pad([], K).map(() => true)), deeper.map(() => 0), K, deeper.map(() => 0)],
      ];
      const adv = tf.tensor1d(deeper.map((r) => r.advantage));
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

  /** The policy checkpoint's tensors (src/densenet/search.ts writes the file). */
  state(): { params: ReturnType<typeof encodeTensors>; adam: { step: number; beta1Power: number; beta2Power: number; m: ReturnType<typeof encodeTensors>; v: ReturnType<typeof encodeTensors> }; baseline: number | null; updates: number } {
    const shapes = Object.fromEntries(Object.entries(this.net.specs).map(([k, s]) => [k, s.shape]));
    const adam = this.adam.state();
    return {
      params: encodeTensors(this.net.read(), shapes),
      adam: { step: adam.step, beta1Power: adam.beta1Power, beta2Power: adam.beta2Power, m: encodeTensors(adam.m, shapes), v: encodeTensors(adam.v, shapes) },
      baseline: this.baseline,
      updates: this.updates,
    };
  }

  dispose(): void {
    this.net.dispose();
    this.adam.dispose();
  }
}
