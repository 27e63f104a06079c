/**
 * Kernels that run as plain JS loops over the wasm heap (no copies out of wasm memory), where the stock
 * wasm kernel is slow or wrong:
 *
 * - MaxPoolGrad: the stock kernel takes ~18 ms per call at our sizes, and is WRONG at borders under
 *   'same' padding (it lets the zero padding win over negative inputs, so those windows get no gradient).
 *   Here the gradient goes to the first maximum of each window in row-major order, padding excluded —
 *   the cpu backend's (and TensorFlow's) rule.
 * - Sum / Mean over leading axes (batch-norm statistics and their gradients reduce [N,H,W] of NHWC
 *   tensors): the stock kernels first transpose the whole tensor so the axes are innermost. Here: an
 *   XNNPACK average pool over H×W, then the batch rows in JS (float64 accumulators); other leading-axes
 *   reductions in one JS pass over the rows. Other reductions use the stock kernels.
 * - Identity, and Cast to the same dtype: the stock kernels copy the data; tensors are immutable, so (as
 *   the cpu backend does) the output shares the input's data with its refCount incremented.
 */
import * as tf from '@tensorflow/tfjs';
import { input, originalKernel, run, type WasmBackend } from './ops';

type Info = tf.TensorInfo;

function f32(backend: WasmBackend, t: Info): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

interface PoolAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function maxPoolGrad(dy: Info, x: Info, attrs: PoolAttrs, backend: WasmBackend): Info {
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { effectiveFilterHeight: kh, effectiveFilterWidth: kw, dilationHeight: dh, dilationWidth: dw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const out = backend.makeOutput(x.shape, 'float32');
  // views taken after the allocation (it may grow the heap)
  const dx = f32(backend, out);
  const xs = f32(backend, x);
  const dys = f32(backend, dy);
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && dh === 1 && dw === 1 && top === 0 && left === 0 && h === 2 * oh && w === 2 * ow) {
    maxPoolGrad2x2(dx, xs, dys, n, oh, ow, c);
    return out;
  }
  dx.fill(0);
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const r0 = i * sh - top;
      for (let j = 0; j < ow; j++) {
        const c0 = j * sw - left;
        // strictly greater than -Infinity: the first maximum wins (all -Inf/NaN windows get no gradient)
        best.fill(-Infinity);
        where.fill(-1);
        for (let u = 0; u < kh; u += dh) {
          const r = r0 + u;
          if (r < 0 || r >= h) continue;
          for (let v = 0; v < kw; v += dw) {
            const q = c0 + v;
            if (q < 0 || q >= w) continue;
            const base = ((b * h + r) * w + q) * c;
            for (let k = 0; k < c; k++) {
              const val = xs[base + k];
              if (val > best[k]) {
                best[k] = val;
                where[k] = base + k;
              }
            }
          }
        }
        const ob = ((b * oh + i) * ow + j) * c;
        for (let k = 0; k < c; k++) if (where[k] >= 0) dx[where[k]] += dys[ob + k];
      }
    }
  }
  return out;
}

/**
 * 2×2 windows, stride 2, no padding (the common case): every input element is in exactly one window, so
 * each is written once (the window's first maximum gets dy, the other three 0) — no zero-fill pass.
 */
function maxPoolGrad2x2(dx: Float32Array, xs: Float32Array, dys: Float32Array, n: number, oh: number, ow: number, c: number): void {
  const w = 2 * ow;
  const rowStride = w * c;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const p00 = ((b * 2 * oh + 2 * i) * w + 2 * j) * c;
        const p01 = p00 + c;
        const p10 = p00 + rowStride;
        const p11 = p10 + c;
        const ob = ((b * oh + i) * ow + j) * c;
        for (let k = 0; k < c; k++) {
          const a = xs[p00 + k];
          const bb = xs[p01 + k];
          const cc = xs[p10 + k];
          const d = xs[p11 + k];
          const g = dys[ob + k];
          // first maximum in row-major order, strict '>' as in the general loop (NaN never wins; an
          // all-NaN/-Inf window gives no gradient)
          let best = -Infinity;
          let at = -1;
          if (a > best) {
            best = a;
            at = 0;
          }
          if (bb > best) {
            best = bb;
            at = 1;
          }
          if (cc > best) {
            best = cc;
            at = 2;
          }
          if (d > best) at = 3;
          dx[p00 + k] = at === 0 ? g : 0;
          dx[p01 + k] = at === 1 ? g : 0;
          dx[p10 + k] = at === 2 ? g : 0;
          dx[p11 + k] = at === 3 ? g : 0;
        }
      }
    }
  }
}

/** Column sums of a row-major [rows, cols] float32 block, float64 accumulators, optionally scaled. */
function columnSums(xs: Float32Array, rows: number, cols: number, scale: number, out: Float32Array): void {
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let k = 0; k < cols; k++) acc[k] += xs[base + k];
  }
  for (let k = 0; k < cols; k++) out[k] = acc[k] * scale;
}

/**
 * Sum or mean over a leading block of axes [0..k-1] of a float32 tensor; null when not applicable.
 * For NHWC tensors reduced over [0,1,2] (batch-norm statistics) the H·W part runs as ONE XNNPACK average
 * pool over the whole image (the fastest reduction available in the wasm backend), then the batch rows are
 * summed here; otherwise one pass over the rows here.
 */
function leadingReduce(x: Info, axis: number | number[], keepDims: boolean, mean: boolean, backend: WasmBackend): Info | null {
  if (x.dtype !== 'float32') return null;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= rank) return null;
  for (let i = 0; i < axes.length; i++) if (axes[i] !== i) return null;
  const restShape = x.shape.slice(axes.length);
  const cols = restShape.reduce((a, b) => a * b, 1);
  const outShape = keepDims ? [...axes.map(() => 1), ...restShape] : restShape;
  if (cols === 0) return null;
  const [n, h, w] = x.shape;
  if (rank === 4 && axes.length === 3 && h * w > 1) {
    const pooled = run(backend, 'AvgPool', { x }, { filterSize: [h, w], strides: [h, w], pad: 'valid', dimRoundingMode: undefined as unknown as string });
    try {
      const out = backend.makeOutput(outShape, 'float32');
      // mean: (1/N)·Σ_n avg_hw; sum: H·W·Σ_n avg_hw
      columnSums(f32(backend, pooled), n, cols, mean ? 1 / n : h * w, f32(backend, out));
      return out;
    } finally {
      backend.disposeData(pooled.dataId);
    }
  }
  const rows = x.shape.slice(0, axes.length).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput(outShape, 'float32');
  columnSums(f32(backend, x), rows, cols, mean ? 1 / rows : 1, f32(backend, out));
  return out;
}

interface ReduceAttrs {
  axis: number | number[];
  keepDims: boolean;
}

export const HEAP_KERNELS: Array<{ kernelName: string; kernelFunc: tf.KernelFunc }> = [
  {
    kernelName: 'MaxPoolGrad',
    kernelFunc: ({ inputs, backend, attrs }) => maxPoolGrad(input(inputs, 'dy'), input(inputs, 'input'), attrs as unknown as PoolAttrs, backend as WasmBackend),
  },
  {
    kernelName: 'Sum',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as ReduceAttrs;
      return leadingReduce(input(inputs, 'x'), a.axis, a.keepDims, false, backend as WasmBackend) ?? (originalKernel('Sum').kernelFunc({ inputs, backend, attrs }) as Info);
    },
  },
  {
    kernelName: 'Mean',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const a = attrs as unknown as ReduceAttrs;
      return leadingReduce(input(inputs, 'x'), a.axis, a.keepDims, true, backend as WasmBackend) ?? (originalKernel('Mean').kernelFunc({ inputs, backend, attrs }) as Info);
    },
  },
  {
    kernelName: 'Identity',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = input(inputs, 'x');
      if (x.dtype === 'string') return originalKernel('Identity').kernelFunc({ inputs, backend, attrs }) as Info;
      (backend as WasmBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  },
  {
    kernelName: 'Cast',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const x = input(inputs, 'x');
      if (x.dtype !== (attrs as { dtype: string }).dtype || x.dtype === 'string') return originalKernel('Cast').kernelFunc({ inputs, backend, attrs }) as Info;
      (backend as WasmBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  },
];
