import { type Arch, type InputShape, type Layer, type SearchSpace, validateArch } from '../arch';
import type { Rng } from '../util/rng';

export interface StartNetOptions {
  inputs?: InputShape[];
  maxBlocks?: number;
  maxConvsPerBlock?: number;
  maxFc?: number;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)];

/**
 * A random valid plain CNN inside `space` (for property tests and benchmarks): 1..maxBlocks conv blocks separated by
 * pools, sometimes a final pool, then 0..maxFc fc layers. Widths are drawn from the whole space, including its maximum,
 * so masks get exercised.
 */
export function randomStartNet(rng: Rng, space: SearchSpace, opts: StartNetOptions = {}): Arch {
  const inputs = opts.inputs ?? [
    [32, 32, 3],
    [28, 28, 1],
    [16, 16, 3],
  ];
  for (let attempt = 0; attempt < 100; attempt++) {
    const input = pick(rng, inputs);
    let size = Math.min(input[0], input[1]);
    const layers: Layer[] = [];
    const id = () => `L${layers.length}`;
    const nBlocks = rng.int(1, opts.maxBlocks ?? 4);
    for (let b = 0; b < nBlocks; b++) {
      const convs = rng.int(1, opts.maxConvsPerBlock ?? 3);
      for (let k = 0; k < convs; k++) layers.push({ id: id(), type: 'conv', filters: pick(rng, space.convFilters), kernel: pick(rng, space.convKernels), stride: pick(rng, space.convStrides) });
      const last = b === nBlocks - 1;
      if ((!last || rng.bernoulli(0.5)) && size >= 2) {
        const poolSize = last && rng.bernoulli(0.5) ? size : pick(rng, [2, 3].filter((s) => s <= size));
        const stride = poolSize === size ? poolSize : 2;
        layers.push({ id: id(), type: 'pool', op: rng.bernoulli(0.5) ? 'max' : 'avg', size: poolSize, stride });
        size = Math.ceil(size / stride);
      }
    }
    const nFc = rng.int(0, opts.maxFc ?? 2);
    for (let k = 0; k < nFc; k++) layers.push({ id: id(), type: 'fc', units: pick(rng, space.fcUnits) });
    const arch: Arch = { input: [...input], layers, classes: rng.int(2, 10) };
    try {
      validateArch(arch, space);
      return arch;
    } catch {
      // Try again: e.g. a stride made the map too small for a pool.
    }
  }
  throw new Error('could not generate a valid start network in 100 attempts');
}
