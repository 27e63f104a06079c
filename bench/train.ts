/**
 * Training throughput benchmark (not a test).
 *
 *   npm run bench:train -- [--net "<notation>"] [--input HxWxC] [--backend X] [--threads N] [--json] [--steps S]
 *                          [--warmup W] [--batch B] [--profile] [--no-torch] [--no-peak] [--vs-threads N [--rounds R]]
 *
 * Trains any network of either space — a plain net in the paper's notation (default: the Table-1 start net on
 * 32×32×3) or a DenseNet-BC (`C(16,3), D(8*6), T(32), D(8*6), T(40), D(8*6), SM(10)`) — on random inputs, batch 64,
 * with the paper's optimizer: SGD with Nesterov momentum 0.9, lr 0.02, L2 weight decay 1e-4 on conv/fc kernels,
 * softmax cross-entropy. On the native engine a DenseNet trains through the native dense-block kernels and a plain net
 * through the one-call native step (src/backend/native/dense-block.ts, plain-step.ts; EAS_NATIVE_PLAIN_STEP=0: the
 * per-op path), as `eas train` does. After a few warm-up steps it prints steady-state images/s,
 * GFLOP/s from the architecture's FLOP count (3 × the forward pass's conv and fc multiply-adds × 2 per image),
 * peak RSS, and the practical peak measured in the same run: the best of a 2048² sgemm through oneDNN (this process,
 * the same threads) and through PyTorch's BLAS (Debian's OpenBLAS when libopenblas0-pthread is installed), with
 * fraction_of_peak. With PyTorch available (/usr/bin/python3 -c "import torch") it times the same network, generated
 * from the same architecture (bench/torch_train.py, torch.set_num_threads = --threads), and prints the ratio
 * eas/PyTorch. The PyTorch process runs without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (tests and CI keep them; on
 * this Zen 5 machine the Haswell override halves sgemm). --profile prints the kernels that take the most time.
 * --vs-threads N (native) times the same training again in the same process on N engine threads: the two thread counts
 * take turns in R rounds (default 8) of --steps steps each, and the median ratio of the rounds is the speed-up, with
 * each round's ratio beside it (the host's load drifts; a ratio within one round is what survives it).
 * EAS_NATIVE_PROFILE=1 adds the native engine's CPU time per step by section (native_cpu_ms_per_step).
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { wasmThreadsInfo } from '../src/backend/wasm';
import { addonError, loadAddon, nativePlainStep, nativeTrainingForward, nativeMomentumStep, nativeStepAvailable } from '../src/backend/native';
import { parseNotation, TABLE1_START } from '../src/arch';
import type { Arch } from '../src/arch';
import { denseShapes } from '../src/densenet/analysis';
import { buildDenseModel } from '../src/densenet/model';
import { isDenseNotation, parseDenseNotation } from '../src/densenet/notation';
import type { DenseNet } from '../src/densenet/schema';
import { initDenseWeights } from '../src/densenet/weights';
import { Rng } from '../src/util/rng';

interface Args {
  net: string;
  input?: [number, number, number];
  vsThreads?: number;
  peak: boolean;
  backend?: string;
  threads: number;
  json: boolean;
  steps: number;
  warmup: number;
  batch: number;
  profile: boolean;
  torch: boolean;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { net: TABLE1_START, peak: true, threads: 1, json: false, steps: 20, warmup: 3, batch: 64, profile: false, torch: true, rounds: 8 };
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
    if (k === '--net') a.net = next();
    else if (k === '--input') {
      const v = next();
      const m = /^(\d+)[x×,](\d+)[x×,](\d+)$/.exec(v);
      if (!m) throw new Error(`--input: expected HxWxC (e.g. 28x28x1), got ${v}`);
      a.input = [Number(m[1]), Number(m[2]), Number(m[3])];
    } else if (k === '--no-peak') a.peak = false;
    else if (k === '--vs-threads') a.vsThreads = Math.max(1, int(next()));
    else if (k === '--rounds') a.rounds = Math.max(1, int(next()));
    else if (k === '--backend') a.backend = next();
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
const DEFAULT_INPUT: [number, number, number] = [32, 32, 3];

type Net = { kind: 'plain'; arch: Arch } | { kind: 'densenet'; arch: DenseNet };

function parseNet(a: Args): Net {
  const input = a.input ?? DEFAULT_INPUT;
  return isDenseNotation(a.net) ? { kind: 'densenet', arch: parseDenseNotation(a.net, input) } : { kind: 'plain', arch: parseNotation(a.net, input) };
}

/** Training FLOPs per image: 3 × (2 × the forward pass's conv and fc multiply-adds): forward, input and weight gradients. */
export function trainingFlopsPerImage(net: Net): number {
  let macs = 0;
  if (net.kind === 'plain') {
    let [h, w, c] = net.arch.input;
    let flat: number | undefined;
    for (const l of net.arch.layers) {
      if (l.type === 'conv') {
        h = Math.ceil(h / l.stride);
        w = Math.ceil(w / l.stride);
        macs += h * w * l.kernel * l.kernel * c * l.filters;
        c = l.filters;
      } else if (l.type === 'pool') {
        h = Math.ceil(h / l.stride);
        w = Math.ceil(w / l.stride);
      } else {
        macs += (flat ?? h * w * c) * l.units;
        flat = l.units;
      }
    }
    macs += (flat ?? h * w * c) * net.arch.classes;
  } else {
    const d = net.arch;
    let [h, w] = d.input;
    macs += h * w * d.stem.kernel * d.stem.kernel * d.input[2] * d.stem.filters;
    const s = denseShapes(d);
    d.blocks.forEach((b, bi) => {
      b.layers.forEach((l, li) => {
        macs += h * w * (s.blocks[bi].layerIn[li] * l.bottleneck + 9 * l.bottleneck * l.growth);
      });
      if (b.transition !== undefined) {
        macs += h * w * s.blocks[bi].outChannels * b.transition;
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
    });
    macs += s.classifierIn * d.classes;
  }
  return 3 * 2 * macs;
}

/** The network, initialised: src/nn's plain model or src/densenet's DenseNet-BC. */
function buildNet(net: Net): { model: tf.LayersModel; source: string } {
  if (net.kind === 'densenet') return { model: buildDenseModel(net.arch, initDenseWeights(net.arch, Rng.fromSeed(1))), source: 'src/densenet buildDenseModel' };
  const nn = require('../src/nn') as typeof import('../src/nn');
  return { model: nn.buildModel(net.arch, nn.initWeights(net.arch, Rng.fromSeed(1))), source: 'src/nn buildModel' };
}

interface TorchResult {
  images_per_s: number;
  images_per_cpu_s: number;
  threads: number;
  torch_version: string;
  max_rss_mb: number;
  params: number;
  blas_sgemm_gflops: number | null;
  blas_sgemm_gflops_per_cpu_s: number | null;
  blas: string;
}

function runTorch(a: Args, net: Net): TorchResult | { error: string } {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return { error: 'PyTorch not available (/usr/bin/python3 -c "import torch" failed)' };
  const script = path.join(__dirname, 'torch_train.py');
  // this command only: no OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE override (OpenBLAS then picks this CPU's own kernels)
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  // OpenBLAS's own pthreads are not torch.set_num_threads's: pin them too, so that its sgemm (the peak) and PyTorch's
  // BLAS calls run on --threads threads like everything else
  env.OPENBLAS_NUM_THREADS = String(a.threads);
  const args = [script, '--threads', String(a.threads), '--steps', String(a.steps), '--warmup', String(a.warmup), '--batch', String(a.batch), '--arch', JSON.stringify(net.arch)];
  if (!a.peak) args.push('--peak-n', '0');
  const r = spawnSync('/usr/bin/python3', args, { encoding: 'utf8', maxBuffer: 1 << 20, env });
  if (r.status !== 0) return { error: `torch_train.py failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}` };
  const last = r.stdout.trim().split('\n').slice(-1)[0];
  return JSON.parse(last) as TorchResult;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const choice = await initBackend({ backend: a.backend, threads: a.threads, log: a.json ? () => {} : undefined });
  const net = parseNet(a);
  const INPUT = net.arch.input;
  const CLASSES = net.arch.classes;
  const { model, source } = buildNet(net);
  const trainableParams = model.trainableWeights.reduce((sum, w) => sum + (w.shape as number[]).reduce((p, d) => p * d, 1), 0);
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
  // on the native engine: the fused native training forward pass (dense blocks, BN+ReLU), as `eas train` does
  const denseForward = choice.name === 'native' ? nativeTrainingForward(model, net.arch) : null;
  const forward = denseForward ?? ((x: tf.Tensor) => model.apply(x, { training: true }) as tf.Tensor);
  const stepNative = (readLoss: boolean) => {
    const cost = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(ys, forward(xs)) as tf.Scalar, allVars);
      nativeMomentumStep(optimizer, stepVars, grads, WEIGHT_DECAY);
      return value;
    });
    if (readLoss) lastLoss = cost.dataSync()[0];
    cost.dispose();
  };
  // a plain net on the native engine: the whole step in one native call, as `eas train` does (EAS_NATIVE_PLAIN_STEP=0: off)
  const plainStep = nativeStep ? nativePlainStep(model, net.arch, a.batch) : null;
  const labelsI32 = Int32Array.from(labels);
  plainStep?.load(optimizer, stepVars);
  const step = (readLoss: boolean) => {
    if (plainStep) {
      const r = plainStep.step(optimizer, xData, labelsI32, LR, WEIGHT_DECAY);
      if (readLoss) lastLoss = r.loss;
      return;
    }
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
  const nativeProfile = process.env.EAS_NATIVE_PROFILE && choice.name === 'native';
  if (nativeProfile) loadAddon().profile(); // reset
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
  const profileNative = nativeProfile ? Object.fromEntries(Object.entries(loadAddon().profile()).map(([k, v]) => [k, +(v / (a.steps + 1)).toFixed(2)])) : undefined;

  // --vs-threads N (native): the same training, same process, right after, on N engine threads — the thread scaling
  // as a ratio measured within one command. The host is shared and its load drifts over seconds, so the two counts
  // take turns in --rounds short blocks (A B, then B A, …) and each round gives one ratio; the median of the rounds is
  // the figure, with their range beside it.
  let vsThreads: { threads: number; images_per_s: number; images_per_cpu_s: number; speedup: number; rounds: number[] } | undefined;
  if (a.vsThreads !== undefined && choice.name === 'native') {
    const addon = loadAddon();
    const steps = a.steps;
    const timeSteps = (threads: number) => {
      addon.setThreads(threads);
      step(false);
      const t1 = process.hrtime.bigint();
      const c1 = process.cpuUsage();
      for (let i = 0; i < steps - 1; i++) step(false);
      step(true);
      const c = process.cpuUsage(c1);
      return { s: Number(process.hrtime.bigint() - t1) / 1e9, cpu: (c.user + c.system) / 1e6 };
    };
    const rounds: Array<{ main: number; other: number; otherCpu: number }> = [];
    for (let r = 0; r < a.rounds; r++) {
      const first = r % 2 === 0 ? timeSteps(a.threads) : timeSteps(a.vsThreads);
      const second = r % 2 === 0 ? timeSteps(a.vsThreads) : timeSteps(a.threads);
      const [main, other] = r % 2 === 0 ? [first, second] : [second, first];
      rounds.push({ main: main.s, other: other.s, otherCpu: other.cpu });
    }
    addon.setThreads(a.threads);
    const median = (xs: number[]) => {
      const v = [...xs].sort((p, q) => p - q);
      return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    };
    const imgs = steps * a.batch;
    vsThreads = {
      threads: a.vsThreads,
      images_per_s: +(imgs / median(rounds.map((r) => r.other))).toFixed(1),
      images_per_cpu_s: +(imgs / median(rounds.map((r) => r.otherCpu))).toFixed(1),
      speedup: +median(rounds.map((r) => r.main / r.other)).toFixed(3),
      rounds: rounds.map((r) => +(r.main / r.other).toFixed(3)),
    };
  }

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
  plainStep?.dispose();
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  tf.dispose([xs, ys]);
  optimizer.dispose();
  model.dispose();
  // the practical peak through oneDNN's sgemm on the same threads, after the RSS reading (its 48 MB are not the net's)
  let onednnPeak: number | undefined;
  let onednnPeakCpu: number | undefined;
  let peakError: string | undefined;
  if (a.peak) {
    const why = addonError();
    if (why) peakError = why;
    else {
      const addon = loadAddon();
      const threadsBefore = addon.info().threads;
      addon.setThreads(a.threads);
      const pk = addon.sgemmPeak(2048, 5);
      onednnPeak = pk.wall;
      onednnPeakCpu = pk.cpu;
      addon.setThreads(threadsBefore);
    }
  }
  const flops = trainingFlopsPerImage(net);

  const threadsInfo = choice.name === 'wasm' ? wasmThreadsInfo() : choice.name === 'native' ? { requested: a.threads, actual: loadAddon().info().threads, multithreaded: loadAddon().info().threads > 1 } : undefined;
  const result: Record<string, unknown> = {
    backend: choice.name,
    tfBackend: choice.tfBackend,
    threads: threadsInfo ? (threadsInfo.actual ?? threadsInfo.requested) : a.threads,
    multithreaded: threadsInfo?.multithreaded ?? false,
    model: source,
    net: a.net,
    input: INPUT.join('x'),
    params: trainableParams,
    mflop_per_image: +(flops / 1e6).toFixed(2),
    batch: a.batch,
    steps: a.steps + 1,
    warmup: a.warmup,
    images_per_s: +imagesPerS.toFixed(1),
    gflops: +((imagesPerS * flops) / 1e9).toFixed(2),
    ms_per_step: +((seconds * 1000) / (a.steps + 1)).toFixed(1),
    cpu_ms_per_step: +((cpuSeconds * 1000) / (a.steps + 1)).toFixed(1),
    images_per_cpu_s: +(((a.steps + 1) * a.batch) / cpuSeconds).toFixed(1),
    loadavg_1m: +os.loadavg()[0].toFixed(2),
    max_rss_mb: +maxRssMb.toFixed(1),
    loss_first: +firstLoss.toFixed(4),
    loss_last: +lastLoss.toFixed(4),
  };
  if (threadsInfo?.note) result.threads_note = threadsInfo.note;
  if (plainStep) result.native_forward = 'whole step in one native call';
  else if (denseForward) result.native_forward = net.kind === 'densenet' ? 'native dense blocks + fused BN-ReLU' : 'fused BN-ReLU';
  if (profileNative) result.native_cpu_ms_per_step = profileNative;
  if (vsThreads) {
    result[`images_per_s_${vsThreads.threads}_threads`] = vsThreads.images_per_s;
    result[`images_per_cpu_s_${vsThreads.threads}_threads`] = vsThreads.images_per_cpu_s;
    result[`speedup_${vsThreads.threads}_over_${a.threads}_threads`] = vsThreads.speedup;
    result[`speedup_${vsThreads.threads}_over_${a.threads}_threads_rounds`] = vsThreads.rounds;
  }
  const peaks: number[] = [];
  const cpuPeaks: number[] = [];
  if (onednnPeak !== undefined) {
    result.onednn_sgemm_gflops = +onednnPeak.toFixed(1);
    peaks.push(onednnPeak);
  }
  if (onednnPeakCpu !== undefined) {
    // the same by CPU time: what this process did per CPU-second it got (compare when other load shares the cores)
    result.gflops_per_cpu_s = +((((a.steps + 1) * a.batch) / cpuSeconds) * flops / 1e9).toFixed(2);
    result.onednn_sgemm_gflops_per_cpu_s = +onednnPeakCpu.toFixed(1);
    cpuPeaks.push(onednnPeakCpu);
  }
  if (peakError) result.onednn_sgemm_error = peakError;
  if (a.torch) {
    const t = runTorch(a, net);
    if ('error' in t) result.torch_error = t.error;
    else {
      if (t.blas_sgemm_gflops) {
        result.blas_sgemm_gflops = t.blas_sgemm_gflops;
        peaks.push(t.blas_sgemm_gflops);
      }
      if (t.blas_sgemm_gflops_per_cpu_s) {
        result.blas_sgemm_gflops_per_cpu_s = t.blas_sgemm_gflops_per_cpu_s;
        cpuPeaks.push(t.blas_sgemm_gflops_per_cpu_s);
      }
      result.blas = t.blas;
      result.torch_params = t.params;
      result.torch_max_rss_mb = t.max_rss_mb;
      result.torch_images_per_s = t.images_per_s;
      result.torch_images_per_cpu_s = t.images_per_cpu_s;
      result.torch_threads = t.threads;
      result.torch_version = t.torch_version;
      result.ratio_eas_over_torch = +(imagesPerS / t.images_per_s).toFixed(3);
      result.ratio_eas_over_torch_cpu_time = +(((a.steps + 1) * a.batch) / cpuSeconds / t.images_per_cpu_s).toFixed(3);
    }
  }
  if (peaks.length > 0) {
    const peak = Math.max(...peaks);
    result.peak_gflops = +peak.toFixed(1);
    result.fraction_of_peak = +((imagesPerS * flops) / 1e9 / peak).toFixed(3);
  }
  if (cpuPeaks.length > 0) {
    result.peak_gflops_per_cpu_s = +Math.max(...cpuPeaks).toFixed(1);
    result.fraction_of_peak_cpu_time = +(((((a.steps + 1) * a.batch) / cpuSeconds) * flops) / 1e9 / Math.max(...cpuPeaks)).toFixed(3);
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
