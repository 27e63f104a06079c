import * as tf from '@tensorflow/tfjs';

/** Weights of one LSTM cell: gates [i, f, g, o] computed from [x, h] by one matrix. */
export interface LstmWeights {
  kernel: tf.Tensor2D; // [inputSize + units, 4·units]
  bias: tf.Tensor1D; // [4·units]
}

export interface LstmState {
  h: tf.Tensor2D;
  c: tf.Tensor2D;
}

/** One explicit LSTM step: i, f, o = σ(·), g = tanh(·), c' = f·c + i·g, h' = o·tanh(c'). */
export function lstmStep(w: LstmWeights, x: tf.Tensor2D, s: LstmState): LstmState {
  const z = tf.add(tf.matMul(tf.concat([x, s.h], 1), w.kernel), w.bias) as tf.Tensor2D;
  const [i, f, g, o] = tf.split(z, 4, 1) as tf.Tensor2D[];
  const c = tf.add(tf.mul(tf.sigmoid(f), s.c), tf.mul(tf.sigmoid(i), tf.tanh(g))) as tf.Tensor2D;
  const h = tf.mul(tf.sigmoid(o), tf.tanh(c)) as tf.Tensor2D;
  return { h, c };
}

/** Keep the old state on rows whose sequence has ended (mask 0), take the new one elsewhere. */
function masked(next: LstmState, prev: LstmState, mask: tf.Tensor2D | null): LstmState {
  if (!mask) return next;
  return { h: tf.add(prev.h, tf.mul(mask, tf.sub(next.h, prev.h))) as tf.Tensor2D, c: tf.add(prev.c, tf.mul(mask, tf.sub(next.c, prev.c))) as tf.Tensor2D };
}

export interface BiLstmOutput {
  /** Per step [h_fw; h_bw], [batch, steps, 2·units]; rows past a sequence's length hold no meaning. */
  outputs: tf.Tensor3D;
  /** Final states of both directions, concatenated [fw; bw]: fw after the last token, bw after the first. */
  final: LstmState;
}

/**
 * A bidirectional LSTM over a padded batch of variable-length sequences. Padded steps leave the state unchanged,
 * so each direction's final state is the one at its sequence's true end.
 */
export function biLstm(fw: LstmWeights, bw: LstmWeights, xs: tf.Tensor2D[], lengths: readonly number[], units: number): BiLstmOutput {
  const batch = lengths.length;
  const steps = xs.length;
  const masks: (tf.Tensor2D | null)[] = [];
  for (let t = 0; t < steps; t++) {
    const all = lengths.every((len) => len > t);
    masks.push(all ? null : tf.tensor2d(lengths.map((len) => (len > t ? 1 : 0)), [batch, 1]));
  }
  const zero = (): LstmState => ({ h: tf.zeros([batch, units]), c: tf.zeros([batch, units]) });
  const fwOut: tf.Tensor2D[] = [];
  let s = zero();
  for (let t = 0; t < steps; t++) {
    s = masked(lstmStep(fw, xs[t], s), s, masks[t]);
    fwOut.push(s.h);
  }
  const fwFinal = s;
  const bwOut: tf.Tensor2D[] = new Array(steps);
  s = zero();
  for (let t = steps - 1; t >= 0; t--) {
    s = masked(lstmStep(bw, xs[t], s), s, masks[t]);
    bwOut[t] = s.h;
  }
  const outputs = tf.stack(fwOut.map((h, t) => tf.concat([h, bwOut[t]], 1)), 1) as tf.Tensor3D;
  return { outputs, final: { h: tf.concat([fwFinal.h, s.h], 1), c: tf.concat([fwFinal.c, s.c], 1) } };
}
