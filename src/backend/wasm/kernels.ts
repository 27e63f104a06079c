/**
 * Training kernels for the tfjs wasm backend (4.22).
 *
 * - Conv2DBackpropFilter: missing from the wasm backend. Computed as ONE XNNPACK conv2d with the batch as
 *   the contraction dimension: x → [Cin,H,W,N] is the "input", dy → [OH,OW,N,Cout] is the "filter",
 *   dilation = forward stride, explicit padding = forward top/left padding (bottom/right padding, or a
 *   crop, chosen so the output is exactly [Cin,KH,KW,Cout]); the result is transposed to [KH,KW,Cin,Cout].
 * - Conv2DBackpropInput (replaced, stride 1 only): conv2d of dy with the spatially flipped filter
 *   transposed to [KH,KW,Cout,Cin], padded by (K-1-pad). Stride > 1 keeps the stock kernel: the
 *   equivalent conv would run on a zero-inserted dy (s² more work, 3/4 of it on zeros for s = 2).
 * - BatchMatMul (replaced): the stock kernel only takes XNNPACK's fast path without transposes and with
 *   batch 1; we transpose explicitly (cheap for Dense-sized operands) and then call it.
 *
 * - MaxPoolGrad, Sum/Mean over leading axes, Identity, same-dtype Cast: see heap-kernels.ts.
 *
 * All kernels use the stock wasm kernels as building blocks and dispose their intermediates.
 */
import * as tf from '@tensorflow/tfjs';
import { HEAP_KERNELS } from './heap-kernels';
import { dispose, conv2d, input, originalKernel, rememberOriginal, run, slice, transpose, type WasmBackend } from './ops';

type Info = tf.TensorInfo;
type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

/** Attributes both conv backprop kernels share. */
interface ConvBackpropAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

interface Conv2DBackpropFilterAttrs extends ConvBackpropAttrs {
  filterShape: [number, number, number, number];
}

function convInfoFor(xShape: number[], filterShape: number[], a: Pick<Conv2DBackpropFilterAttrs, 'strides' | 'pad' | 'dataFormat' | 'dimRoundingMode'>) {
  if (a.dataFormat === 'NCHW') throw new Error('wasm conv2d gradients support only NHWC (channelsLast)');
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

/** dW[kh,kw,ci,co] = Σ_{n,oh,ow} xpad[n, oh*sh+kh, ow*sw+kw, ci] · dy[n,oh,ow,co]. */
export function conv2DBackpropFilter(x: Info, dy: Info, attrs: Conv2DBackpropFilterAttrs, backend: WasmBackend): Info {
  const ci = convInfoFor(x.shape, attrs.filterShape, attrs);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout, outHeight: oh, outWidth: ow } = ci;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = ci;
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;
  // rows the dilated "filter" (dy) spans, plus the kernel extent, must equal the padded input height
  const bottom = (oh - 1) * sh + kh - h - top;
  const right = (ow - 1) * sw + kw - w - left;
  const temps: Info[] = [];
  try {
    let xs = x;
    if (bottom < 0 || right < 0) {
      xs = slice(backend, x, [0, 0, 0, 0], [n, h + Math.min(bottom, 0), w + Math.min(right, 0), cin]);
      temps.push(xs);
    }
    const xt = transpose(backend, xs, [3, 1, 2, 0]); // [Cin, H', W', N]
    temps.push(xt);
    const dyt = transpose(backend, dy, [1, 2, 0, 3]); // [OH, OW, N, Cout]
    temps.push(dyt);
    const pad: Pad4 = [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ];
    const g = conv2d(backend, xt, dyt, pad, [sh, sw]); // [Cin, KH, KW, Cout]
    temps.push(g);
    if (g.shape[1] !== kh || g.shape[2] !== kw || g.shape[3] !== cout) {
      throw new Error(`Conv2DBackpropFilter: internal shape mismatch ${g.shape} vs [${cin},${kh},${kw},${cout}]`);
    }
    return transpose(backend, g, [1, 2, 0, 3]);
  } finally {
    dispose(backend, ...temps);
  }
}

interface Conv2DBackpropInputAttrs extends ConvBackpropAttrs {
  inputShape: [number, number, number, number];
}

/**
 * dx for stride 1: dx[n,h,w,ci] = Σ dy[n, h+top-kh, w+left-kw, co] · W[kh,kw,ci,co], i.e. a 'full' conv of
 * dy with W flipped in space and transposed to [KH,KW,Cout,Cin]. Returns null when not applicable.
 */
export function conv2DBackpropInputFast(dy: Info, filter: Info, attrs: Conv2DBackpropInputAttrs, backend: WasmBackend): Info | null {
  if (attrs.dataFormat === 'NCHW') return null;
  const ci = convInfoFor(attrs.inputShape, filter.shape, attrs);
  if (ci.strideHeight !== 1 || ci.strideWidth !== 1) return null;
  const { filterHeight: kh, filterWidth: kw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = ci;
  const top = kh - 1 - ci.padInfo.top;
  const left = kw - 1 - ci.padInfo.left;
  const bottom = h + ci.padInfo.top - oh;
  const right = w + ci.padInfo.left - ow;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) return null;
  const temps: Info[] = [];
  try {
    const ft = transpose(backend, filter, [0, 1, 3, 2]); // [KH,KW,Cout,Cin]
    temps.push(ft);
    let wf = ft;
    if (kh > 1 || kw > 1) {
      wf = run(backend, 'Reverse', { x: ft }, { dims: [0, 1] });
      temps.push(wf);
    }
    return conv2d(backend, dy, wf, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
  } finally {
    dispose(backend, ...temps);
  }
}

interface BatchMatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** BatchMatMul with explicit transposes for batch-1 products, so the stock kernel takes XNNPACK's path. */
export function batchMatMulFast(a: Info, b: Info, attrs: BatchMatMulAttrs, backend: WasmBackend): Info {
  const stock = originalKernel('BatchMatMul');
  const batchA = a.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, q) => p * q, 1);
  if ((!attrs.transposeA && !attrs.transposeB) || batchA !== 1 || batchB !== 1 || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return stock.kernelFunc({ inputs: { a, b }, backend, attrs: attrs as unknown as tf.NamedAttrMap }) as Info;
  }
  const temps: Info[] = [];
  try {
    const perm = (r: number) => [...Array(r - 2).keys(), r - 1, r - 2];
    let a2 = a;
    let b2 = b;
    if (attrs.transposeA) {
      a2 = transpose(backend, a, perm(a.shape.length));
      temps.push(a2);
    }
    if (attrs.transposeB) {
      b2 = transpose(backend, b, perm(b.shape.length));
      temps.push(b2);
    }
    return stock.kernelFunc({ inputs: { a: a2, b: b2 }, backend, attrs: { transposeA: false, transposeB: false } }) as Info;
  } finally {
    dispose(backend, ...temps);
  }
}

type Replacement = {
  kernelName: string;
  kernelFunc: tf.KernelFunc;
};

const REPLACEMENTS: Replacement[] = [
  {
    kernelName: 'Conv2DBackpropFilter',
    kernelFunc: ({ inputs, backend, attrs }) =>
      conv2DBackpropFilter(input(inputs, 'x'), input(inputs, 'dy'), attrs as unknown as Conv2DBackpropFilterAttrs, backend as WasmBackend),
  },
  {
    kernelName: 'Conv2DBackpropInput',
    kernelFunc: ({ inputs, backend, attrs }) =>
      conv2DBackpropInputFast(input(inputs, 'dy'), input(inputs, 'filter'), attrs as unknown as Conv2DBackpropInputAttrs, backend as WasmBackend) ??
      (originalKernel('Conv2DBackpropInput').kernelFunc({ inputs, backend, attrs }) as Info),
  },
  {
    kernelName: 'BatchMatMul',
    kernelFunc: ({ inputs, backend, attrs }) => batchMatMulFast(input(inputs, 'a'), input(inputs, 'b'), attrs as unknown as BatchMatMulAttrs, backend as WasmBackend),
  },
  ...HEAP_KERNELS,
];

/** Names of the kernels this module registers for 'wasm', in order. */
export const WASM_KERNEL_NAMES: readonly string[] = REPLACEMENTS.map((r) => r.kernelName);

let installed = false;

/**
 * Register our kernels for backendName 'wasm' (replacing stock ones, whose configs — including their
 * setupFunc — are kept and used as building blocks). Idempotent. Call after the wasm backend is set so
 * that the stock kernels' setupFuncs have already run.
 */
export function installWasmKernels(): void {
  if (installed) return;
  for (const r of REPLACEMENTS) {
    const stock = rememberOriginal(r.kernelName);
    if (stock) tf.unregisterKernel(r.kernelName, 'wasm');
    tf.registerKernel({ kernelName: r.kernelName, backendName: 'wasm', kernelFunc: r.kernelFunc, setupFunc: stock?.setupFunc, disposeFunc: stock?.disposeFunc });
  }
  installed = true;
}

export function wasmKernelsInstalled(): boolean {
  return installed;
}
