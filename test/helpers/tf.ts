import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend';

/** Initialise the backend tests run on: EAS_TEST_BACKEND, else the best available (wasm here). */
export async function setupBackend(): Promise<void> {
  await initBackend({ backend: process.env.EAS_TEST_BACKEND ?? process.env.EAS_BACKEND ?? 'auto', log: () => {} });
}

/** Run `fn` and assert that it leaves no tensors behind. */
export async function assertNoLeak<T>(fn: () => Promise<T> | T): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`tensor leak: ${after - before} tensors (before ${before}, after ${after})`);
  return out;
}

/**
 * |actual − expected| ≤ rtol · max(max|expected|, 1e-3) + 1e-6 elementwise (rtol relative to the output's scale), naming
 * the worst element.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  const tol = rtol * Math.max(scale, 1e-3) + 1e-6;
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} at ${at} (got ${actual[at]}, want ${expected[at]}), tol ${tol}`);
}
