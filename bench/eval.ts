/**
 * Evaluation throughput of a DenseNet on the native engine: images per second of evaluateAccuracy (batch 256) through
 * the Layers model (`model.apply(x, { training: false })`, tfjs ops) and through the native inference forward pass
 * (nativeInferenceForward: one native call per dense block), at 1 and 2 engine threads, alternated in rounds (median
 * per configuration), and whether the two give the same accuracy.
 *
 *   npm run bench:eval -- [--net "<notation>"] [--images 2048] [--rounds 3]
 *
 * EAS_BENCH_PROFILE_SHAPES=1 adds tf.profile's per-kernel milliseconds for one batch of each path.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { loadAddon, nativeInferenceForward } from '../src/backend/native';
import { buildDenseModel } from '../src/densenet/model';
import { parseDenseNotation } from '../src/densenet/notation';
import { initDenseWeights } from '../src/densenet/weights';
import { evaluateAccuracy } from '../src/train/loop';
import { Rng } from '../src/util/rng';

const { values } = parseArgs({
  options: {
    net: { type: 'string', default: 'C(16,3), D(8*6), T(32), D(8*6), T(40), D(8*6), SM(10)' },
    images: { type: 'string', default: '2048' },
    rounds: { type: 'string', default: '3' },
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  await initBackend({ backend: 'native', threads: 1, log: () => {} });
  const shape: [number, number, number] = [28, 28, 1];
  const size = shape[0] * shape[1] * shape[2];
  const net = parseDenseNotation(values.net, shape);
  const model = buildDenseModel(net, initDenseWeights(net, Rng.fromSeed(1)));
  const native = nativeInferenceForward(model, net);
  if (!native) throw new Error('the native inference forward pass is unavailable (addon not built, or EAS_NATIVE_DENSE=0)');
  const N = Number(values.images);
  const rng = Rng.fromSeed(7);
  const xs = new Float32Array(N * size).map(() => rng.float());
  const ys = Int32Array.from({ length: N }, () => Math.floor(rng.float() * 10));
  const split = {
    count: N,
    shape,
    classes: 10,
    epochOrder: () => new Int32Array(0),
    makeBatch: (idx: ArrayLike<number>) => {
      const n = idx.length;
      const x = new Float32Array(n * size);
      for (let i = 0; i < n; i++) x.set(xs.subarray(idx[i] * size, (idx[i] + 1) * size), i * size);
      return { x, y: Int32Array.from({ length: n }, (_, i) => ys[idx[i]]), shape: [n, ...shape] as [number, number, number, number] };
    },
  };
  const paths = { layers: undefined, native } as const;
  const rates = new Map<string, number[]>();
  const accs = new Map<string, number>();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const t of [1, 2]) {
      loadAddon().setThreads(t);
      for (const [name, forward] of Object.entries(paths)) {
        evaluateAccuracy(model, { ...split, count: 256 }, 256, forward); // warm-up (primitive creation)
        if (round === 0 && process.env.EAS_BENCH_PROFILE_SHAPES) {
          const info = await tf.profile(() => {
            evaluateAccuracy(model, { ...split, count: 256 }, 256, forward);
          });
          const by = new Map<string, number>();
          for (const k of info.kernels) by.set(k.name, (by.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
          const top = [...by].sort((p, q) => q[1] - p[1]).slice(0, 8);
          console.log(`profile ${name} threads ${t}: ${top.map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}`);
        }
        const t0 = performance.now();
        accs.set(`${name} threads ${t}`, evaluateAccuracy(model, split, 256, forward));
        const key = `${name} threads ${t}`;
        rates.set(key, [...(rates.get(key) ?? []), N / ((performance.now() - t0) / 1000)]);
      }
    }
  }
  for (const [key, r] of rates) console.log(`${key}: ${median(r).toFixed(0)} img/s eval (median of ${r.length}: ${r.map((v) => v.toFixed(0)).join(', ')}), accuracy ${accs.get(key)}`);
  const distinct = new Set(accs.values());
  console.log(distinct.size === 1 ? 'same accuracy on every path and thread count' : `accuracies DIFFER: ${[...distinct].join(', ')}`);
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
