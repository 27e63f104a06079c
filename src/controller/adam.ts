import * as tf from '@tensorflow/tfjs';

export interface AdamState {
  step: number;
  beta1Power: number;
  beta2Power: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

/**
 * Adam (Kingma & Ba 2015) with its whole state in our hands, so a checkpoint restores it exactly:
 * m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², w ← w − lr·√(1−β2^t)/(1−β1^t) · m/(√v + ε).
 * ε = 1e-8 and β = (0.9, 0.999) are TensorFlow 1's AdamOptimizer defaults, which the reference code used.
 */
export class Adam {
  private readonly m: Record<string, tf.Variable> = {};
  private readonly v: Record<string, tf.Variable> = {};
  step: number;
  beta1Power: number;
  beta2Power: number;

  constructor(
    readonly learningRate: number,
    shapes: Record<string, number[]>,
    state?: AdamState,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-8,
  ) {
    for (const [name, shape] of Object.entries(shapes)) {
      const size = shape.reduce((a, b) => a * b, 1);
      for (const [slot, store] of [['m', this.m], ['v', this.v]] as const) {
        const init = state?.[slot][name];
        if (state && !init) throw new Error(`Adam state has no "${slot}" slot for parameter "${name}"`);
        if (init && init.length !== size) throw new Error(`Adam "${slot}" slot for "${name}" has ${init.length} values, expected ${size}`);
        store[name] = tf.tidy(() => tf.variable(init ? tf.tensor(init, shape) : tf.zeros(shape), false));
      }
    }
    this.step = state?.step ?? 0;
    this.beta1Power = state?.beta1Power ?? 1;
    this.beta2Power = state?.beta2Power ?? 1;
  }

  /**
   * One update of `params` from `grads` (same names). A parameter the loss does not reach (no gradient: the wider
   * actor in an episode with no Net2Wider step, the position embedding in a space with no kernel choice, which only
   * the kernel step reads) keeps its value and slots, as TensorFlow's Adam `minimize` leaves variables without one.
   */
  apply(params: Record<string, tf.Variable>, grads: Record<string, tf.Tensor>): void {
    this.step += 1;
    this.beta1Power *= this.beta1;
    this.beta2Power *= this.beta2;
    const lrT = (this.learningRate * Math.sqrt(1 - this.beta2Power)) / (1 - this.beta1Power);
    tf.tidy(() => {
      for (const name of Object.keys(params)) {
        const g = grads[name];
        if (!g) continue;
        const m = tf.add(tf.mul(this.m[name], this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[name], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[name].assign(m);
        this.v[name].assign(v);
        params[name].assign(tf.sub(params[name], tf.mul(lrT, tf.div(m, tf.add(tf.sqrt(v), this.epsilon)))));
      }
    });
  }

  state(): AdamState {
    const read = (store: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(store).map(([k, t]) => [k, new Float32Array(t.dataSync())]));
    return { step: this.step, beta1Power: this.beta1Power, beta2Power: this.beta2Power, m: read(this.m), v: read(this.v) };
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose();
  }
}
