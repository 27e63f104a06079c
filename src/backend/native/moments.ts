/**
 * Batch statistics for batch norm in training: tf.moments over all axes but the last, as ONE native kernel (mean and
 * variance, float64 accumulators) with a one-pass native gradient.
 *
 * tf.layers' BatchNormalization computes tf.moments (Mean, Sub, Square, Mean: four passes over the activations) and
 * differentiates through all of them (about eight more full-size passes, with broadcasts); PyTorch's batch norm reads
 * the activations about twice each way. On the native engine tf.moments is routed here for float32 inputs reduced over
 * the leading axes; every other call goes to tfjs's own.
 */
import * as tf from '@tensorflow/tfjs';
import type { WasmBackend } from '../wasm/ops';
import { input } from '../wasm/ops';
import type { NativeAddon } from './addon';

export const MOMENTS_KERNEL = 'EasMoments';
export const MOMENTS_GRAD_KERNEL = 'EasMomentsGrad';

function f32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Kernels: EasMoments x[..., C] → stats [2, C] (mean; variance); EasMomentsGrad (x, stats, dy [2, C]) → dx. */
export function makeMomentsKernels(addon: NativeAddon): tf.KernelConfig[] {
  const split = (x: tf.TensorInfo) => {
    const cols = x.shape[x.shape.length - 1];
    return { cols, rows: tf.util.sizeFromShape(x.shape) / cols };
  };
  return [
    {
      kernelName: MOMENTS_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as WasmBackend;
        const x = input(inputs, 'x');
        const { rows, cols } = split(x);
        const out = b.makeOutput([2, cols], 'float32');
        addon.moments(f32(b, x), f32(b, out), rows, cols);
        return out;
      },
    },
    {
      kernelName: MOMENTS_GRAD_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as WasmBackend;
        const x = input(inputs, 'x');
        const { rows, cols } = split(x);
        const out = b.makeOutput(x.shape, 'float32');
        addon.momentsGrad(f32(b, x), f32(b, input(inputs, 'stats')), f32(b, input(inputs, 'dy')), f32(b, out), rows, cols);
        return out;
      },
    },
  ];
}

const statsOf = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const stats = tf.engine().runKernel(MOMENTS_KERNEL, { x }, {}) as tf.Tensor;
  save([x, stats]);
  return {
    value: stats,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(MOMENTS_GRAD_KERNEL, { x: saved[0], stats: saved[1], dy }, {}) as tf.Tensor,
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

type Moments = typeof tf.moments;

/** Route tf.moments (on the native engine, float32, leading axes, keepDims false) to the native kernels. Idempotent. */
export function routeMoments(): void {
  // the module tf.layers calls (the @tensorflow/tfjs bundle re-exports it through read-only getters)
  const core = require('@tensorflow/tfjs-core') as { moments: Moments & { __eas?: true } };
  if (core.moments.__eas) return;
  const stock = core.moments;
  const routed = ((x: tf.Tensor | tf.TensorLike, axis: number | number[] = null as unknown as number[], keepDims = false) => {
    if (!(x instanceof tf.Tensor) || x.dtype !== 'float32' || keepDims || x.rank < 2 || tf.getBackend() !== 'wasm' || x.size === 0) return stock(x, axis, keepDims);
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    if (axes.length !== x.rank - 1 || axes.some((ax, i) => ax !== i)) return stock(x, axis, keepDims);
    return tf.tidy(() => {
      const [mean, variance] = tf.unstack(statsOf(x));
      return { mean, variance };
    });
  }) as Moments & { __eas?: true };
  routed.__eas = true;
  core.moments = routed;
}
