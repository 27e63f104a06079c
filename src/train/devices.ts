import * as os from 'node:os';

/**
 * The training devices of this worker: one trainer process per device at a time. A trainer child is pinned to its
 * device through CUDA_VISIBLE_DEVICES, so each GPU runs exactly one training (the "one process per GPU").
 */
export class DevicePool {
  private readonly free: string[];
  private readonly waiters: Array<(d: string) => void> = [];

  constructor(readonly devices: readonly string[]) {
    if (devices.length === 0) throw new Error('a training worker needs at least one device');
    this.free = [...devices];
  }

  async acquire(): Promise<string> {
    const d = this.free.shift();
    if (d !== undefined) return d;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(d: string): void {
    const next = this.waiters.shift();
    if (next) next(d);
    else this.free.push(d);
  }
}

/** "0,1,3" → ['0','1','3']; a number n → ['0'..'n-1']; default EAS_DEVICES, else one device ('cpu' when none is named). */
export function parseDevices(spec: string | number | undefined = process.env.EAS_DEVICES): string[] {
  if (spec === undefined || spec === '') return ['cpu'];
  if (typeof spec === 'number' || /^\d+$/.test(spec)) {
    const n = Number(spec);
    if (!Number.isInteger(n) || n < 1) throw new Error(`devices: expected a positive count or a list like "0,1", got "${spec}"`);
    return Array.from({ length: n }, (_, i) => String(i));
  }
  const list = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (!list.length) throw new Error(`devices: expected a positive count or a list like "0,1", got "${spec}"`);
  return list;
}

/**
 * Environment for a trainer child on `device`: GPU ids pin CUDA; 'cpu' leaves CUDA alone. With several device slots
 * on this host and no EAS_THREADS given, each trainer gets its share of the cores (the native engine's threads), so
 * concurrent trainings do not oversubscribe the CPU.
 */
export function deviceEnv(device: string, slots = 1): Record<string, string> {
  const env: Record<string, string> = device === 'cpu' ? {} : { CUDA_VISIBLE_DEVICES: device };
  if (slots > 1 && !process.env.EAS_THREADS) env.EAS_THREADS = String(Math.max(1, Math.floor(os.availableParallelism() / slots)));
  return env;
}
