/**
 * Training support for the tfjs wasm backend: kernels missing from or slow in @tensorflow/tfjs-backend-wasm
 * 4.22, and multi-threaded wasm in Node. Wired into src/backend/index.ts via `wasmPreInit` (a
 * wasmSetupHook, before tf.setBackend('wasm')) and `wasmPostInit` (after the backend is set).
 */
import { installWasmKernels } from './kernels';
import { installWasmGradients } from './gradients';
import { configureWasmThreads, restoreThreadPatches } from './threads';

export { installWasmKernels, WASM_KERNEL_NAMES, wasmKernelsInstalled } from './kernels';
export { installWasmGradients, WASM_GRADIENT_NAMES } from './gradients';
export { configureWasmThreads, restoreThreadPatches, wasmThreadsInfo, type WasmThreadsInfo } from './threads';

/** Before the wasm backend initialises: threads (only when more than one is asked for). */
export async function wasmPreInit(opts: { threads?: number }): Promise<void> {
  await configureWasmThreads(opts.threads);
}

/** After tf.setBackend('wasm') succeeded: register our kernels and gradients. */
export function wasmPostInit(): void {
  restoreThreadPatches();
  installWasmKernels();
  installWasmGradients();
}
