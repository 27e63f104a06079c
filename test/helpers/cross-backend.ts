/** Shared set-up of the kernel tests that compare a backend (wasm, with the native engine's kernels when loaded) with cpu. */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../src/util/rng';

export type Inputs = Record<string, { shape: number[]; data: Float32Array }>;

/** Uniform values in [-1, 1) from `rng`, as many as `shape` holds. */
export function randomData(rng: Rng, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.float() * 2 - 1;
  return out;
}

/** Random inputs of the given shapes, by name. */
export function randomInputs(rng: Rng, spec: Record<string, number[]>): Inputs {
  const out: Inputs = {};
  for (const [k, shape] of Object.entries(spec)) out[k] = { shape, data: randomData(rng, shape) };
  return out;
}

/** Run `fn` (with fresh tensors from `inputs`) on wasm and on cpu; return both results' data (wasm's first). */
export async function onBoth(inputs: Inputs, fn: (t: Record<string, tf.Tensor>) => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const results: Float32Array[][] = [];
  for (const backend of ['wasm', 'cpu']) {
    assert.ok(await tf.setBackend(backend));
    const outs = tf.tidy(() => {
      const ts: Record<string, tf.Tensor> = {};
      for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.data, v.shape);
      const o = fn(ts);
      return Array.isArray(o) ? o : [o];
    });
    results.push(outs.map((o) => o.dataSync() as Float32Array));
    tf.dispose(outs);
  }
  assert.ok(await tf.setBackend('wasm'));
  return [results[0], results[1]];
}

export type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
export interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number;
  pad: Pad;
}

export function convLabel(c: ConvCase): string {
  return `x=${c.x} f=${c.f} s=${c.stride} pad=${JSON.stringify(c.pad)}`;
}

export function convOutShape(c: ConvCase): number[] {
  return tf.backend_util.computeConv2DInfo(c.x, c.f, c.stride, 1, c.pad).outShape;
}

/** Convolutions both kernel tests check (odd sizes, stride 2, 'same'/'valid'/explicit padding, 1×1 and 5×5); each adds its own. */
export const COMMON_CONV_CASES: ConvCase[] = [
  { x: [4, 8, 8, 3], f: [3, 3, 3, 5], stride: 1, pad: 'same' },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same' },
  { x: [2, 8, 10, 3], f: [3, 3, 3, 2], stride: 2, pad: 'valid' },
  { x: [5, 6, 6, 1], f: [1, 1, 1, 3], stride: 1, pad: 'same' },
  { x: [1, 5, 5, 2], f: [5, 5, 2, 3], stride: 1, pad: 'same' },
  { x: [2, 7, 6, 3], f: [3, 3, 3, 2], stride: 1, pad: [[0, 0], [2, 0], [1, 1], [0, 0]] },
];
