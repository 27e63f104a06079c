/**
 * The native (oneDNN) engine: every native kernel compared with the cpu backend on random inputs (kernels 1/3/5,
 * strides 1–3, same/valid/explicit padding, batch 1 and odd sizes), gradients included; the one-call optimizer step
 * against tfjs's MomentumOptimizer; no tensor, backend-data or native-buffer growth per step.
 *
 * Where the addon is not built (no libdnnl-dev / compiler: `npm ci` skips the build), the other half runs instead:
 * the fallback is tested — a clear error when native is requested, and auto selection passing to wasm with the reason.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { addonError, loadAddon, nativeMomentumStep, nativeStepAvailable, NATIVE_KERNEL_NAMES } from '../src/backend/native';
import { remapMiddleAxis, remapMiddleAxisJs } from '../src/transform/wider';
import { Rng } from '../src/util/rng';
import { deviceEnv } from '../src/train/devices';
import { assertClose, assertNoLeak } from './helpers/tf';
import { COMMON_CONV_CASES, type ConvCase, convLabel, convOutShape, onBoth, randomData, randomInputs } from './helpers/cross-backend';

const rng = Rng.fromSeed(4242);
const missing = addonError();
const ROOT = path.resolve(__dirname, '..');

const CONV_CASES: ConvCase[] = [
  ...COMMON_CONV_CASES,
  { x: [1, 7, 9, 2], f: [3, 3, 2, 4], stride: 1, pad: 'valid' },
  { x: [3, 11, 6, 3], f: [5, 5, 3, 2], stride: 3, pad: 'same' },
  { x: [1, 13, 11, 2], f: [5, 5, 2, 3], stride: 3, pad: 'valid' },
  { x: [3, 7, 5, 4], f: [1, 1, 4, 6], stride: 2, pad: 'valid' },
  { x: [2, 9, 9, 3], f: [5, 5, 3, 17], stride: 2, pad: 'same' },
  { x: [2, 16, 16, 16], f: [3, 3, 16, 32], stride: 1, pad: 'same' },
];

if (missing) {
  describe('native engine absent (addon not built)', () => {
    it('says why and how to get it', () => {
      assert.match(missing, /libdnnl-dev/);
    });

    it('EAS_BACKEND=native fails with that reason; auto falls back to wasm and logs why native was skipped', () => {
      const script = "const b=require('./src/backend');b.initBackend({log:(m)=>console.log(m)}).then(()=>{},(e)=>{console.log('ERR '+e.message);process.exit(3)})";
      const forced = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, env: { ...process.env, EAS_BACKEND: 'native' }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(forced.status, 3, forced.stderr);
      assert.match(forced.stdout, /backend "native" was requested but could not be loaded: native addon .* is missing/);
      const auto = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, env: { ...process.env, EAS_BACKEND: 'auto' }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(auto.status, 0, auto.stderr);
      assert.match(auto.stdout, /tfjs backend: (wasm|tensorflow).*native: native addon/);
    });
  });
} else {
  describe('native engine kernels vs cpu', () => {
    before(async () => {
      const choice = await initBackend({ backend: 'native', threads: 2, log: () => {} });
      assert.equal(choice.name, 'native');
    });

    it('registers its kernels on wasm and reports oneDNN and threads', () => {
      for (const name of NATIVE_KERNEL_NAMES) assert.ok(tf.getKernel(name, 'wasm'), name);
      const info = loadAddon().info();
      assert.match(info.onednn, /^\d+\.\d+/);
      assert.equal(info.threads, 2);
      assert.ok(nativeStepAvailable());
    });

    for (const c of CONV_CASES) {
      it(`conv2d forward and gradients match cpu: ${convLabel(c)}`, async () => {
        const o = convOutShape(c);
        const ins = randomInputs(rng, { x: c.x, f: c.f, w: o });
        const [n, cpu] = await onBoth(ins, (t) => {
          const fwd = tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, c.stride, c.pad);
          const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), t.w)))([t.x, t.f]);
          return [fwd, dx, df];
        });
        assertClose(n[0], cpu[0], `y ${convLabel(c)}`);
        assertClose(n[1], cpu[1], `dx ${convLabel(c)}`);
        assertClose(n[2], cpu[2], `dW ${convLabel(c)}`);
      });
    }

    it('fused conv2d (bias + relu/linear/relu6/elu/sigmoid/leakyrelu) and its gradients match cpu', async () => {
      const c: ConvCase = { x: [3, 9, 7, 3], f: [3, 3, 3, 5], stride: 1, pad: 'same' };
      for (const activation of ['relu', 'linear', 'relu6', 'elu', 'sigmoid', 'leakyrelu'] as const) {
        const ins = randomInputs(rng, { x: c.x, f: c.f, b: [5], w: convOutShape(c) });
        const [n, cpu] = await onBoth(ins, (t) => {
          const conv = (a: tf.Tensor, f: tf.Tensor, b: tf.Tensor) =>
            tf.fused.conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides: c.stride, pad: c.pad as 'same', bias: b, activation, leakyreluAlpha: 0.1 });
          return [conv(t.x, t.f, t.b), ...tf.grads((a: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, f, b), t.w)))([t.x, t.f, t.b])];
        });
        for (let i = 0; i < 4; i++) assertClose(n[i], cpu[i], `fused ${activation} output ${i}`);
      }
    });

    it('add/sub/mul/div with a per-channel operand on either side match cpu (other broadcasts fall back)', async () => {
      const cases: Array<[number[], number[]]> = [
        [[4, 5, 3, 6], [6]],
        [[6], [4, 5, 3, 6]],
        [[3, 7], [1, 7]],
        [[2, 3, 5, 1], [1, 1, 1, 1]],
        [[4, 5], [3, 1, 5]],
        [[4, 5], [4, 5]],
        [[4, 5, 3], [5, 1]],
        [[4, 5], []],
        [[], [4, 5]],
        [[1], [3, 2]],
        [[40, 30, 50], [50]],
        [[40, 30, 50], [40, 30, 50]],
        [[40, 30, 50], [1]],
      ];
      for (const [as, bs] of cases) {
        const ins = randomInputs(rng, { a: as, b: bs });
        ins.b.data = ins.b.data.map((v) => v + Math.sign(v) * 0.5); // keep divisors away from 0
        const [n, cpu] = await onBoth(ins, (t) => [tf.add(t.a, t.b), tf.sub(t.a, t.b), tf.mul(t.a, t.b), tf.div(t.a, t.b)]);
        ['add', 'sub', 'mul', 'div'].forEach((op, i) => assertClose(n[i], cpu[i], `${op} ${as} ${bs}`));
      }
    });

    it('relu, step (relu gradient), square, and sum/mean over leading and other axes match cpu (NaN kept)', async () => {
      const ins = randomInputs(rng, { x: [3, 5, 4, 7] });
      ins.x.data[3] = NaN;
      ins.x.data[4] = 0;
      const [n, cpu] = await onBoth(ins, (t) => [tf.relu(t.x), tf.step(t.x, 0.25), tf.square(t.x), tf.grad((x: tf.Tensor) => tf.sum(tf.relu(x)))(t.x)]);
      ['relu', 'step', 'square', 'relu grad'].forEach((what, i) => assert.deepEqual(Array.from(n[i]), Array.from(cpu[i]), what));
      const big = randomInputs(rng, { x: [9, 17, 13, 40] }); // above the threshold where the loops use several threads
      const cases: Array<[number | number[], boolean]> = [[[0, 1, 2], false], [[0, 1, 2], true], [0, false], [[0, 1], true], [[1, 2], false], [3, false], [[0, 3], true], [-1, true]];
      for (const data of [ins, big]) {
        for (const [axis, keepDims] of cases) {
          const [nr, cr] = await onBoth({ x: data.x.data.some(Number.isNaN) ? { ...data.x, data: data.x.data.map((v) => (Number.isNaN(v) ? 0 : v)) } : data.x }, (t) => [tf.sum(t.x, axis, keepDims), tf.mean(t.x, axis, keepDims)]);
          assertClose(nr[0], cr[0], `sum ${axis} ${keepDims}`);
          assertClose(nr[1], cr[1], `mean ${axis} ${keepDims}`);
        }
      }
    });

    it('tf.moments over the leading axes runs as one native kernel; values and gradients match cpu', async () => {
      const prof = await tf.profile(() => {
        const x = tf.ones([2, 3, 4, 5]);
        const { mean, variance } = tf.moments(x, [0, 1, 2]);
        tf.dispose([x, mean, variance]);
      });
      const names = prof.kernels.map((k) => k.name);
      assert.ok(names.includes('EasMoments'), names.join());
      for (const stock of ['Mean', 'Sub', 'Square', 'Sum']) assert.ok(!names.includes(stock), `${stock} in ${names.join()}`);
      for (const [shape, axes] of [
        [[4, 5, 3, 6], [0, 1, 2]],
        [[37, 9], [0]],
        [[9, 17, 13, 40], [2, 1, 0]],
        [[3, 4, 5, 6], [1, 2]],
        [[3, 4, 5, 6], [0, 1, 2, 3]],
      ] as const) {
        const c = shape[shape.length - 1];
        const ins = randomInputs(rng, { x: [...shape], wm: [c], wv: [c] });
        ins.x.data = ins.x.data.map((v) => 50 + 3 * v);
        const [n, cpu] = await onBoth(ins, (t) => {
          const m = tf.moments(t.x, [...axes]);
          const g = tf.grad((x: tf.Tensor) => {
            const mm = tf.moments(x, [...axes]);
            return tf.add(tf.sum(tf.mul(mm.mean, axes.length === shape.length - 1 ? t.wm : 1)), tf.sum(tf.mul(mm.variance, axes.length === shape.length - 1 ? t.wv : 1)));
          })(t.x);
          return [m.mean, m.variance, g];
        });
        ['mean', 'variance', 'dx'].forEach((what, i) => assertClose(n[i], cpu[i], `moments ${what} ${shape} ${axes}`, 2e-4));
      }
    });

    it('batch norm forward (with and without scale/offset, large means) and its training gradients match cpu', async () => {
      for (const shape of [[4, 5, 3, 6], [3, 7], [2, 3, 5, 1]]) {
        const c = shape[shape.length - 1];
        const ins = randomInputs(rng, { x: shape, gamma: [c], beta: [c], w: shape, mean: [c], variance: [c] });
        ins.x.data = ins.x.data.map((v) => 100 + v);
        ins.mean.data = ins.mean.data.map((v) => 100 + v);
        ins.variance.data = ins.variance.data.map((v) => Math.abs(v) + 0.1);
        const axes = [...Array(shape.length - 1).keys()];
        const [n, cpu] = await onBoth(ins, (t) => [
          tf.batchNorm(t.x, t.mean, t.variance, t.beta, t.gamma, 1e-3),
          tf.batchNorm(t.x, t.mean, t.variance, undefined, undefined, 1e-5),
          ...tf.grads((x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
            const { mean, variance } = tf.moments(x, axes);
            return tf.sum(tf.mul(tf.batchNorm(x, mean, variance, beta, gamma, 1e-3), t.w));
          })([t.x, t.gamma, t.beta]),
        ]);
        ['y', 'y (no scale/offset)', 'dx', 'dgamma', 'dbeta'].forEach((what, i) => assertClose(n[i], cpu[i], `bn ${what} ${shape}`, 2e-4));
      }
    });

    it('a dilated conv2d matches cpu', async () => {
      const ins = randomInputs(rng, { x: [2, 11, 9, 3], f: [3, 3, 3, 4] });
      const [n, cpu] = await onBoth(ins, (t) => tf.conv2d(t.x as tf.Tensor4D, t.f as tf.Tensor4D, 1, 'same', 'NHWC', 2));
      assertClose(n[0], cpu[0], 'dilated conv');
    });

    it('max-pool and avg-pool gradients match cpu (odd sizes, strides 1–4, valid/same, batch 1)', async () => {
      for (const [k, s, pad, shape] of [
        [2, 2, 'same', [2, 7, 9, 3]],
        [3, 2, 'valid', [1, 7, 9, 3]],
        [3, 2, 'same', [2, 7, 9, 5]],
        [2, 1, 'same', [1, 5, 6, 2]],
        [4, 4, 'same', [3, 4, 4, 8]],
        [3, 3, 'valid', [2, 10, 8, 3]],
      ] as const) {
        const ins = randomInputs(rng, { x: [...shape] });
        const o = tf.backend_util.computePool2DInfo([...shape] as [number, number, number, number], k, s, 1, pad).outShape;
        ins.w = { shape: o, data: randomData(rng, o) };
        const [n, cpu] = await onBoth(ins, (t) => [
          tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, k, s, pad), t.w)))(t.x),
          tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(x as tf.Tensor4D, k, s, pad), t.w)))(t.x),
        ]);
        assertClose(n[0], cpu[0], `maxPool grad k=${k} s=${s} ${pad}`);
        assertClose(n[1], cpu[1], `avgPool grad k=${k} s=${s} ${pad}`);
      }
    });

    it('max-pool gradient: ties go to the first maximum, padding excluded, -Infinity/NaN windows get none', async () => {
      const x = { shape: [1, 3, 3, 1], data: Float32Array.from([0.07, -1.05, -0.43, 2.33, -0.91, -0.5, -0.04, -0.93, -0.93]) };
      const [n, cpu] = await onBoth({ x }, (t) => tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'same')))(t.x));
      assert.deepEqual(Array.from(cpu[0]), [0, 0, 1, 1, 0, 0, 1, 0, 1]);
      assert.deepEqual(Array.from(n[0]), Array.from(cpu[0]));
      const ins = randomInputs(rng, { x: [3, 6, 8, 5], w: [3, 3, 4, 5] });
      for (let i = 0; i < ins.x.data.length; i++) ins.x.data[i] = Math.round(ins.x.data[i] * 2) / 2;
      for (const i of [0, 5, 40, 45]) ins.x.data[i] = -Infinity;
      ins.x.data[11] = NaN;
      const [n2, cpu2] = await onBoth(ins, (t) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid'), t.w)))(t.x));
      assert.deepEqual(Array.from(n2[0]), Array.from(cpu2[0]));
    });

    it('the one-call SGD-Nesterov + weight-decay step gives bitwise the same weights and momenta as tfjs', async () => {
      const shapes = [[3, 3, 2, 4], [4], [7, 5], [5]];
      const init = shapes.map((s) => randomData(rng, s));
      const gradsData = [0, 1, 2].map(() => shapes.map((s) => randomData(rng, s)));
      const decayMask = [true, false, true, false];
      const wd = 1e-3;
      const run = async (native: boolean) => {
        const vars = init.map((d, i) => tf.variable(tf.tensor(d, shapes[i]), true, `sgdtest${native ? 'n' : 't'}${i}`));
        const opt = tf.train.momentum(0.05, 0.9, true);
        const decay = tf.scalar(wd);
        for (const [k, step] of gradsData.entries()) {
          opt.setLearningRate(0.05 / (k + 1));
          tf.tidy(() => {
            const grads: tf.NamedTensorMap = {};
            vars.forEach((v, i) => (grads[v.name] = tf.tensor(step[i], shapes[i])));
            if (native) nativeMomentumStep(opt, vars.map((v, i) => ({ variable: v, decay: decayMask[i] })), grads, wd);
            else opt.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: decayMask[i] ? tf.add(grads[v.name], tf.mul(decay, v)) : grads[v.name] })));
          });
        }
        const [iter, ...acc] = await opt.getWeights();
        const out = { iterations: (await iter.tensor.data())[0], vars: vars.map((v) => Array.from(v.dataSync())), acc: acc.map((a) => Array.from(a.tensor.dataSync())) };
        iter.tensor.dispose();
        tf.dispose([...vars, decay]);
        opt.dispose();
        return out;
      };
      const tfjs = await run(false);
      const native = await run(true);
      assert.equal(native.iterations, 3);
      assert.deepEqual(native, tfjs);
    });

    it('a training step leaks no tensors, no backend data and no native buffers', async () => {
      const x = tf.tensor(randomData(rng, [4, 12, 12, 3]), [4, 12, 12, 3]) as tf.Tensor4D;
      const f1 = tf.variable(tf.tensor4d(randomData(rng, [3, 3, 3, 8]), [3, 3, 3, 8]), true, 'leak_f1');
      const f2 = tf.variable(tf.tensor4d(randomData(rng, [5, 5, 8, 4]), [5, 5, 8, 4]), true, 'leak_f2');
      const opt = tf.train.momentum(0.01, 0.9, true);
      const vars = [f1, f2].map((v) => ({ variable: v, decay: true }));
      const step = () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(() => {
            const h = tf.maxPool(tf.relu(tf.conv2d(x, f1, 1, 'same')), 2, 2, 'same');
            return tf.sum(tf.avgPool(tf.conv2d(h, f2, 2, 'valid'), 2, 1, 'same'));
          }, [f1, f2]);
          nativeMomentumStep(opt, vars, grads, 1e-4);
        });
      step(); // first step creates the optimizer's accumulators and the cached primitives
      const addon = loadAddon();
      const infoBefore = addon.info();
      const ids = tf.backend().numDataIds();
      await assertNoLeak(() => {
        for (let i = 0; i < 5; i++) step();
      });
      assert.equal(tf.backend().numDataIds(), ids);
      const infoAfter = addon.info();
      assert.equal(infoAfter.liveBuffers, infoBefore.liveBuffers);
      assert.equal(infoAfter.liveBytes, infoBefore.liveBytes);
      assert.equal(infoAfter.cachedPrimitives, infoBefore.cachedPrimitives);
      tf.dispose([x, f1, f2]);
      opt.dispose();
    });

    it("Net2Wider's remap: the addon's values are the JavaScript loop's, bit for bit", () => {
      const addon = loadAddon();
      const shapes: [number, number, number][] = [[9, 16, 32], [25, 7, 1], [1, 64, 10], [4, 3, 100], [0, 5, 3]];
      for (const [outer, mid, inner] of shapes) {
        const src = randomData(rng, [outer * mid * inner]);
        const newMid = mid + 5;
        const map = Int32Array.from({ length: newMid }, (_, j) => (j < mid ? j : Math.floor(rng.float() * mid)));
        const scale = Float32Array.from({ length: newMid }, (_, j) => (j % 3 ? 1 : rng.float()));
        for (const sc of [undefined, scale]) {
          const expected = remapMiddleAxisJs(src, outer, mid, inner, map, sc);
          const out = new Float32Array(outer * newMid * inner);
          addon.remapMiddle(src, out, outer, mid, inner, map, sc ?? null);
          assert.ok(Buffer.from(out.buffer).equals(Buffer.from(expected.buffer)), `[${outer}, ${mid}, ${inner}] ${sc ? 'scaled' : 'copied'}`);
          assert.ok(Buffer.from(remapMiddleAxis(src, outer, mid, inner, map, sc).buffer).equals(Buffer.from(expected.buffer)));
        }
      }
      assert.throws(() => addon.remapMiddle(new Float32Array(6), new Float32Array(6), 2, 3, 1, Int32Array.from([0, 3, 1]), null), /map\[1\] = 3 is outside 0..2/);
      assert.throws(() => addon.remapMiddle(new Float32Array(5), new Float32Array(6), 2, 3, 1, Int32Array.from([0, 1, 2]), null), /src: Float32Array has 5 elements, need 6/);
    });

    it("a convolution's primitive is made for the thread count it runs on; a small one stays on one thread", () => {
      const addon = loadAddon();
      const r = Rng.fromSeed(0x2424);
      const conv = (n: number, h: number, cin: number, cout: number) => {
        const geom = Int32Array.from([n, h, h, cin, h, h, cout, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1]);
        const x = Float32Array.from({ length: n * h * h * cin }, () => r.float() - 0.5);
        const w = Float32Array.from({ length: 9 * cin * cout }, () => r.float() - 0.5);
        return (threads: number) => {
          addon.setThreads(threads);
          const y = new Float32Array(n * h * h * cout);
          addon.conv2d(x, w, null, y, geom, 0, 0);
          return { y, primitives: addon.info().cachedPrimitives };
        };
      };
      try {
        // 8·32·32·16·32·9 = 37.7 M multiply-adds: split over the threads, so a primitive per thread count (oneDNN fixes
        // a primitive's thread count when it is made: reusing the one-thread primitive kept two threads on one)
        const large = conv(8, 32, 16, 32);
        const one = large(1);
        assert.equal(large(1).primitives, one.primitives, 'the same thread count reuses its primitive');
        const two = large(2);
        assert.equal(two.primitives, one.primitives + 1, 'two threads get their own primitive');
        assertClose(two.y, one.y, 'two threads compute what one does', 1e-5);
        assert.equal(large(1).primitives, two.primitives);
        // 2·8·8·8·8·9 = 74 k multiply-adds: one thread whatever the count (a fork and join would cost more)
        const small = conv(2, 8, 8, 8);
        const s1 = small(1);
        const s2 = small(2);
        assert.equal(s2.primitives, s1.primitives, 'a small convolution reuses its one-thread primitive on two threads');
        assert.deepEqual(s2.y, s1.y);
      } finally {
        addon.setThreads(1);
      }
    });

    it('bad arguments to the addon are clear errors, not crashes', () => {
      const addon = loadAddon();
      assert.throws(() => addon.conv2d(new Float32Array(4), new Float32Array(4), null, new Float32Array(4), new Int32Array(3), 0, 0), /params: expected an Int32Array of 17/);
      const geom = Int32Array.from([1, 4, 4, 1, 4, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1]);
      assert.throws(() => addon.conv2d(new Float32Array(3), new Float32Array(9), null, new Float32Array(16), geom, 0, 0), /x: Float32Array has 3 elements, need 16/);
      assert.throws(() => addon.setThreads(0), /threads must be ≥ 1/);
    });
  });
}

describe('native engine threads per device slot', () => {
  it('several trainer slots on a host share its cores unless EAS_THREADS is set', () => {
    const saved = process.env.EAS_THREADS;
    try {
      delete process.env.EAS_THREADS;
      const cores = os.availableParallelism();
      assert.deepEqual(deviceEnv('cpu'), {});
      assert.deepEqual(deviceEnv('1', 2), { CUDA_VISIBLE_DEVICES: '1', EAS_THREADS: String(Math.max(1, Math.floor(cores / 2))) });
      assert.equal(deviceEnv('0', 4 * cores).EAS_THREADS, '1');
      process.env.EAS_THREADS = '3';
      assert.deepEqual(deviceEnv('0', 2), { CUDA_VISIBLE_DEVICES: '0' });
    } finally {
      if (saved === undefined) delete process.env.EAS_THREADS;
      else process.env.EAS_THREADS = saved;
    }
  });
});
