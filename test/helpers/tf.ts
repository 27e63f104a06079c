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
