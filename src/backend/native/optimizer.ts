/**
 * The optimizer step as ONE native call for all variables: SGD with (Nesterov) momentum and L2 weight decay added to
 * the gradient, the same float32 arithmetic in the same order as tfjs's MomentumOptimizer applied to g + wd·v (so a
 * run gives the same weights as the per-variable tfjs ops: ~6 small kernels per variable otherwise).
 *
 * It keeps the optimizer's own state (its `/momentum` accumulators and iteration count), so getWeights/setWeights
 * and the checkpoints are unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { WasmBackend } from '../wasm/ops';
import type { NativeAddon } from './addon';

export const SGD_KERNEL = 'EasSgdNesterov';

interface SgdAttrs {
  count: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  decayMask: number[];
  nesterov: boolean;
}

/** Kernel: inputs v0..,g0..,m0.. → outputs [v0'.., m0'..]. */
export function makeSgdKernel(addon: NativeAddon): tf.KernelConfig {
  return {
    kernelName: SGD_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as WasmBackend;
      const a = attrs as unknown as SgdAttrs;
      if (!a.nesterov) throw new Error(`${SGD_KERNEL}: only Nesterov momentum is implemented natively`);
      const get = (p: string, i: number) => {
        const t = inputs[`${p}${i}`];
        if (!t || t.dtype !== 'float32') throw new Error(`${SGD_KERNEL}: input ${p}${i} missing or not float32`);
        return t;
      };
      const vs = Array.from({ length: a.count }, (_, i) => get('v', i));
      const gs = Array.from({ length: a.count }, (_, i) => get('g', i));
      const ms = Array.from({ length: a.count }, (_, i) => get('m', i));
      for (let i = 0; i < a.count; i++) {
        const n = tf.util.sizeFromShape(vs[i].shape);
        if (tf.util.sizeFromShape(gs[i].shape) !== n || tf.util.sizeFromShape(ms[i].shape) !== n) throw new Error(`${SGD_KERNEL}: variable ${i}: shapes differ`);
      }
      const newVars = vs.map((v) => b.makeOutput(v.shape, 'float32'));
      const newMoms = ms.map((m) => b.makeOutput(m.shape, 'float32'));
      // views only after every allocation (an allocation may grow the heap and detach earlier views)
      const view = (t: tf.TensorInfo) => b.typedArrayFromHeap(t) as Float32Array;
      addon.sgdNesterov(vs.map(view), gs.map(view), ms.map(view), newVars.map(view), newMoms.map(view), a.lr, a.momentum, a.weightDecay, Int32Array.from(a.decayMask));
      return [...newVars, ...newMoms];
    },
  };
}

interface MomentumInternals {
  learningRate: number;
  momentum: number;
  useNesterov: boolean;
  accumulations: Array<{ originalName: string; variable: tf.Variable }>;
  incrementIterations(): void;
}

/**
 * optimizer.applyGradients for [g + wd·v (where decay), ...] in one kernel call. The caller checks that the native
 * engine is active (tf.getKernel(SGD_KERNEL, 'wasm') is registered only then).
 */
export function nativeMomentumStep(
  optimizer: tf.MomentumOptimizer,
  vars: ReadonlyArray<{ variable: tf.Variable; decay: boolean }>,
  grads: tf.NamedTensorMap,
  weightDecay: number,
): void {
  const opt = optimizer as unknown as MomentumInternals;
  tf.tidy(() => {
    const inputs: tf.NamedTensorMap = {};
    vars.forEach((v, i) => {
      if (opt.accumulations[i] == null) {
        opt.accumulations[i] = { originalName: `${v.variable.name}/momentum`, variable: tf.tidy(() => tf.zerosLike(v.variable).variable(false)) };
      }
      const g = grads[v.variable.name];
      if (!g) throw new Error(`no gradient for ${v.variable.name}`);
      inputs[`v${i}`] = v.variable;
      inputs[`g${i}`] = g;
      inputs[`m${i}`] = opt.accumulations[i].variable;
    });
    const attrs: SgdAttrs = {
      count: vars.length,
      lr: opt.learningRate,
      momentum: opt.momentum,
      weightDecay,
      decayMask: vars.map((v) => (v.decay ? 1 : 0)),
      nesterov: opt.useNesterov,
    };
    const out = tf.engine().runKernel(SGD_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
    vars.forEach((v, i) => {
      opt.accumulations[i].variable.assign(out[vars.length + i]);
      v.variable.assign(out[i]);
    });
  });
  opt.incrementIterations();
}

/** True when the native optimizer kernel is registered (the native engine is active). */
export function nativeStepAvailable(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(SGD_KERNEL, 'wasm') !== undefined;
}
