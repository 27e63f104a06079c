import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng';
import type { ControllerConfig } from './config';
import { type BiLstmOutput, type LstmState, type LstmWeights, biLstm, lstmStep } from './lstm';

export interface ParamSpec {
  shape: number[];
  init: 'glorot' | 'embedding' | 'zeros' | 'lstm-bias';
}

/** What the policy's shape takes from the search space: the encoder's vocabulary and the kernel head's width. */
export interface PolicyShape {
  /** `space.vocabSize`: token ids are below it. */
  vocabSize: number;
  /** `space.kernelChoices`: 0 for a space with no kernel choice (then there is no kernel head). */
  kernelChoices: number;
}

export const policyShapeOf = (space: PolicyShape): PolicyShape => ({ vocabSize: space.vocabSize, kernelChoices: space.kernelChoices });

/**
 * The policy network's parameters, by name, in a fixed order (the order of initialisation and of the checkpoint).
 * The decoder starts from the encoder's final state: with decoderUnits = 2·encoderUnits the concatenated
 * [fw; bw] (h, c) is used as-is, as in the reference code; otherwise a learned linear map projects each of them.
 * The kernel-size head comes last and only where the space has kernel choices.
 */
export function paramSpecs(config: ControllerConfig, shape: PolicyShape): Record<string, ParamSpec> {
  const { vocabSize, kernelChoices } = shape;
  const E = config.embeddingSize;
  const H = config.encoderUnits;
  const D = config.decoderUnits;
  const specs: Record<string, ParamSpec> = {
    embedding: { shape: [vocabSize, E], init: 'embedding' },
    'encoder.fw.kernel': { shape: [E + H, 4 * H], init: 'glorot' },
    'encoder.fw.bias': { shape: [4 * H], init: 'lstm-bias' },
    'encoder.bw.kernel': { shape: [E + H, 4 * H], init: 'glorot' },
    'encoder.bw.bias': { shape: [4 * H], init: 'lstm-bias' },
    'wider.kernel': { shape: [2 * H, 1], init: 'glorot' },
    'wider.bias': { shape: [1], init: 'zeros' },
  };
  if (D !== 2 * H) {
    specs['deeper.init.h.kernel'] = { shape: [2 * H, D], init: 'glorot' };
    specs['deeper.init.h.bias'] = { shape: [D], init: 'zeros' };
    specs['deeper.init.c.kernel'] = { shape: [2 * H, D], init: 'glorot' };
    specs['deeper.init.c.bias'] = { shape: [D], init: 'zeros' };
  }
  Object.assign(specs, {
    'deeper.go': { shape: [1, E], init: 'embedding' },
    'deeper.blockEmbedding': { shape: [config.maxBlocks, E], init: 'embedding' },
    'deeper.positionEmbedding': { shape: [config.maxPositions, E], init: 'embedding' },
    'deeper.lstm.kernel': { shape: [E + D, 4 * D], init: 'glorot' },
    'deeper.lstm.bias': { shape: [4 * D], init: 'lstm-bias' },
    'deeper.block.kernel': { shape: [D, config.maxBlocks], init: 'glorot' },
    'deeper.block.bias': { shape: [config.maxBlocks], init: 'zeros' },
    'deeper.position.kernel': { shape: [D, config.maxPositions], init: 'glorot' },
    'deeper.position.bias': { shape: [config.maxPositions], init: 'zeros' },
  } satisfies Record<string, ParamSpec>);
  if (kernelChoices > 0) {
    specs['deeper.kernelSize.kernel'] = { shape: [D, kernelChoices], init: 'glorot' };
    specs['deeper.kernelSize.bias'] = { shape: [kernelChoices], init: 'zeros' };
  }
  return specs;
}

/** Seeded initial values: Glorot-uniform matrices, U(−√3, √3) embeddings (unit variance, as the reference), forget bias 1. */
export function initialValues(specs: Record<string, ParamSpec>, seed: number): Record<string, Float32Array> {
  const rng = Rng.fromSeed(seed);
  const out: Record<string, Float32Array> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (spec.init === 'glorot' || spec.init === 'embedding') {
      const limit = spec.init === 'embedding' ? Math.sqrt(3) : Math.sqrt(6 / (spec.shape[0] + spec.shape[1]));
      for (let i = 0; i < size; i++) v[i] = (2 * rng.float() - 1) * limit;
    } else if (spec.init === 'lstm-bias') {
      const units = size / 4;
      v.fill(1, units, 2 * units);
    }
    out[name] = v;
  }
  return out;
}

/** Per-row validity of a head's choices, padded or cut to the head's size. */
export function maskTensor(rows: readonly (readonly boolean[])[], width: number): tf.Tensor2D {
  const flat = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    for (let j = 0; j < Math.min(width, r.length); j++) flat[i * width + j] = r[j] ? 1 : 0;
  });
  return tf.tensor2d(flat, [rows.length, width]);
}

/** One-hot rows [ids.length, depth]; tf.oneHot refuses depth 1, which a one-choice head needs. */
export function oneHotRows(ids: readonly number[], depth: number): tf.Tensor2D {
  const t = tf.oneHot(tf.tensor1d(ids as number[], 'int32'), Math.max(depth, 2));
  return (depth >= 2 ? t : tf.slice(t, [0, 0], [ids.length, depth])) as tf.Tensor2D;
}

/** log-softmax over the valid choices only (invalid ones get −1e9 before normalising, so probability 0). */
export function maskedLogSoftmax(logits: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  return tf.logSoftmax(tf.add(logits, tf.mul(tf.sub(1, mask), -1e9))) as tf.Tensor2D;
}

/** Encoder + actors. Owns its tf.Variables; every forward function must be called inside tf.tidy. */
export class PolicyNet {
  readonly specs: Record<string, ParamSpec>;
  readonly vars: Record<string, tf.Variable>;

  constructor(
    readonly config: ControllerConfig,
    readonly shape: PolicyShape,
    values: Record<string, Float32Array>,
  ) {
    this.specs = paramSpecs(config, shape);
    this.vars = {};
    for (const [name, spec] of Object.entries(this.specs)) {
      const v = values[name];
      if (!v) throw new Error(`policy parameter "${name}" is missing`);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      if (v.length !== size) throw new Error(`policy parameter "${name}" has ${v.length} values, expected ${size} for shape [${spec.shape.join(', ')}]`);
      // Unnamed variables: tfjs variable names are process-global, and several controllers may coexist.
      this.vars[name] = tf.tidy(() => tf.variable(tf.tensor(v, spec.shape), true));
    }
  }

  private lstm(prefix: string): LstmWeights {
    return { kernel: this.vars[`${prefix}.kernel`] as tf.Tensor as tf.Tensor2D, bias: this.vars[`${prefix}.bias`] as tf.Tensor as tf.Tensor1D };
  }

  private dense(prefix: string, x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.vars[`${prefix}.kernel`] as tf.Tensor2D), this.vars[`${prefix}.bias`]) as tf.Tensor2D;
  }

  /** Rows of an embedding table by index, as a one-hot product (its gradient needs no scatter kernel). */
  private lookup(table: string, ids: readonly number[]): tf.Tensor2D {
    const rows = (this.vars[table] as tf.Tensor2D).shape[0];
    return tf.matMul(oneHotRows(ids, rows), this.vars[table] as tf.Tensor2D);
  }

  /** Encode token-id sequences (the space's `view(net).tokens`, one per part of the network). */
  encodeIds(seqs: readonly (readonly number[])[]): BiLstmOutput & { lengths: number[] } {
    const lengths = seqs.map((s) => s.length);
    const steps = Math.max(...lengths);
    const ids: number[] = [];
    for (const s of seqs) for (let t = 0; t < steps; t++) ids.push(s[t] ?? 0);
    const E = this.config.embeddingSize;
    const emb = tf.reshape(this.lookup('embedding', ids), [seqs.length, steps, E]);
    const xs = tf.unstack(emb, 1) as tf.Tensor2D[];
    const out = biLstm(this.lstm('encoder.fw'), this.lstm('encoder.bw'), xs, lengths, this.config.encoderUnits);
    return { ...out, lengths };
  }

  /** Net2Wider actor: one shared sigmoid unit per layer's [h_fw; h_bw]; logits [batch, steps]. */
  widerLogits(outputs: tf.Tensor3D): tf.Tensor2D {
    const [b, t, f] = outputs.shape;
    return tf.reshape(this.dense('wider', tf.reshape(outputs, [b * t, f]) as tf.Tensor2D), [b, t]);
  }

  decoderInit(final: LstmState): LstmState {
    if (this.config.decoderUnits === 2 * this.config.encoderUnits) return final;
    return { h: this.dense('deeper.init.h', final.h), c: this.dense('deeper.init.c', final.c) };
  }

  /** Decoder step 0 (block): input is a learned start vector. */
  blockStep(s: LstmState): { state: LstmState; logits: tf.Tensor2D } {
    const batch = s.h.shape[0];
    const x = tf.tile(this.vars['deeper.go'], [batch, 1]) as tf.Tensor2D;
    const state = lstmStep(this.lstm('deeper.lstm'), x, s);
    return { state, logits: this.dense('deeper.block', state.h) };
  }

  /** Decoder step 1 (position): input is the chosen block, embedded. */
  positionStep(s: LstmState, blocks: readonly number[]): { state: LstmState; logits: tf.Tensor2D } {
    const state = lstmStep(this.lstm('deeper.lstm'), this.lookup('deeper.blockEmbedding', blocks), s);
    return { state, logits: this.dense('deeper.position', state.h) };
  }

  /**
   * Decoder step 2 (kernel size; only where the space has kernel choices): input is the chosen position, embedded. In a
   * space without kernel choices 'deeper.positionEmbedding' is read by nothing (it stays, so that the initial values of
   * the parameters after it, and so the samples of a seed, are those of the policy with a kernel head).
   */
  kernelStep(s: LstmState, positions: readonly number[]): { state: LstmState; logits: tf.Tensor2D } {
    const state = lstmStep(this.lstm('deeper.lstm'), this.lookup('deeper.positionEmbedding', positions), s);
    return { state, logits: this.dense('deeper.kernelSize', state.h) };
  }

  /** Current values, by name. */
  read(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(this.vars)) out[name] = new Float32Array(v.dataSync());
    return out;
  }

  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
  }
}
