/**
 * Training throughput benchmark (not a test).
 *
 *   npm run bench:train -- [--backend X] [--threads N] [--json] [--steps S] [--warmup W] [--batch B]
 *                          [--profile] [--no-torch]
 *
 * Trains the paper's Table-1 start net on random 32×32×3 inputs (10 classes), batch 64, with the paper's
 * optimizer: SGD with Nesterov momentum 0.9, lr 0.02, L2 weight decay 1e-4 (as ½·wd·Σw² over conv/dense
 * kernels in the loss), softmax cross-entropy. After a few warm-up steps it prints steady-state
 * images/s, peak RSS and the backend; with PyTorch available (/usr/bin/python3 -c "import torch") it
 * then times the same network and recipe in PyTorch (bench/torch_train.py, torch.set_num_threads = --threads)
 * and prints the ratio eas/PyTorch. --profile prints the kernels that take the most time (tf.profile).
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { wasmThreadsInfo } from '../src/backend/wasm';
import { loadAddon, nativeMomentumStep, nativeStepAvailable } from '../src/backend/native';
import { parseNotation, TABLE1_START } from '../src/arch';
import { Rng } from '../src/util/rng';

interface Args {
  backend?: string;
  threads: number;
  json: boolean;
  steps: number;
  warmup: number;
  batch: number;
  profile: boolean;
  torch: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { threads: 1, json: false, steps: 20, warmup: 3, batch: 64, profile: false, torch: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    const int = (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${k}: expected a non-negative integer, got ${v}`);
      return n;
    };
    if (k === '--backend') a.backend = next();
    else if (k === '--threads') a.threads = Math.max(1, int(next()));
    else if (k === '--json') a.json = true;
    else if (k === '--steps') a.steps = Math.max(1, int(next()));
    else if (k === '--warmup') a.warmup = int(next());
    else if (k === '--batch') a.batch = Math.max(1, int(next()));
    else if (k === '--profile') a.profile = true;
    else if (k === '--no-torch') a.torch = false;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

const LR = 0.02;
const MOMENTUM = 0.9;
const WEIGHT_DECAY = 1e-4;
const CLASSES = 10;
const INPUT: [number, number, number] = [32, 32, 3];

/** The Table-1 start net: src/nn's model when it loads, else an exact tf.layers equivalent. */
function buildNet(): { model: tf.LayersModel; source: string } {
  const arch = parseNotation(TABLE1_START, INPUT);
  try {
    const nn = require('../src/nn') as typeof import('../src/nn');
    const weights = nn.initWeights(arch, Rng.fromSeed(1));
    return { model: nn.buildModel(arch, weights), source: 'src/nn buildModel' };
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    console.error(`[bench] src/nn unavailable (${msg}); using the tf.layers equivalent`);
  }
  const input = tf.input({ shape: INPUT });
  let x: tf.SymbolicTensor = input;
  const bnRelu = (t: tf.SymbolicTensor) =>
    tf.layers.reLU().apply(tf.layers.batchNormalization({ axis: -1, epsilon: 1e-5, momentum: 0.99 }).apply(t)) as tf.SymbolicTensor;
  for (const filters of [16, 32, 64, 128]) {
    x = bnRelu(tf.layers.conv2d({ filters, kernelSize: 3, strides: 1, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor);
    const pool = filters === 128 ? tf.layers.averagePooling2d({ poolSize: 4, strides: 4, padding: 'same' }) : tf.layers.maxPooling2d({ poolSize: 2, strides: 2, padding: 'same' });
    x = pool.apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = bnRelu(tf.layers.dense({ units: 256, useBias: false }).apply(x) as tf.SymbolicTensor);
  const logits = tf.layers.dense({ units: CLASSES, useBias: true }).apply(x) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: logits }), source: 'tf.layers equivalent' };
}

interface TorchResult {
  images_per_s: number;
  images_per_cpu_s: number;
  threads: number;
  torch_version: string;
  max_rss_mb: number;
}

function runTorch(a: Args): TorchResult | { error: string } {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return { error: 'PyTorch not available (/usr/bin/python3 -c "import torch" failed)' };
  const script = path.join(__dirname, 'torch_train.py');
  const r = spawnSync('/usr/bin/python3', [script, '--threads', String(a.threads), '--steps', String(a.steps), '--warmup', String(a.warmup), '--batch', String(a.batch)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) return { error: `torch_train.py failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}` };
  const last = r.stdout.trim().split('\n').slice(-1)[0];
  return JSON.parse(last) as TorchResult;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const choice = await initBackend({ backend: a.backend, threads: a.threads, log: a.json ? () => {} : undefined });
  const { model, source } = buildNet();
  const kernels = model.trainableWeights.filter((w) => /kernel/.test(w.name)).map((w) => w.read() as tf.Variable);
  const optimizer = tf.train.momentum(LR, MOMENTUM, true);
  const rng = Rng.fromSeed(7);
  const n = a.batch * INPUT[0] * INPUT[1] * INPUT[2];
  const xData = new Float32Array(n);
  for (let i = 0; i < n; i++) xData[i] = rng.float() * 2 - 1;
  const labels = Array.from({ length: a.batch }, () => rng.int(0, CLASSES - 1));
  const xs = tf.tensor4d(xData, [a.batch, ...INPUT]);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES);

  let lastLoss = NaN;
  // the native engine: L2 decay added to the gradients and the whole update in one call (src/train/loop.ts does the same)
  const nativeStep = choice.name === 'native' && nativeStepAvailable();
  const allVars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const stepVars = allVars.map((v) => ({ variable: v, decay: kernels.includes(v) }));
  const stepNative = (readLoss: boolean) => {
    const cost = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar, allVars);
      nativeMomentumStep(optimizer, stepVars, grads, WEIGHT_DECAY);
      return value;
    });
    if (readLoss) lastLoss = cost.dataSync()[0];
    cost.dispose();
  };
  const step = (readLoss: boolean) => {
    if (nativeStep) return stepNative(readLoss);
    const cost = optimizer.minimize(
      () => {
        const logits = model.apply(xs, { training: true }) as tf.Tensor;
        const ce = tf.losses.softmaxCrossEntropy(ys, logits);
        const l2 = tf.mul(tf.addN(kernels.map((k) => tf.sum(tf.square(k)))), WEIGHT_DECAY / 2);
        return tf.add(ce, l2) as tf.Scalar;
      },
      readLoss,
    );
    if (cost) {
      lastLoss = cost.dataSync()[0];
      cost.dispose();
    }
  };

  for (let i = 0; i < a.warmup; i++) step(i === 0);
  const firstLoss = lastLoss;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < a.steps; i++) step(false);
  // wasm and cpu are synchronous; reading one value makes sure all queued work is done on async backends
  step(true);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  // CPU seconds of this process (all its threads): with other load on the machine, wall-clock figures drop
  // while this one mostly does not — the single-thread figure to compare when the CPU is shared
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const imagesPerS = ((a.steps + 1) * a.batch) / seconds;

  let profile: Array<{ kernel: string; ms: number; calls: number }> | undefined;
  if (a.profile) {
    const info = await tf.profile(() => step(false));
    if (process.env.EAS_BENCH_PROFILE_SHAPES) {
      for (const k of info.kernels) if (typeof k.kernelTimeMs === 'number' && k.kernelTimeMs > 0.05) console.error(k.name, k.kernelTimeMs.toFixed(2), JSON.stringify(k.inputShapes), JSON.stringify(k.outputShapes));
    }
    const by = new Map<string, { ms: number; calls: number }>();
    for (const k of info.kernels) {
      const e = by.get(k.name) ?? { ms: 0, calls: 0 };
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      e.calls++;
      by.set(k.name, e);
    }
    profile = [...by].map(([kernel, e]) => ({ kernel, ms: +e.ms.toFixed(2), calls: e.calls })).sort((p, q) => q.ms - p.ms);
  }
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  tf.dispose([xs, ys]);
  optimizer.dispose();
  model.dispose();

  const threadsInfo = choice.name === 'wasm' ? wasmThreadsInfo() : choice.name === 'native' ? { requested: a.threads, actual: loadAddon().info().threads, multithreaded: loadAddon().info().threads > 1 } : undefined;
  const result: Record<string, unknown> = {
    backend: choice.name,
    tfBackend: choice.tfBackend,
    threads: threadsInfo ? (threadsInfo.actual ?? threadsInfo.requested) : a.threads,
    multithreaded: threadsInfo?.multithreaded ?? false,
    model: source,
    batch: a.batch,
    steps: a.steps + 1,
    warmup: a.warmup,
    images_per_s: +imagesPerS.toFixed(1),
    ms_per_step: +((seconds * 1000) / (a.steps + 1)).toFixed(1),
    cpu_ms_per_step: +((cpuSeconds * 1000) / (a.steps + 1)).toFixed(1),
    images_per_cpu_s: +(((a.steps + 1) * a.batch) / cpuSeconds).toFixed(1),
    loadavg_1m: +os.loadavg()[0].toFixed(2),
    max_rss_mb: +maxRssMb.toFixed(1),
    loss_first: +firstLoss.toFixed(4),
    loss_last: +lastLoss.toFixed(4),
  };
  if (threadsInfo?.note) result.threads_note = threadsInfo.note;
  if (a.torch) {
    const t = runTorch(a);
    if ('error' in t) result.torch_error = t.error;
    else {
      result.torch_images_per_s = t.images_per_s;
      result.torch_images_per_cpu_s = t.images_per_cpu_s;
      result.torch_threads = t.threads;
      result.torch_version = t.torch_version;
      result.ratio_eas_over_torch = +(imagesPerS / t.images_per_s).toFixed(3);
      result.ratio_eas_over_torch_cpu_time = +(((a.steps + 1) * a.batch) / cpuSeconds / t.images_per_cpu_s).toFixed(3);
    }
  }
  if (profile) result.profile_one_step = a.json ? profile : undefined;

  if (a.json) {
    console.log(JSON.stringify(result));
    return;
  }
  for (const [k, v] of Object.entries(result)) if (v !== undefined) console.log(`${k.padEnd(22)} ${v}`);
  if (profile) {
    const total = profile.reduce((s, p) => s + p.ms, 0);
    console.log(`\nkernels in one step (tf.profile, ${total.toFixed(1)} ms of kernel time):`);
    for (const p of profile.slice(0, 25)) console.log(`  ${p.kernel.padEnd(24)} ${p.ms.toFixed(2).padStart(8)} ms  ${String(p.calls).padStart(4)} calls  ${((100 * p.ms) / total).toFixed(1).padStart(5)}%`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
