/**
 * DenseNet-BC training on the native engine in a few kernel calls per block instead of hundreds of tfjs ops.
 *
 * - EasBnRelu / EasBnReluGrad: batch norm with batch statistics and ReLU fused, one native call each way (the moments,
 *   the normalisation and the ReLU forward; the ReLU mask, x̂, dgamma, dbeta and dx backward, recomputed from x).
 * - EasDenseBlock / EasDenseBlockGrad: a whole dense block (BN-ReLU-Conv1×1-BN-ReLU-Conv3×3 per layer, concatenation),
 *   memory-efficient (Pleiss et al. 2017): the block's output is written once and every layer appends its channels to
 *   it, so no concatenation copies the growing map; the BN-ReLU outputs live in shared native scratch buffers and are
 *   recomputed in the backward pass. Kept per layer for the backward pass: the conv1×1 output and the batch statistics.
 * - EasMovingAverage: the BatchNorm moving mean/variance updates of a whole block in one call.
 * - EasDenseBlockInfer: a whole dense block in inference mode (every BatchNorm with its moving statistics), the same
 *   appending into one output, nothing kept.
 *
 * `denseTrainingForward(model, net)` is the training forward pass of a model built by src/densenet/model.ts (same
 * variables, same function, same moving-statistics updates as `model.apply(x, { training: true })`), built from these
 * ops plus tf.conv2d / tf.avgPool / tf.matMul for the stem, transitions and classifier. It returns null (use the Layers
 * model) off the native engine, with dropout, or with EAS_NATIVE_DENSE=0. `denseInferenceForward(model, net)` is its
 * inference twin (the function of `model.apply(x, { training: false })`), used by evaluation.
 */
import * as tf from '@tensorflow/tfjs';
import type { DenseNet } from '../../densenet/schema';
import { denseNames, tBn, tConv } from '../../densenet/weights';
import type { WasmBackend } from '../wasm/ops';
import { input } from '../wasm/ops';
import type { NativeAddon } from './addon';

export const BN_RELU_KERNEL = 'EasBnRelu';
export const BN_RELU_GRAD_KERNEL = 'EasBnReluGrad';
export const DENSE_BLOCK_KERNEL = 'EasDenseBlock';
export const DENSE_BLOCK_GRAD_KERNEL = 'EasDenseBlockGrad';
export const MOVING_AVERAGE_KERNEL = 'EasMovingAverage';
export const DENSE_BLOCK_INFER_KERNEL = 'EasDenseBlockInfer';

function f32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

const rowsCols = (shape: number[]) => {
  const cols = shape[shape.length - 1];
  return { cols, rows: tf.util.sizeFromShape(shape) / cols };
};

/** Dense block geometry: spec = [n, h, w, c0, L, growth_0, bottleneck_0, …]; the parameter shapes it implies. */
export function blockShapes(spec: number[]): { out: number; bnk: number; stats: number; params: number[][] } {
  const [n, h, w, c0, L] = spec;
  const rows = n * h * w;
  let c = c0;
  let bnk = 0;
  let stats = 0;
  const params: number[][] = [];
  for (let l = 0; l < L; l++) {
    const k = spec[5 + 2 * l];
    const b = spec[6 + 2 * l];
    params.push([c], [c], [1, 1, c, b], [b], [b], [3, 3, b, k]);
    bnk += rows * b;
    stats += 2 * c + 2 * b;
    c += k;
  }
  return { out: c, bnk, stats, params };
}

export function makeDenseKernels(addon: NativeAddon): tf.KernelConfig[] {
  const params = (inputs: tf.NamedTensorInfoMap, count: number) => Array.from({ length: count }, (_, i) => input(inputs, `p${i}`));
  // a block's forward kernels (training and inference): its spec, shapes, input x, parameters and the output map
  const blockForward = (inputs: tf.NamedTensorInfoMap, backend: unknown, attrs: tf.NamedAttrMap | undefined) => {
    const b = backend as WasmBackend;
    const { spec, eps } = attrs as unknown as { spec: number[]; eps: number };
    const [n, h, w] = spec;
    const s = blockShapes(spec);
    return { b, spec, eps, s, x: input(inputs, 'x'), ps: params(inputs, s.params.length), out: b.makeOutput([n, h, w, s.out], 'float32') };
  };
  return [
    {
      kernelName: BN_RELU_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as WasmBackend;
        const x = input(inputs, 'x');
        const { rows, cols } = rowsCols(x.shape);
        const y = b.makeOutput(x.shape, 'float32');
        const stats = b.makeOutput([2, cols], 'float32');
        addon.bnReluFwd(f32(b, x), f32(b, input(inputs, 'gamma')), f32(b, input(inputs, 'beta')), f32(b, y), f32(b, stats), rows, cols, (attrs as { eps: number }).eps);
        return [y, stats];
      },
    },
    {
      kernelName: BN_RELU_GRAD_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as WasmBackend;
        const x = input(inputs, 'x');
        const { rows, cols } = rowsCols(x.shape);
        const dx = b.makeOutput(x.shape, 'float32');
        const dgamma = b.makeOutput([cols], 'float32');
        const dbeta = b.makeOutput([cols], 'float32');
        addon.bnReluBwd(
          f32(b, x),
          f32(b, input(inputs, 'gamma')),
          f32(b, input(inputs, 'beta')),
          f32(b, input(inputs, 'stats')),
          f32(b, input(inputs, 'dy')),
          f32(b, dx),
          f32(b, dgamma),
          f32(b, dbeta),
          rows,
          cols,
          (attrs as { eps: number }).eps,
        );
        return [dx, dgamma, dbeta];
      },
    },
    {
      kernelName: DENSE_BLOCK_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { b, spec, eps, s, x, ps, out } = blockForward(inputs, backend, attrs);
        const bnk = b.makeOutput([s.bnk], 'float32');
        const stats = b.makeOutput([s.stats], 'float32');
        // views after every allocation (one may grow the heap)
        addon.denseBlockFwd(
          f32(b, x),
          ps.map((p) => f32(b, p)),
          f32(b, out),
          f32(b, bnk),
          f32(b, stats),
          Int32Array.from(spec),
          eps,
        );
        return [out, bnk, stats];
      },
    },
    {
      kernelName: DENSE_BLOCK_GRAD_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as WasmBackend;
        const { spec, eps } = attrs as unknown as { spec: number[]; eps: number };
        const [n, h, w, c0] = spec;
        const s = blockShapes(spec);
        const ps = params(inputs, s.params.length);
        const dx = b.makeOutput([n, h, w, c0], 'float32');
        const grads = s.params.map((shape) => b.makeOutput(shape, 'float32'));
        addon.denseBlockBwd(
          f32(b, input(inputs, 'out')),
          f32(b, input(inputs, 'bnk')),
          f32(b, input(inputs, 'stats')),
          ps.map((p) => f32(b, p)),
          f32(b, input(inputs, 'dy')),
          f32(b, dx),
          grads.map((g) => f32(b, g)),
          Int32Array.from(spec),
          eps,
        );
        return [dx, ...grads];
      },
    },
    {
      kernelName: DENSE_BLOCK_INFER_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { b, spec, eps, s, x, ps, out } = blockForward(inputs, backend, attrs);
        // the moving statistics (4 small vectors per layer) gathered into the layout denseBlockInfer reads
        const moving = new Float32Array(s.stats);
        let at = 0;
        for (let i = 0; i < 4 * spec[4]; i++) {
          const m = f32(b, input(inputs, `m${i}`));
          moving.set(m, at);
          at += m.length;
        }
        if (at !== s.stats) throw new Error(`${DENSE_BLOCK_INFER_KERNEL}: moving statistics hold ${at} values, the block needs ${s.stats}`);
        addon.denseBlockInfer(
          f32(b, x),
          ps.map((p) => f32(b, p)),
          f32(b, out),
          moving,
          Int32Array.from(spec),
          eps,
        );
        return [out];
      },
    },
    {
      kernelName: MOVING_AVERAGE_KERNEL,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as WasmBackend;
        const { count, momentum } = attrs as unknown as { count: number; momentum: number };
        const olds = Array.from({ length: count }, (_, i) => input(inputs, `v${i}`));
        const news = olds.map((o) => b.makeOutput(o.shape, 'float32'));
        addon.movingAverage(
          f32(b, input(inputs, 'stats')),
          olds.map((o) => f32(b, o)),
          news.map((o) => f32(b, o)),
          momentum,
        );
        return news;
      },
    },
  ];
}

/** relu(batchNorm(x)) with batch statistics over all axes but the last; `onStats` gets [2, C] (mean; variance). */
export function bnRelu(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number, onStats?: (stats: tf.Tensor) => void): tf.Tensor {
  const f = tf.customGrad(((xx: tf.Tensor, g: tf.Tensor, bt: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, stats] = tf.engine().runKernel(BN_RELU_KERNEL, { x: xx, gamma: g, beta: bt }, { eps }) as tf.Tensor[];
    onStats?.(stats);
    save([xx, g, bt, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sb, ss] = saved;
        return tf.engine().runKernel(BN_RELU_GRAD_KERNEL, { x: sx, gamma: sg, beta: sb, stats: ss, dy }, { eps }) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return f(x, gamma, beta);
}

/**
 * One dense block: x [n, h, w, c0] → [n, h, w, c0 + Σ growth]. `params` per layer: gamma1, beta1, w1, gamma2, beta2, w2.
 * `onStats` gets the flat batch statistics (per layer mean1, var1, mean2, var2) while they exist.
 */
export function denseBlock(x: tf.Tensor4D, params: tf.Tensor[], layers: Array<{ growth: number; bottleneck: number }>, eps: number, onStats?: (stats: tf.Tensor) => void): tf.Tensor4D {
  const [n, h, w, c0] = x.shape;
  const spec = [n, h, w, c0, layers.length, ...layers.flatMap((l) => [l.growth, l.bottleneck])];
  const names = params.map((_, i) => `p${i}`);
  const f = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xx, ...ps] = args as tf.Tensor[];
    const inputs: tf.NamedTensorMap = { x: xx };
    ps.forEach((p, i) => (inputs[names[i]] = p));
    const [out, bnk, stats] = tf.engine().runKernel(DENSE_BLOCK_KERNEL, inputs, { spec, eps } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    onStats?.(stats);
    save([out, bnk, stats, ...ps]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [so, sb, ss, ...sp] = saved;
        const gi: tf.NamedTensorMap = { out: so, bnk: sb, stats: ss, dy };
        sp.forEach((p, i) => (gi[names[i]] = p));
        return tf.engine().runKernel(DENSE_BLOCK_GRAD_KERNEL, gi, { spec, eps } as unknown as tf.NamedAttrMap) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...ts: tf.Tensor[]) => tf.Tensor4D;
  return f(x, ...params);
}

/**
 * One dense block's inference forward pass: x [n, h, w, c0] → [n, h, w, c0 + Σ growth], every BatchNorm with its moving
 * statistics. `params` as denseBlock's; `moving` per layer: mean1, variance1, mean2, variance2. No gradient.
 */
export function denseBlockInference(x: tf.Tensor4D, params: tf.Tensor[], moving: tf.Tensor[], layers: Array<{ growth: number; bottleneck: number }>, eps: number): tf.Tensor4D {
  const [n, h, w, c0] = x.shape;
  const spec = [n, h, w, c0, layers.length, ...layers.flatMap((l) => [l.growth, l.bottleneck])];
  if (params.length !== 6 * layers.length || moving.length !== 4 * layers.length) throw new Error(`denseBlockInference: ${layers.length} layers need ${6 * layers.length} params and ${4 * layers.length} moving statistics, got ${params.length} and ${moving.length}`);
  const inputs: tf.NamedTensorMap = { x };
  params.forEach((p, i) => (inputs[`p${i}`] = p));
  moving.forEach((m, i) => (inputs[`m${i}`] = m));
  const [out] = tf.engine().runKernel(DENSE_BLOCK_INFER_KERNEL, inputs, { spec, eps } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return out as tf.Tensor4D;
}

/** Moving statistics update of several BatchNorms at once: vars[i] ← vars[i] − (vars[i] − batch_i)(1 − momentum). */
export function movingAverage(stats: tf.Tensor, vars: tf.Variable[], momentum: number): void {
  const inputs: tf.NamedTensorMap = { stats };
  vars.forEach((v, i) => (inputs[`v${i}`] = v));
  const news = tf.engine().runKernel(MOVING_AVERAGE_KERNEL, inputs, { count: vars.length, momentum }) as tf.Tensor[];
  vars.forEach((v, i) => v.assign(news[i]));
  tf.dispose(news);
}

let kernelsReady = false;
/** Called by nativePostInit once the addon's kernels are registered. */
export function markDenseKernelsReady(): void {
  kernelsReady = true;
}
export const denseKernelsReady = (): boolean => kernelsReady;

/** A BatchNormalization layer's variables and settings. */
export interface Bn {
  gamma: tf.Variable;
  beta: tf.Variable;
  mean: tf.Variable;
  variance: tf.Variable;
  eps: number;
  momentum: number;
}

/** The BatchNormalization layer `name` of `model`, or null when it is not centred and scaled with its four variables. */
export function bnVariables(model: tf.LayersModel, name: string): Bn | null {
  const layer = model.getLayer(name);
  const [gamma, beta, mean, variance] = layer.weights.map((w) => w.read() as tf.Variable);
  const cfg = layer.getConfig() as { epsilon: number; momentum: number; center?: boolean; scale?: boolean };
  if (!gamma || !beta || !mean || !variance || cfg.center === false || cfg.scale === false) return null;
  return { gamma, beta, mean, variance, eps: cfg.epsilon, momentum: cfg.momentum };
}

function bnOfLayer(model: tf.LayersModel, name: string): Bn {
  const bn = bnVariables(model, name);
  if (!bn) throw new Error(`${name}: expected a centred, scaled BatchNormalization`);
  return bn;
}

/** The variables of a model built by buildDenseModel for `net`, or null when the native kernels cannot run it. */
function denseParts(model: tf.LayersModel, net: DenseNet) {
  if (!kernelsReady || tf.getBackend() !== 'wasm' || process.env.EAS_NATIVE_DENSE === '0') return null;
  if (model.layers.some((l) => l.getClassName() === 'Dropout')) return null;
  const kernel = (name: string) => model.getLayer(name).weights[0].read() as tf.Variable;
  const stem = kernel(denseNames.stem);
  const blocks = net.blocks.map((b, bi) => {
    const layers = b.layers.map((l) => ({ l, bn1: bnOfLayer(model, denseNames.bn1(l.id)), w1: kernel(denseNames.conv1(l.id)), bn2: bnOfLayer(model, denseNames.bn2(l.id)), w2: kernel(denseNames.conv2(l.id)) }));
    const transition = b.transition !== undefined ? { bn: bnOfLayer(model, tBn(bi)), w: kernel(tConv(bi)) } : undefined;
    const params = layers.flatMap(({ bn1, w1, bn2, w2 }) => [bn1.gamma, bn1.beta, w1, bn2.gamma, bn2.beta, w2]);
    const moving = layers.flatMap(({ bn1, bn2 }) => [bn1.mean, bn1.variance, bn2.mean, bn2.variance]);
    return { layers, transition, params, moving };
  });
  const final = bnOfLayer(model, denseNames.finalBn);
  const cls = model.getLayer(denseNames.classifier).weights.map((w) => w.read() as tf.Variable);
  const all = [...blocks.flatMap((b) => [...b.layers.flatMap((l) => [l.bn1, l.bn2]), ...(b.transition ? [b.transition.bn] : [])]), final];
  if (new Set(all.map((b) => `${b.eps}/${b.momentum}`)).size !== 1) return null;
  return { stem, blocks, final, cls, eps: all[0].eps, momentum: all[0].momentum };
}

type DenseParts = NonNullable<ReturnType<typeof denseParts>>;

/**
 * A DenseNet's forward pass on the native kernels: the stem conv; per block `block`, then its transition (`bnRelu`,
 * conv 1×1, avgPool 2); the final `bnRelu`, global mean and classifier. Training and inference differ only in the two.
 */
function denseForward(
  { stem, blocks, final, cls }: DenseParts,
  block: (h: tf.Tensor4D, b: DenseParts['blocks'][number]) => tf.Tensor4D,
  bnRelu: (h: tf.Tensor, bn: Bn) => tf.Tensor,
): (x: tf.Tensor) => tf.Tensor {
  return (x: tf.Tensor) =>
    tf.tidy(() => {
      let h = tf.conv2d(x as tf.Tensor4D, stem as unknown as tf.Tensor4D, 1, 'same');
      for (const b of blocks) {
        h = block(h, b);
        if (b.transition) {
          h = tf.conv2d(bnRelu(h, b.transition.bn) as tf.Tensor4D, b.transition.w as unknown as tf.Tensor4D, 1, 'same');
          h = tf.avgPool(h, 2, 2, 'valid');
        }
      }
      const pooled = tf.mean(bnRelu(h, final), [1, 2]);
      return tf.add(tf.matMul(pooled, cls[0]), cls[1]);
    });
}

/**
 * The training forward pass of `model` (built by buildDenseModel for `net`) on the native kernels, or null when they
 * cannot run it (not the native engine, dropout layers, EAS_NATIVE_DENSE=0). Variables are read at each call, so it
 * follows the optimizer's updates; moving statistics are updated as tf.layers' BatchNormalization does in training.
 */
export function denseTrainingForward(model: tf.LayersModel, net: DenseNet): ((x: tf.Tensor) => tf.Tensor) | null {
  const parts = denseParts(model, net);
  if (!parts) return null;
  const { eps, momentum } = parts;
  return denseForward(
    parts,
    (h, b) =>
      denseBlock(
        h,
        b.params,
        b.layers.map(({ l }) => l),
        eps,
        (stats) => movingAverage(stats, b.moving, momentum),
      ),
    (h, bn) => bnRelu(h, bn.gamma, bn.beta, eps, (stats) => movingAverage(stats, [bn.mean, bn.variance], momentum)),
  );
}

/**
 * The inference forward pass of `model` (built by buildDenseModel for `net`) on the native kernels: the function of
 * `model.apply(x, { training: false })` (every BatchNorm with its moving statistics), the dense blocks one native call
 * each (EasDenseBlockInfer), the transitions' and the final BatchNorm the native engine's FusedBatchNorm and Relu. Null
 * under the same conditions as denseTrainingForward, and with EAS_NATIVE_DENSE_INFER=0 (evaluation alone through the
 * Layers model, e.g. to compare). Variables are read at each call; nothing is updated.
 */
export function denseInferenceForward(model: tf.LayersModel, net: DenseNet): ((x: tf.Tensor) => tf.Tensor) | null {
  if (process.env.EAS_NATIVE_DENSE_INFER === '0') return null;
  const parts = denseParts(model, net);
  if (!parts) return null;
  const { eps } = parts;
  return denseForward(
    parts,
    (h, b) =>
      denseBlockInference(
        h,
        b.params,
        b.moving,
        b.layers.map(({ l }) => l),
        eps,
      ),
    (h, bn) => tf.relu(tf.batchNorm(h, bn.mean, bn.variance, bn.beta, bn.gamma, eps)),
  );
}
