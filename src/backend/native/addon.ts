/**
 * Loading the native oneDNN addon (native/eas_native.cc, built by `npm ci` through scripts/build-native.js into
 * build/Release/eas_native.node). When it cannot be loaded, `addonError()` says why, in one line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What the addon exports. Float32Array arguments may be views into the wasm heap (no copies are made). */
export interface NativeAddon {
  conv2d(x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array, geom: Int32Array, activation: number, alpha: number): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geom: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geom: Int32Array): void;
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, geom: Int32Array): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, geom: Int32Array): void;
  /** out = a (op) b on [rows, cols]; an operand flagged as a vector has one value per column. op: 0 +, 1 -, 2 ×, 3 ÷. */
  binaryChannel(op: number, a: Float32Array, b: Float32Array, out: Float32Array, rows: number, cols: number, aIsVec: boolean, bIsVec: boolean): void;
  /** out = a (op) b elementwise over n values; a scalar operand is one value. */
  binaryFlat(op: number, a: Float32Array, b: Float32Array, out: Float32Array, n: number, aIsScalar: boolean, bIsScalar: boolean): void;
  /** op: 0 relu, 1 step (alpha where x ≤ 0), 2 square. */
  unary(op: number, x: Float32Array, out: Float32Array, n: number, alpha: number): void;
  /** out[c] = scale · Σ_r x[r, c] (float64 accumulators). */
  columnSums(x: Float32Array, out: Float32Array, rows: number, cols: number, scale: number): void;
  /** stats = [mean; variance] (2 × cols) over the rows of x [rows, cols]. */
  moments(x: Float32Array, stats: Float32Array, rows: number, cols: number): void;
  /** dx = dmean/rows + dvar · 2(x - mean)/rows, with stats and dstats as [mean; variance]. */
  momentsGrad(x: Float32Array, stats: Float32Array, dstats: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  batchNorm(x: Float32Array, mean: Float32Array, variance: Float32Array, offset: Float32Array | null, scale: Float32Array | null, y: Float32Array, rows: number, cols: number, eps: number): void;
  sgdNesterov(
    vars: Float32Array[],
    grads: Float32Array[],
    moms: Float32Array[],
    newVars: Float32Array[],
    newMoms: Float32Array[],
    lr: number,
    momentum: number,
    weightDecay: number,
    decayMask: Int32Array,
  ): void;
  /** Batch norm with batch statistics + ReLU in one pass: stats = [mean; variance] of x [rows, cols], y = relu(bn(x)). */
  bnReluFwd(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, stats: Float32Array, rows: number, cols: number, eps: number): void;
  /** Its gradient (the ReLU mask and x̂ recomputed from x): dx, dgamma, dbeta from dy. */
  bnReluBwd(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    stats: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    rows: number,
    cols: number,
    eps: number,
  ): void;
  /**
   * A whole DenseNet-BC dense block, memory-efficient (see native/eas_native.cc): spec = n, h, w, c0, L, then growth and
   * bottleneck per layer; params per layer gamma1, beta1, w1, gamma2, beta2, w2. Writes out [n·h·w, cL], the kept
   * bottleneck outputs bnk and the batch statistics stats (per layer mean1, var1, mean2, var2).
   */
  denseBlockFwd(x: Float32Array, params: Float32Array[], out: Float32Array, bnk: Float32Array, stats: Float32Array, spec: Int32Array, eps: number): void;
  /**
   * The same block's inference forward pass: every BatchNorm with the given moving statistics (moving: per layer mean1,
   * var1, mean2, var2, the layout of denseBlockFwd's stats); writes out [n·h·w, cL] only, keeps nothing.
   */
  denseBlockInfer(x: Float32Array, params: Float32Array[], out: Float32Array, moving: Float32Array, spec: Int32Array, eps: number): void;
  /** Its gradient: dx [n·h·w, c0] and one gradient per parameter (grads in params' order). */
  denseBlockBwd(out: Float32Array, bnk: Float32Array, stats: Float32Array, params: Float32Array[], dy: Float32Array, dx: Float32Array, grads: Float32Array[], spec: Int32Array, eps: number): void;
  /** news[i] = olds[i] − (olds[i] − batch_i)·(1 − momentum), the batch values read one after another from stats. */
  movingAverage(stats: Float32Array, olds: Float32Array[], news: Float32Array[], momentum: number): void;
  /**
   * A plain net's whole training step, natively (./plain-step.ts): spec = n, h, w, c, classes, L, then 18 ints per layer
   * (kind 0 conv + its 17-value conv geometry, 1 fc + units, 2 max / 3 avg pool + its 12-value pool geometry); bn = eps,
   * momentum per conv/fc layer. Returns a handle; the net owns its weights and buffers until plainNetFree.
   */
  plainNetCreate(spec: Int32Array, bn: Float64Array): number;
  /** Copies the parameters (per conv/fc layer kernel, gamma, beta, moving mean, moving variance; classifier kernel, bias) and momentum accumulators (kernel, gamma, beta; classifier kernel, bias) in (write) or out. */
  plainNetParams(handle: number, params: Float32Array[], moms: Float32Array[], write: boolean): void;
  /** One training step (forward, softmax cross-entropy, backward, Nesterov SGD with L2 decay on kernels, moving statistics); out = [mean loss, correct]. */
  plainNetStep(handle: number, x: Float32Array, labels: Int32Array, lr: number, momentum: number, weightDecay: number, out: Float64Array): void;
  plainNetFree(handle: number): void;
  /** Best GFLOP/s of `reps` n×n×n sgemm calls through oneDNN on the engine's threads, by wall-clock and by CPU time. */
  sgemmPeak(n: number, reps: number): { wall: number; cpu: number };
  /** Net2Wider's remap (remapMiddleAxis): src [outer, mid, inner] → out [outer, map.length, inner], × scale[j] when given. */
  remapMiddle(src: Float32Array, out: Float32Array, outer: number, mid: number, inner: number, map: Int32Array, scale: Float32Array | null): void;
  /** Milliseconds of CPU time per section of the dense-block kernels since the last call (EAS_NATIVE_PROFILE set). */
  profile(): Record<string, number>;
  setThreads(n: number): void;
  info(): NativeInfo;
  clearCache(): void;
}

export interface NativeInfo {
  /** OpenMP threads oneDNN and our loops use. */
  threads: number;
  /** Buffers the addon owns (reordered filters of cached primitives) and their bytes. */
  liveBuffers: number;
  liveBytes: number;
  cachedPrimitives: number;
  onednn: string;
}

/** The package root (this file is src/backend/native/addon.ts). */
const ROOT = path.resolve(__dirname, '..', '..', '..');
export const ADDON_PATH = path.join(ROOT, 'build', 'Release', 'eas_native.node');
/** Written by scripts/build-native.js when `npm ci` skipped or failed the build. */
export const SKIP_NOTE = path.join(ROOT, 'build', 'native-skipped.txt');

let addon: NativeAddon | undefined;
let error: string | undefined;

/** The addon, or throws an Error saying why it is unavailable. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  if (error) throw new Error(error);
  if (!fs.existsSync(ADDON_PATH)) {
    let why = 'it was not built';
    try {
      why = fs.readFileSync(SKIP_NOTE, 'utf8').trim().split('\n')[0];
    } catch {
      /* no note: never attempted */
    }
    error = `native addon ${path.relative(ROOT, ADDON_PATH)} is missing (${why}); on Debian/Ubuntu: apt-get install libdnnl-dev g++, then npm ci (or npm run build:native)`;
    throw new Error(error);
  }
  // OpenMP threads that wait at a barrier spin briefly, then sleep (libgomp reads this when the addon loads it).
  // libgomp's default spins 300,000 times: on a shared machine with more runnable threads than cores the spinning
  // threads burn the time slices their partners need (at load 13 on 2 cores, two engine threads ran the Table-1 net at
  // 0.2× one thread). Sleeping at once (passive) costs a wake-up at every fork, dozens per step: on an idle 2-core VM two
  // threads then reached only 1.4–1.5× one thread. A short spin gets both: 1.66–1.73× idle, and with two busy processes
  // on the cores 0.82–0.84× against passive's 0.72× (bench:train --vs-threads 2). Set OMP_WAIT_POLICY or GOMP_SPINCOUNT
  // to override.
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.GOMP_SPINCOUNT = '3000';
  try {
    addon = require(ADDON_PATH) as NativeAddon;
    return addon;
  } catch (err) {
    error = `native addon ${path.relative(ROOT, ADDON_PATH)} failed to load: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`;
    throw new Error(error, { cause: err });
  }
}

/** Why the addon cannot be used, or undefined when it loads. */
export function addonError(): string | undefined {
  try {
    loadAddon();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
