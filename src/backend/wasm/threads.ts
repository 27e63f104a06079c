/**
 * Multi-threaded tfjs wasm backend (4.22) in Node.
 *
 * What stock 4.22 does in Node:
 * - flag WASM_HAS_MULTITHREAD_SUPPORT returns false whenever IS_NODE (tfjs issue #3830), so the
 *   single-thread SIMD binary is loaded. We set the flag to true.
 * - with the flag, init() loads tfjs-backend-wasm-threaded-simd.wasm and gives Emscripten two Blobs:
 *   the pthread worker script (locateFile('….worker.js') returns URL.createObjectURL(blob)) and the main
 *   script (Module.mainScriptUrlOrBlob = Blob("var WasmBackendModuleThreadedSimd = " + factory)).
 *   Node's worker_threads.Worker accepts only file paths or file:/data: URLs, and the worker script
 *   loads the main script with fs.readFileSync — so both Blobs fail in Node. We capture the two Blob
 *   texts while the backend initialises, write them to files, and give Emscripten a Worker class (it
 *   assigns globalThis.Worker = worker_threads.Worker; we intercept that assignment) that maps the
 *   blob: URL to the worker file and the Blob in the 'load' message to the main-script file. The factory
 *   text refers to the bundle's module-level `require$$N`/`commonjsGlobal`, so the main-script file
 *   defines them first.
 * - thread count: backend.cc computes num_cores = emscripten_num_logical_cores() / 2 in a static
 *   initialiser (emscripten_num_logical_cores() is os.cpus().length in Node), and
 *   init_with_threads_count(n) uses min(max(n,1), 8, num_cores). setThreadsCount(n) alone therefore gives
 *   ONE thread on a 2-core machine. We make os.cpus() report 2·n entries while the module initialises
 *   (restored by restoreThreadPatches(), called once the backend is up) and call setThreadsCount(n).
 *   Emscripten pre-spawns a pool of 8 workers (PTHREAD_POOL_SIZE), so n ≤ 8.
 *
 * Single-thread (threads undefined or ≤ 1) changes nothing and stays the default.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

export interface WasmThreadsInfo {
  /** What was asked for (1 when nothing was). */
  requested: number;
  /** True when the threaded SIMD binary was set up. */
  multithreaded: boolean;
  /** Threads XNNPACK reports after initialisation (getThreadsCount), when known. */
  actual?: number;
  note?: string;
}

let info: WasmThreadsInfo = { requested: 1, multithreaded: false };

const MAIN_MARK = 'var WasmBackendModuleThreadedSimd = ';
const WORKER_MARK = 'WasmBackendModuleThreadedSimd(Module)';

function cacheDir(): string {
  let version = 'unknown';
  try {
    version = (require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string }).version;
  } catch {
    /* version only names the cache folder */
  }
  const dir = path.join(os.tmpdir(), `eas-tfjs-wasm-${version}-${process.getuid?.() ?? 'u'}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function writeAtomic(file: string, text: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) return;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

let patched = false;
const files: { main?: string; worker?: string } = {};

function blobText(parts: unknown): string | undefined {
  if (!Array.isArray(parts) || !parts.every((p) => typeof p === 'string')) return undefined;
  return (parts as string[]).join('');
}

/** Capture the two Blobs the wasm backend creates, and route Emscripten's Worker to files. */
function installNodePatches(): void {
  if (patched) return;
  patched = true;
  const dir = cacheDir();
  const g = globalThis as unknown as Record<string, unknown>;

  const OrigBlob = g.Blob as typeof import('node:buffer').Blob;
  type Parts = ConstructorParameters<typeof OrigBlob>[0];
  type Options = ConstructorParameters<typeof OrigBlob>[1];
  class CapturingBlob extends OrigBlob {
    constructor(parts?: Parts, options?: Options) {
      super(parts ?? [], options);
      const text = blobText(parts);
      if (text === undefined) return;
      if (text.startsWith(MAIN_MARK)) {
        const preamble =
          "var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), require$$4 = require('os');\n" +
          'var commonjsGlobal = globalThis;\n';
        files.main = path.join(dir, 'tfjs-backend-wasm-threaded-simd.main.cjs');
        writeAtomic(files.main, preamble + text);
      } else if (text.includes(WORKER_MARK) && text.includes('worker_threads')) {
        files.worker = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
        writeAtomic(files.worker, text);
      }
      if (files.main && files.worker) g.Blob = OrigBlob;
    }
  }
  g.Blob = CapturingBlob;

  const wrap = (Base: typeof import('node:worker_threads').Worker) => {
    if ((Base as unknown as { __easWrapped?: boolean }).__easWrapped) return Base;
    class EasWasmWorker extends Base {
      static __easWrapped = true;
      constructor(file: string | URL, options?: import('node:worker_threads').WorkerOptions) {
        const isBlob = typeof file === 'string' ? file.startsWith('blob:') : file.protocol === 'blob:';
        if (isBlob && !files.worker) throw new Error('wasm threads: pthread worker script was not captured');
        super(isBlob ? (files.worker as string) : file, options);
        // Emscripten ref()s a worker while its pthread runs, and XNNPACK's pool threads run (wait) forever:
        // the process would never exit. The main thread blocks while they work, so they need no ref.
        super.unref();
      }
      override ref(): void {
        /* see above: pthread workers never keep the process alive */
      }
      override postMessage(value: unknown, transferList?: readonly import('node:worker_threads').TransferListItem[]): void {
        const msg = value as { cmd?: string; urlOrBlob?: unknown } | null;
        if (msg && msg.cmd === 'load' && typeof msg.urlOrBlob !== 'string') {
          if (!files.main) throw new Error('wasm threads: main script was not captured');
          value = { ...msg, urlOrBlob: files.main };
        }
        super.postMessage(value, transferList);
      }
    }
    return EasWasmWorker;
  };
  let current: unknown = g.Worker ? wrap(g.Worker as typeof import('node:worker_threads').Worker) : undefined;
  Object.defineProperty(globalThis, 'Worker', {
    configurable: true,
    enumerable: false,
    get: () => current,
    set: (v: unknown) => {
      current = typeof v === 'function' ? wrap(v as typeof import('node:worker_threads').Worker) : v;
    },
  });
}

let restoreCpus: (() => void) | undefined;

/** Make os.cpus() report `count` CPUs until restoreThreadPatches() (backend.cc halves it, see above). */
function patchCpuCount(count: number): void {
  if (restoreCpus) return;
  const osMod = require('node:os') as typeof os;
  const orig = osMod.cpus;
  osMod.cpus = () => {
    const real = orig.call(osMod);
    if (real.length >= count || real.length === 0) return real;
    return Array.from({ length: count }, (_, i) => real[i % real.length]);
  };
  restoreCpus = () => {
    osMod.cpus = orig;
    restoreCpus = undefined;
  };
}

/** Undo the temporary os.cpus() patch (call after the wasm backend initialised; idempotent). */
export function restoreThreadPatches(): void {
  restoreCpus?.();
}

/**
 * Set up the wasm backend for `threads` threads before it initialises (call before tf.setBackend('wasm')).
 * threads undefined/≤1: single-threaded SIMD binary (the default, nothing patched).
 */
export async function configureWasmThreads(threads?: number): Promise<WasmThreadsInfo> {
  const n = threads === undefined || !Number.isFinite(threads) ? 1 : Math.max(1, Math.floor(threads));
  if (n <= 1) {
    info = { requested: 1, multithreaded: false };
    return info;
  }
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
    info = { requested: n, multithreaded: false, note: 'no wasm SIMD: the threaded binary needs SIMD; single-threaded' };
    return info;
  }
  if (typeof SharedArrayBuffer === 'undefined') {
    info = { requested: n, multithreaded: false, note: 'no SharedArrayBuffer; single-threaded' };
    return info;
  }
  installNodePatches();
  patchCpuCount(2 * n);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(n);
  info = { requested: n, multithreaded: true };
  return info;
}

/** Threads setup, with XNNPACK's actual thread count once the backend is up. */
export function wasmThreadsInfo(): WasmThreadsInfo {
  if (info.multithreaded && info.actual === undefined) {
    try {
      const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
      info = { ...info, actual: wasm.getThreadsCount() };
    } catch {
      /* not initialised yet */
    }
  }
  return info;
}
