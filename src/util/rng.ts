import prand from 'pure-rand';

/**
 * Seeded random source with a serialisable state, so that anything random (remappings, data splits,
 * augmentation, policy sampling) can be reproduced from a seed and resumed from a checkpoint.
 */
export class Rng {
  private gen: prand.RandomGenerator;

  private constructor(gen: prand.RandomGenerator) {
    this.gen = gen;
  }

  static fromSeed(seed: number): Rng {
    if (!Number.isFinite(seed)) throw new Error(`rng seed must be a finite number, got ${seed}`);
    return new Rng(prand.xoroshiro128plus(Math.trunc(seed) | 0));
  }

  static fromState(state: readonly number[]): Rng {
    return new Rng(prand.xoroshiro128plus.fromState(state));
  }

  state(): number[] {
    const s = this.gen.getState?.();
    if (!s) throw new Error('rng state is not serialisable');
    return [...s];
  }

  /** Integer uniform in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return prand.unsafeUniformIntDistribution(lo, hi, this.gen);
  }

  /** Float uniform in [0, 1) with 53 bits. */
  float(): number {
    const hi = prand.unsafeUniformIntDistribution(0, (1 << 26) - 1, this.gen);
    const lo = prand.unsafeUniformIntDistribution(0, (1 << 27) - 1, this.gen);
    return (hi * 134217728 + lo) / 9007199254740992;
  }

  /** Standard normal via Box-Muller. */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /**
   * `n` standard normal draws for bulk noise (symmetry breaking on whole kernels, millions of values per transform):
   * each is an entry of a fixed table of 65,536 normal draws, picked by 16 bits of one generator step (two per step).
   * normal() spends four bounded-int draws and a log, sqrt and cos per value, which made the noise on a few
   * 5×5×192×192 identity kernels cost more than the transformation's forward passes. The table's spread matches
   * N(0, 1) to a fraction of a percent, plenty for noise at 1e-3 of a kernel's scale.
   */
  normals(n: number): Float64Array {
    const out = new Float64Array(n);
    this.addNormals(out, 1);
    return out;
  }

  /** data[i] += sigma · z_i with the normals() draws, without allocating them (identity kernels are millions of taps). */
  addNormals(data: Float32Array | Float64Array, sigma: number): void {
    const table = normalTable();
    const n = data.length;
    for (let i = 0; i < n; i += 2) {
      const r = this.gen.unsafeNext() >>> 0;
      data[i] += sigma * table[r & 0xffff];
      if (i + 1 < n) data[i + 1] += sigma * table[r >>> 16];
    }
  }

  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Index sampled from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    if (!(total > 0)) throw new Error('categorical: weights must have a positive sum');
    let r = this.float() * total;
    let last = -1;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] <= 0) continue;
      last = i;
      r -= weights[i];
      if (r < 0) return i;
    }
    return last;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T extends { length: number; [i: number]: unknown }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** A child generator whose stream is independent of later draws on this one. */
  fork(): Rng {
    return Rng.fromSeed(this.int(-0x80000000, 0x7fffffff));
  }
}

let NORMAL_TABLE: Float64Array | undefined;

/** 65,536 N(0, 1) draws from a fixed seed (Box-Muller), made once per process. */
function normalTable(): Float64Array {
  if (!NORMAL_TABLE) {
    const rng = Rng.fromSeed(0x5eed);
    NORMAL_TABLE = new Float64Array(65536);
    for (let i = 0; i < NORMAL_TABLE.length; i++) NORMAL_TABLE[i] = rng.normal();
  }
  return NORMAL_TABLE;
}

export { deriveSeed } from './seed';
