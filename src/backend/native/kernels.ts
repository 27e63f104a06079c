/**
 * Native (oneDNN) kernels registered on the tfjs wasm backend: the tensors stay in the wasm heap and the addon gets
 * Float32Array views of it, so there are no copies, and tfjs's autograd and Layers models are untouched.
 *
 * Conv2D, FusedConv2D (bias + linear/relu/relu6/elu/sigmoid/leakyrelu as oneDNN post-ops), Conv2DBackpropInput,
 * Conv2DBackpropFilter: oneDNN, NHWC activations and HWIO filters as tfjs holds them.
 * MaxPoolGrad, AvgPoolGrad: native loops with the cpu backend's rules (see native/eas_native.cc).
 * Add, Sub, Multiply, RealDiv (same shape, a scalar, or one value per channel on the last axis), Relu, Step,
 * Square, Sum/Mean over leading axes and FusedBatchNorm with per-channel statistics (batch norm's graph): native
 * loops on oneDNN's OpenMP threads (the wasm backend's are single-threaded, and its broadcasting path ~20× slower).
 * EasSgdNesterov: the whole optimizer step for all variables in one call (see ./optimizer.ts).
 *
 * Anything a kernel does not cover (NCHW, non-float32, PReLU) goes to the kernel registered before ours.
 */
import * as tf from '@tensorflow/tfjs';
import type { WasmBackend } from '../wasm/ops';
import { input } from '../wasm/ops';
import type { NativeAddon } from './addon';

type Info = tf.TensorInfo;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

interface ConvAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dilations: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

interface FusedConvAttrs extends ConvAttrs {
  activation?: string;
  leakyreluAlpha?: number;
}

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, elu: 3, sigmoid: 4, leakyrelu: 5 };

function f32(backend: WasmBackend, t: Info): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** The addon's conv geometry: n,h,w,cin,oh,ow,cout,kh,kw,sh,sw,dh,dw,top,left,bottom,right. */
export function convGeom(ci: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    ci.batchSize,
    ci.inHeight,
    ci.inWidth,
    ci.inChannels,
    ci.outHeight,
    ci.outWidth,
    ci.outChannels,
    ci.filterHeight,
    ci.filterWidth,
    ci.strideHeight,
    ci.strideWidth,
    ci.dilationHeight,
    ci.dilationWidth,
    ci.padInfo.top,
    ci.padInfo.left,
    ci.padInfo.bottom,
    ci.padInfo.right,
  ]);
}

/** The addon's pool geometry: n,h,w,c,oh,ow,kh,kw,sh,sw,top,left. */
export function poolGeom(ci: tf.backend_util.Conv2DInfo): Int32Array {
  return Int32Array.from([
    ci.batchSize,
    ci.inHeight,
    ci.inWidth,
    ci.inChannels,
    ci.outHeight,
    ci.outWidth,
    ci.effectiveFilterHeight,
    ci.effectiveFilterWidth,
    ci.strideHeight,
    ci.strideWidth,
    ci.padInfo.top,
    ci.padInfo.left,
  ]);
}

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

function allFloat(...ts: Array<Info | undefined>): boolean {
  return ts.every((t) => t === undefined || t.dtype === 'float32');
}

function empty(shape: number[]): boolean {
  return shape.some((d) => d === 0);
}

export function makeNativeKernels(addon: NativeAddon, previous: (name: string) => tf.KernelConfig): Array<{ kernelName: string; kernelFunc: tf.KernelFunc }> {
  const fallback = (name: string, args: Parameters<tf.KernelFunc>[0]) => previous(name).kernelFunc(args) as Info;

  const conv = (args: Parameters<tf.KernelFunc>[0], fused: boolean): Info => {
    const { inputs, attrs } = args;
    const backend = args.backend as WasmBackend;
    const a = attrs as unknown as FusedConvAttrs;
    const x = input(inputs, 'x');
    const filter = input(inputs, 'filter');
    const bias = fused ? inputs.bias : undefined;
    const act = fused ? ACTIVATIONS[a.activation ?? 'linear'] : 0;
    if (a.dataFormat === 'NCHW' || act === undefined || !allFloat(x, filter, bias) || (fused && inputs.preluActivationWeights)) {
      return fallback(fused ? 'FusedConv2D' : 'Conv2D', args);
    }
    const ci = convInfo(x.shape, filter.shape, a);
    if (bias && tf.util.sizeFromShape(bias.shape) !== ci.outChannels) return fallback('FusedConv2D', args);
    const out = backend.makeOutput(ci.outShape, 'float32');
    if (empty(ci.outShape) || empty(x.shape)) return out;
    // views after the allocation (it may grow the heap)
    addon.conv2d(f32(backend, x), f32(backend, filter), bias ? f32(backend, bias) : null, f32(backend, out), convGeom(ci), act, a.leakyreluAlpha ?? 0.2);
    return out;
  };

  /** a (op) b natively when one side is the output's shape and the other one value per channel; else null. */
  const channelBinary = (op: number, args: Parameters<tf.KernelFunc>[0]): Info | null => {
    const backend = args.backend as WasmBackend;
    const a = input(args.inputs, 'a');
    const b = input(args.inputs, 'b');
    if (!allFloat(a, b) || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
    const perChannel = (v: Info, full: Info) => {
      const cols = full.shape[full.shape.length - 1];
      return full.shape.length >= 2 && v.shape.length >= 1 && v.shape.length <= full.shape.length && v.shape[v.shape.length - 1] === cols && tf.util.sizeFromShape(v.shape) === cols;
    };
    const sa = tf.util.sizeFromShape(a.shape);
    const sb = tf.util.sizeFromShape(b.shape);
    // same shape, or one side a single value (rank ≤ the other's): elementwise over the flat data
    const flatOut = tf.util.arraysEqual(a.shape, b.shape) ? a.shape : sb === 1 && b.shape.length <= a.shape.length ? a.shape : sa === 1 && a.shape.length <= b.shape.length ? b.shape : null;
    if (flatOut) {
      const n = tf.util.sizeFromShape(flatOut);
      const out = backend.makeOutput(flatOut, 'float32');
      if (n === 0) return out;
      addon.binaryFlat(op, f32(backend, a), f32(backend, b), f32(backend, out), n, sa === 1 && n !== 1 ? true : false, sb === 1 && n !== 1 ? true : false);
      return out;
    }
    let aVec = false;
    let bVec = false;
    let full: Info;
    if (perChannel(b, a) && !tf.util.arraysEqual(a.shape, b.shape)) {
      bVec = true;
      full = a;
    } else if (perChannel(a, b) && !tf.util.arraysEqual(a.shape, b.shape)) {
      aVec = true;
      full = b;
    } else return null;
    const cols = full.shape[full.shape.length - 1];
    const size = tf.util.sizeFromShape(full.shape);
    const out = backend.makeOutput(full.shape, 'float32');
    if (size === 0) return out;
    addon.binaryChannel(op, f32(backend, a), f32(backend, b), f32(backend, out), size / cols, cols, aVec, bVec);
    return out;
  };
  const binary = (name: string, op: number): { kernelName: string; kernelFunc: tf.KernelFunc } => ({
    kernelName: name,
    kernelFunc: (args) => channelBinary(op, args) ?? fallback(name, args),
  });

  const unary = (name: string, op: number): { kernelName: string; kernelFunc: tf.KernelFunc } => ({
    kernelName: name,
    kernelFunc: (args) => {
      const backend = args.backend as WasmBackend;
      const x = input(args.inputs, 'x');
      if (x.dtype !== 'float32') return fallback(name, args);
      const n = tf.util.sizeFromShape(x.shape);
      const out = backend.makeOutput(x.shape, 'float32');
      if (n === 0) return out;
      addon.unary(op, f32(backend, x), f32(backend, out), n, (args.attrs as { alpha?: number } | undefined)?.alpha ?? 0);
      return out;
    },
  });
  /** Sum/Mean over a leading block of axes (≥ 8 columns left) natively; else the previous kernel. */
  const reduce = (name: string, mean: boolean): { kernelName: string; kernelFunc: tf.KernelFunc } => ({
    kernelName: name,
    kernelFunc: (args) => {
      const backend = args.backend as WasmBackend;
      const x = input(args.inputs, 'x');
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      if (x.dtype !== 'float32') return fallback(name, args);
      const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
      if (axes.length === 0 || axes.length >= x.shape.length || axes.some((ax, i) => ax !== i)) return fallback(name, args);
      const rest = x.shape.slice(axes.length);
      const cols = tf.util.sizeFromShape(rest);
      const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
      if (cols < 8 || rows === 0) return fallback(name, args);
      const out = backend.makeOutput(keepDims ? [...axes.map(() => 1), ...rest] : rest, 'float32');
      addon.columnSums(f32(backend, x), f32(backend, out), rows, cols, mean ? 1 / rows : 1);
      return out;
    },
  });

  return [
    unary('Relu', 0),
    unary('Step', 1),
    unary('Square', 2),
    reduce('Sum', false),
    reduce('Mean', true),
    binary('Add', 0),
    binary('Sub', 1),
    binary('Multiply', 2),
    binary('RealDiv', 3),
    {
      kernelName: 'FusedBatchNorm',
      kernelFunc: (args) => {
        const backend = args.backend as WasmBackend;
        const { x, mean, variance, offset, scale } = args.inputs;
        if (!x || !mean || !variance || !allFloat(x, mean, variance, offset, scale) || x.shape.length < 1) return fallback('FusedBatchNorm', args);
        const cols = x.shape[x.shape.length - 1];
        const ok = (t: Info | undefined) => t === undefined || (tf.util.sizeFromShape(t.shape) === cols && t.shape[t.shape.length - 1] === cols);
        if (!ok(mean) || !ok(variance) || !ok(offset) || !ok(scale)) return fallback('FusedBatchNorm', args);
        const size = tf.util.sizeFromShape(x.shape);
        const out = backend.makeOutput(x.shape, 'float32');
        if (size === 0) return out;
        const eps = (args.attrs as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001;
        addon.batchNorm(f32(backend, x), f32(backend, mean), f32(backend, variance), offset ? f32(backend, offset) : null, scale ? f32(backend, scale) : null, f32(backend, out), size / cols, cols, eps);
        return out;
      },
    },
    { kernelName: 'Conv2D', kernelFunc: (args) => conv(args, false) },
    { kernelName: 'FusedConv2D', kernelFunc: (args) => conv(args, true) },
    {
      kernelName: 'Conv2DBackpropInput',
      kernelFunc: (args) => {
        const backend = args.backend as WasmBackend;
        const a = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
        const dy = input(args.inputs, 'dy');
        const filter = input(args.inputs, 'filter');
        if (a.dataFormat === 'NCHW' || !allFloat(dy, filter)) return fallback('Conv2DBackpropInput', args);
        const ci = convInfo(a.inputShape, filter.shape, { ...a, dilations: 1 });
        const out = backend.makeOutput(a.inputShape, 'float32');
        if (empty(a.inputShape)) return out;
        addon.conv2dBackpropInput(f32(backend, dy), f32(backend, filter), f32(backend, out), convGeom(ci));
        return out;
      },
    },
    {
      kernelName: 'Conv2DBackpropFilter',
      kernelFunc: (args) => {
        const backend = args.backend as WasmBackend;
        const a = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
        const x = input(args.inputs, 'x');
        const dy = input(args.inputs, 'dy');
        if (a.dataFormat === 'NCHW' || !allFloat(x, dy)) return fallback('Conv2DBackpropFilter', args);
        const ci = convInfo(x.shape, a.filterShape, { ...a, dilations: 1 });
        const out = backend.makeOutput(a.filterShape, 'float32');
        if (empty(a.filterShape)) return out;
        addon.conv2dBackpropFilter(f32(backend, x), f32(backend, dy), f32(backend, out), convGeom(ci));
        return out;
      },
    },
    {
      kernelName: 'MaxPoolGrad',
      kernelFunc: (args) => {
        const backend = args.backend as WasmBackend;
        const a = args.attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
        const dy = input(args.inputs, 'dy');
        const x = input(args.inputs, 'input');
        if (!allFloat(dy, x)) return fallback('MaxPoolGrad', args);
        const ci = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
        const out = backend.makeOutput(x.shape, 'float32');
        if (empty(x.shape)) return out;
        addon.maxPoolGrad(f32(backend, dy), f32(backend, x), f32(backend, out), poolGeom(ci));
        return out;
      },
    },
    {
      kernelName: 'AvgPoolGrad',
      kernelFunc: (args) => {
        const backend = args.backend as WasmBackend;
        const a = args.attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: Pad; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
        const dy = input(args.inputs, 'dy');
        const x = input(args.inputs, 'input');
        if (!allFloat(dy)) return fallback('AvgPoolGrad', args);
        const ci = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
        const out = backend.makeOutput(x.shape, 'float32');
        if (empty(x.shape)) return out;
        addon.avgPoolGrad(f32(backend, dy), f32(backend, out), poolGeom(ci));
        return out;
      },
    },
  ];
}
