/**
 * Multi-threaded wasm in Node. The backend is process-global, so each case runs in a child process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/** Child: init wasm with EAS_WASM_THREADS, train-style conv/bn/pool gradients, compare with cpu, print JSON. */
const CHILD = `
const tf = require('@tensorflow/tfjs');
const { initBackend } = require('./src/backend');
const { wasmThreadsInfo } = require('./src/backend/wasm');
(async () => {
  await initBackend({ log: () => {} });
  const info = wasmThreadsInfo();
  const x = tf.randomNormal([8, 12, 12, 5], 0, 1, 'float32', 1);
  const f = tf.randomNormal([3, 3, 5, 7], 0, 1, 'float32', 2);
  const w = tf.randomNormal([8, 6, 6, 7], 0, 1, 'float32', 3);
  const gamma = tf.randomNormal([7], 1, 0.1, 'float32', 4);
  const beta = tf.randomNormal([7], 0, 0.1, 'float32', 5);
  const loss = (a, b) => {
    const y = tf.maxPool(tf.relu(tf.conv2d(a, b, 1, 'same')), 2, 2, 'same');
    const { mean, variance } = tf.moments(y, [0, 1, 2]);
    return tf.sum(tf.mul(tf.batchNorm(y, mean, variance, beta, gamma, 1e-3), w));
  };
  const g = tf.grads(loss)([x, f]).map((t) => Array.from(t.dataSync()));
  await tf.setBackend('cpu');
  const c = tf.grads(loss)([x, f]).map((t) => Array.from(t.dataSync()));
  let worst = 0;
  for (let i = 0; i < 2; i++) {
    const scale = Math.max(...c[i].map(Math.abs));
    for (let j = 0; j < c[i].length; j++) worst = Math.max(worst, Math.abs(g[i][j] - c[i][j]) / scale);
  }
  console.log(JSON.stringify({ info, worst }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

function runChild(threads: string | undefined): { info: { requested: number; multithreaded: boolean; actual?: number }; worst: number } {
  const env: NodeJS.ProcessEnv = { ...process.env, EAS_BACKEND: 'wasm' };
  delete env.EAS_WASM_THREADS;
  if (threads !== undefined) env.EAS_WASM_THREADS = threads;
  // the timeout also catches a child that never exits (pthread workers keeping the event loop alive)
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', CHILD], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.error, undefined, `child failed to finish: ${r.error?.message}`);
  assert.equal(r.status, 0, `child exited with ${r.status}: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  assert.ok(line, `no JSON from child: ${r.stdout} ${r.stderr}`);
  return JSON.parse(line);
}

describe('multi-threaded wasm backend in Node', () => {
  it('single thread stays the default', () => {
    const out = runChild(undefined);
    assert.equal(out.info.multithreaded, false);
    assert.ok(out.worst < 1e-4, `gradient mismatch vs cpu: ${out.worst}`);
  });

  it('EAS_WASM_THREADS=2 runs XNNPACK on 2 threads, matches cpu, and the process exits', () => {
    const out = runChild('2');
    assert.equal(out.info.multithreaded, true);
    assert.equal(out.info.actual, 2);
    assert.ok(out.worst < 1e-4, `gradient mismatch vs cpu: ${out.worst}`);
  });

  it('EAS_WASM_THREADS=3 goes past the os.cpus()/2 cap', () => {
    const out = runChild('3');
    assert.equal(out.info.actual, 3);
    assert.ok(out.worst < 1e-4, `gradient mismatch vs cpu: ${out.worst}`);
  });
});
