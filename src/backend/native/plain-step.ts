/**
 * A plain net's whole training step in ONE native call (native/eas_native.cc, plainNetStep): forward (conv/fc →
 * BatchNorm with batch statistics → ReLU, pools, classifier), softmax cross-entropy, backward, Nesterov SGD with L2
 * weight decay on the kernels, and the BatchNorm moving statistics — instead of ~150 tfjs ops, their tape and their
 * gradients per step (≈ 10 CPU-ms of JavaScript on the Table-1 net, a third of its step).
 *
 * The same function and the same float arithmetic as src/train/loop.ts's native path (./plain-net.ts's forward, the
 * autograd of tf.conv2d / bnRelu / pools / matMul, ./optimizer.ts's update): the convolutions, BN-ReLU, pooling
 * gradients, optimizer and moving-average code are the very same native functions; only the summation order of the
 * fc products, the average pools and the loss differ (float rounding).
 *
 * The weights, momentum accumulators and moving statistics live natively while training: `load` copies them in from
 * the tfjs variables and the optimizer, `store` copies them back (before validation, checkpoints, the end of
 * training). Between the two the tfjs copies are stale. `NativePlainStep.forModel` returns null (train through tfjs)
 * off the native engine, with dropout, with EAS_NATIVE_PLAIN_STEP=0, or for anything it does not cover.
 */
import * as tf from '@tensorflow/tfjs';
import type { Arch } from '../../arch/schema';
import { layerNames } from '../../nn/model';
import { loadAddon, type NativeAddon } from './addon';
import { bnVariables, denseKernelsReady } from './dense-block';
import { convGeom, poolGeom } from './kernels';

/** Ints per layer in the addon's spec: the kind, then up to 17 geometry values. */
const REC = 18;
const KIND = { conv: 0, fc: 1, max: 2, avg: 3 } as const;

interface MomentumInternals {
  momentum: number;
  useNesterov: boolean;
  accumulations: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  incrementIterations(): void;
}

/** The loop's trainable variables: accumulator i of the optimizer belongs to vars[i]. */
export interface StepVariable {
  variable: tf.Variable;
  decay: boolean;
}

export interface PlainStepResult {
  /** Mean softmax cross-entropy of the batch (before the update). */
  loss: number;
  /** Correct predictions in the batch (before the update). */
  correct: number;
}

/** True unless EAS_NATIVE_PLAIN_STEP=0 turns the one-call step off. */
export function plainStepEnabled(): boolean {
  return process.env.EAS_NATIVE_PLAIN_STEP !== '0';
}

export class NativePlainStep {
  private handle: number | undefined;
  private readonly out = new Float64Array(2);

  private constructor(
    private readonly addon: NativeAddon,
    handle: number,
    /** tfjs variables in the addon's parameter order. */
    private readonly params: tf.Variable[],
    /** The trainable ones, in the addon's momentum order, with their L2-decay flag as the native step applies it. */
    private readonly trainable: StepVariable[],
    readonly batchSize: number,
    readonly inputSize: number,
  ) {
    this.handle = handle;
  }

  /**
   * The one-call step for `model` (built by src/nn/model.ts for `arch`) at batch size `batch`, or null when it does not
   * apply: not the native engine, EAS_NATIVE_PLAIN_STEP=0, dropout, a BatchNorm without centre or scale.
   */
  static forModel(model: tf.LayersModel, arch: Arch, batch: number): NativePlainStep | null {
    if (!plainStepEnabled() || !denseKernelsReady() || tf.getBackend() !== 'wasm') return null;
    if (!Number.isInteger(batch) || batch < 1) return null;
    if (model.layers.some((l) => l.getClassName() === 'Dropout')) return null;
    const [h0, w0, c0] = arch.input;
    const spec: number[] = [batch, h0, w0, c0, arch.classes, arch.layers.length];
    const bn: number[] = [];
    const params: tf.Variable[] = [];
    const trainable: StepVariable[] = [];
    let shape: [number, number, number, number] = [batch, h0, w0, c0];
    let flat = false;
    const rec = (kind: number, values: number[]) => {
      const r = new Array<number>(REC).fill(0);
      r[0] = kind;
      values.forEach((v, i) => (r[1 + i] = v));
      spec.push(...r);
    };
    for (const l of arch.layers) {
      if (l.type === 'pool') {
        if (flat) return null;
        const ci = tf.backend_util.computePool2DInfo(shape, l.size, l.stride, 1, 'same');
        if (ci.dilationHeight !== 1 || ci.dilationWidth !== 1) return null;
        rec(l.op === 'max' ? KIND.max : KIND.avg, [...poolGeom(ci)]);
        shape = [batch, ci.outHeight, ci.outWidth, ci.outChannels];
        continue;
      }
      const layerBn = bnVariables(model, layerNames.bn(l.id));
      const kernel = model.getLayer(layerNames.main(l.id)).weights[0].read() as tf.Variable;
      if (!layerBn || !kernel) return null;
      const { gamma, beta, mean, variance } = layerBn;
      if (l.type === 'conv') {
        if (flat) return null;
        const ci = tf.backend_util.computeConv2DInfo(shape, [l.kernel, l.kernel, shape[3], l.filters], l.stride, 1, 'same', undefined, false, 'channelsLast');
        rec(KIND.conv, [...convGeom(ci)]);
        shape = [batch, ci.outHeight, ci.outWidth, ci.outChannels];
      } else {
        rec(KIND.fc, [l.units]);
        flat = true;
      }
      bn.push(layerBn.eps, layerBn.momentum);
      params.push(kernel, gamma, beta, mean, variance);
      trainable.push({ variable: kernel, decay: true }, { variable: gamma, decay: false }, { variable: beta, decay: false });
    }
    const [ck, cb] = model.getLayer(layerNames.classifier).weights.map((w) => w.read() as tf.Variable);
    if (!ck || !cb) return null;
    params.push(ck, cb);
    trainable.push({ variable: ck, decay: true }, { variable: cb, decay: false });
    const addon = loadAddon();
    const handle = addon.plainNetCreate(Int32Array.from(spec), Float64Array.from(bn));
    return new NativePlainStep(addon, handle, params, trainable, batch, h0 * w0 * c0);
  }

  private live(): number {
    if (this.handle === undefined) throw new Error('NativePlainStep: used after dispose()');
    return this.handle;
  }

  /**
   * Checks that `vars` (the loop's trainable variables, the optimizer's accumulator order) are exactly this step's, with
   * the same weight-decay flags; returns each trainable's index in `vars`.
   */
  private indices(vars: readonly StepVariable[]): number[] {
    if (vars.length !== this.trainable.length) throw new Error(`NativePlainStep: the loop trains ${vars.length} variables, the native step ${this.trainable.length}`);
    return this.trainable.map((t) => {
      const i = vars.findIndex((v) => v.variable === t.variable);
      if (i < 0) throw new Error(`NativePlainStep: variable ${t.variable.name} is not among the loop's trainable variables`);
      if (vars[i].decay !== t.decay) throw new Error(`NativePlainStep: variable ${t.variable.name}: weight decay ${vars[i].decay ? 'on' : 'off'} in the loop, ${t.decay ? 'on' : 'off'} natively`);
      return i;
    });
  }

  /** Whether the optimizer's settings are ones the native step implements (Nesterov momentum). */
  static supports(optimizer: tf.MomentumOptimizer): boolean {
    return (optimizer as unknown as MomentumInternals).useNesterov === true;
  }

  /** Copy the weights, moving statistics and the optimizer's momentum accumulators (zeros where it has none yet) in. */
  load(optimizer: tf.MomentumOptimizer, vars: readonly StepVariable[]): void {
    const opt = optimizer as unknown as MomentumInternals;
    const idx = this.indices(vars);
    const params = this.params.map((v) => new Float32Array(v.dataSync() as Float32Array));
    const moms = this.trainable.map((t, k) => {
      const acc = opt.accumulations[idx[k]];
      return acc ? new Float32Array(acc.variable.dataSync() as Float32Array) : new Float32Array(t.variable.size);
    });
    this.addon.plainNetParams(this.live(), params, moms, true);
  }

  /** Copy the weights, moving statistics and momentum accumulators back into the tfjs variables and the optimizer. */
  store(optimizer: tf.MomentumOptimizer, vars: readonly StepVariable[]): void {
    const opt = optimizer as unknown as MomentumInternals;
    const idx = this.indices(vars);
    const params = this.params.map((v) => new Float32Array(v.size));
    const moms = this.trainable.map((t) => new Float32Array(t.variable.size));
    this.addon.plainNetParams(this.live(), params, moms, false);
    tf.tidy(() => {
      this.params.forEach((v, i) => v.assign(tf.tensor(params[i], v.shape, 'float32')));
      this.trainable.forEach((t, k) => {
        const i = idx[k];
        if (opt.accumulations[i] == null) {
          opt.accumulations[i] = { originalName: `${t.variable.name}/momentum`, variable: tf.tidy(() => tf.zerosLike(t.variable).variable(false)) };
        }
        opt.accumulations[i]!.variable.assign(tf.tensor(moms[k], t.variable.shape, 'float32'));
      });
    });
  }

  /**
   * One training step on a batch (x: [batch, h, w, c] flat, labels: class indices) at learning rate `lr`; counts one
   * optimizer iteration, as applyGradients does.
   */
  step(optimizer: tf.MomentumOptimizer, x: Float32Array, labels: Int32Array, lr: number, weightDecay: number): PlainStepResult {
    const opt = optimizer as unknown as MomentumInternals;
    if (!opt.useNesterov) throw new Error('NativePlainStep: only Nesterov momentum is implemented natively');
    if (x.length !== this.batchSize * this.inputSize) throw new Error(`NativePlainStep: x has ${x.length} values, a batch of ${this.batchSize} needs ${this.batchSize * this.inputSize}`);
    this.addon.plainNetStep(this.live(), x, labels, lr, opt.momentum, weightDecay, this.out);
    opt.incrementIterations();
    return { loss: this.out[0], correct: this.out[1] };
  }

  /** Frees the native buffers (idempotent). */
  dispose(): void {
    if (this.handle === undefined) return;
    const h = this.handle;
    this.handle = undefined;
    this.addon.plainNetFree(h);
  }
}
