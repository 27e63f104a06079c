import * as tf from '@tensorflow/tfjs';
import { wasmPreInit, wasmPostInit } from './wasm';
import { nativePostInit, nativePreInit } from './native';

import { BACKEND_ALIASES as ALIASES, BACKENDS, type BackendName } from './names';

export { BACKENDS, BACKEND_ALIASES, BACKEND_CHOICES, type BackendName } from './names';

export interface BackendChoice {
  /** What we loaded, in our terms. */
  name: BackendName;
  /** tf.getBackend() after initialisation. */
  tfBackend: string;
  /** Why this one: requested, or the reasons the better ones were passed over. */
  reason: string;
  threads?: number;
}

export interface BackendOptions {
  /** 'auto' or one of the names/aliases above; defaults to env EAS_BACKEND, then 'auto'. */
  backend?: string;
  /**
   * Threads: oneDNN's OpenMP threads on native (default: all cores), wasm threads on wasm (default 1; needs
   * multi-threaded wasm). Defaults to env EAS_THREADS, then EAS_WASM_THREADS.
   */
  threads?: number;
  log?: (msg: string) => void;
}

type Loader = () => Promise<string>;

/** Hooks for the wasm backend (kernels and threads are registered by the training-engine module). */
export const wasmSetupHooks: Array<(opts: { threads?: number }) => Promise<void> | void> = [wasmPreInit];

const loaders: Record<BackendName, Loader> = {
  'tensorflow-gpu': async () => {
    // The native binding registers the 'tensorflow' backend and uses CUDA when the GPU build is installed.
    require('@tensorflow/tfjs-node-gpu');
    return 'tensorflow';
  },
  tensorflow: async () => {
    require('@tensorflow/tfjs-node');
    return 'tensorflow';
  },
  // the wasm backend with oneDNN kernels registered on it (src/backend/native)
  native: async () => {
    require('@tensorflow/tfjs-backend-wasm');
    return 'wasm';
  },
  wasm: async () => {
    require('@tensorflow/tfjs-backend-wasm');
    return 'wasm';
  },
  cpu: async () => 'cpu',
};

let chosen: BackendChoice | undefined;
let pending: Promise<BackendChoice> | undefined;

export function normaliseBackendName(raw: string): BackendName | 'auto' {
  const key = raw.trim().toLowerCase();
  if (key === 'auto' || key === '') return 'auto';
  const name = ALIASES[key];
  if (!name) throw new Error(`unknown backend "${raw}"; expected auto, ${Object.keys(ALIASES).join(', ')}`);
  return name;
}

async function tryLoad(name: BackendName, threads: number | undefined): Promise<string> {
  // native: the addon must load first (that is where it fails when not built); the wasm part stays single-threaded
  if (name === 'native') nativePreInit({ threads });
  if (name === 'wasm' || name === 'native') for (const hook of wasmSetupHooks) await hook({ threads: name === 'native' ? undefined : threads });
  const tfName = await loaders[name]();
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') returned false`);
  await tf.ready();
  if (tfName === 'wasm') wasmPostInit();
  if (name === 'native') nativePostInit();
  return tfName;
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0].slice(0, 160);
}

/**
 * Pick and initialise the best available tfjs backend: tfjs-node-gpu › tfjs-node › native › wasm › cpu,
 * or the one requested (config or EAS_BACKEND). Idempotent: later calls return the first choice.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendChoice> {
  if (chosen) return chosen;
  if (pending) return pending;
  pending = (async () => {
    // Production mode: no debug checks, and no console banner urging tfjs-node on every process (we say what we chose).
    tf.env().set('PROD', true);
    const log = opts.log ?? ((m: string) => console.error(m));
    const requested = normaliseBackendName(opts.backend ?? process.env.EAS_BACKEND ?? 'auto');
    const envThreads = process.env.EAS_THREADS || process.env.EAS_WASM_THREADS;
    const threadsEnv = envThreads ? Number(envThreads) : undefined;
    if (threadsEnv !== undefined && !(Number.isInteger(threadsEnv) && threadsEnv > 0)) throw new Error(`EAS_THREADS must be a positive integer, got "${envThreads}"`);
    const threads = opts.threads ?? threadsEnv;
    if (requested !== 'auto') {
      try {
        const tfBackend = await tryLoad(requested, threads);
        chosen = { name: requested, tfBackend, reason: 'requested', threads };
      } catch (err) {
        throw new Error(`backend "${requested}" was requested but could not be loaded: ${firstLine(err)}`, { cause: err });
      }
    } else {
      const skipped: string[] = [];
      for (const name of BACKENDS) {
        try {
          const tfBackend = await tryLoad(name, threads);
          chosen = { name, tfBackend, reason: skipped.length ? `best available (${skipped.join('; ')})` : 'best available', threads };
          break;
        } catch (err) {
          skipped.push(`${name}: ${firstLine(err)}`);
        }
      }
      if (!chosen) throw new Error(`no tfjs backend could be loaded: ${skipped.join('; ')}`);
    }
    log(`[eas] tfjs backend: ${chosen.name} (${chosen.reason})`);
    return chosen;
  })();
  try {
    return await pending;
  } finally {
    pending = undefined;
  }
}

export function currentBackend(): BackendChoice | undefined {
  return chosen;
}
