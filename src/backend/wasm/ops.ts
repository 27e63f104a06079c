/**
 * Calling the wasm backend's own kernels from inside our kernels, so data stays in wasm memory.
 *
 * Every replacement kernel keeps a reference to the ORIGINAL kernel it replaces (captured before it is
 * unregistered), so the replacement can fall back to it and so that building blocks (Conv2D, Transpose,
 * ...) always run the stock implementation.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type WasmBackend = BackendWasm;
type Info = tf.TensorInfo;

const originals = new Map<string, tf.KernelConfig>();

/** The stock wasm kernel for `name` (as registered before we replaced anything). */
export function originalKernel(name: string): tf.KernelConfig {
  const saved = originals.get(name);
  if (saved) return saved;
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm backend has no kernel ${name}`);
  return k;
}

/** Remember the stock kernel before it is replaced (idempotent). */
export function rememberOriginal(name: string): tf.KernelConfig | undefined {
  if (!originals.has(name)) {
    const k = tf.getKernel(name, 'wasm');
    if (k) originals.set(name, k);
  }
  return originals.get(name);
}

export function run(backend: WasmBackend, name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): Info {
  const out = originalKernel(name).kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`kernel ${name} returned several outputs`);
  return out;
}

export function transpose(backend: WasmBackend, x: Info, perm: number[]): Info {
  return run(backend, 'Transpose', { x }, { perm });
}

export function slice(backend: WasmBackend, x: Info, begin: number[], size: number[]): Info {
  return run(backend, 'Slice', { x }, { begin, size });
}

export function conv2d(
  backend: WasmBackend,
  x: Info,
  filter: Info,
  pad: [[number, number], [number, number], [number, number], [number, number]],
  dilations: [number, number] = [1, 1],
): Info {
  return run(backend, 'Conv2D', { x, filter }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations, dimRoundingMode: undefined as unknown as string });
}

export function reshape(backend: WasmBackend, x: Info, shape: number[]): Info {
  return run(backend, 'Reshape', { x }, { shape });
}

export function dispose(backend: WasmBackend, ...infos: Info[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** A kernel's named input, which must be present. */
export function input(inputs: tf.NamedTensorInfoMap, name: string): Info {
  const t = inputs[name];
  if (!t) throw new Error(`kernel input "${name}" is missing`);
  return t;
}
