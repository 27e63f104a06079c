import { type Action, type Arch, type SearchSpace, applyActionToArch, deeperPositionMask, validateArch, widenable } from '../arch';
import { Rng, deriveSeed } from '../util/rng';
import type { ControllerConfig } from './config';
import type { Decision, Sample } from './types';

/** Valid Net2Deeper choices on one architecture, limited to what the policy's heads can express. */
export interface DeeperMasks {
  blockMask: boolean[];
  /** Per block, per position. */
  positionMasks: boolean[][];
  /** Over the space's convKernels (a new conv may take any of them). */
  kernelMask: boolean[];
}

export interface DeeperChoice {
  block: number;
  position: number;
  /** Index into space.convKernels; null for the fc block. */
  kernelIndex: number | null;
}

/** Makes the per-step decisions for a batch of networks; the driver records them and applies the actions. */
export interface Chooser {
  /** For each network, which layers to widen (only where masks[i][j]). */
  widen(archs: readonly Arch[], masks: readonly boolean[][], rngs: readonly Rng[]): boolean[][];
  deepen(archs: readonly Arch[], masks: readonly DeeperMasks[], rngs: readonly Rng[]): DeeperChoice[];
}

/** Blocks with no valid position are invalid; blocks and positions beyond the heads' sizes cannot be chosen. */
export function deeperMasks(arch: Arch, space: SearchSpace, maxBlocks = Infinity, maxPositions = Infinity): DeeperMasks {
  const positionMasks = deeperPositionMask(arch, space).map((row, b) => row.map((ok, p) => ok && b < maxBlocks && p < maxPositions));
  const blockMask = positionMasks.map((row) => row.some(Boolean));
  if (!blockMask.some(Boolean)) throw new Error('no valid Net2Deeper choice on this network (no block has a valid position within the policy heads)');
  return { blockMask, positionMasks, kernelMask: space.convKernels.map(() => true) };
}

/** Draw an index with probability proportional to `probs`, restricted to `mask`; uniform if they give no mass. */
export function drawMasked(rng: Rng, probs: ArrayLike<number> | null, mask: readonly boolean[]): number {
  const w = mask.map((ok, i) => (ok ? (probs ? Math.max(0, probs[i]) : 1) : 0));
  if (!w.some((x) => x > 0)) return rng.categorical(mask.map((ok) => (ok ? 1 : 0)));
  return rng.categorical(w);
}

function startCheck(start: Arch, n: number, space: SearchSpace): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`number of samples must be a positive integer, got ${n}`);
  try {
    validateArch(start, space);
  } catch (err) {
    throw new Error(`start network is not valid in the search space: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Sample n networks from `start`: widerSteps Net2Wider steps, then deeperSteps Net2Deeper steps, each on the current
 * (arch-level) network, recording every decision with its mask and the arch it was taken on. Network i draws from its
 * own stream deriveSeed(seed, 'sample', i), so it does not depend on n.
 */
export function sampleWith(chooser: Chooser, start: Arch, n: number, seed: number, config: ControllerConfig, space: SearchSpace, heads?: { maxBlocks: number; maxPositions: number }): Sample[] {
  startCheck(start, n, space);
  const rngs = Array.from({ length: n }, (_, i) => Rng.fromSeed(deriveSeed(seed, 'sample', i)));
  const archs: Arch[] = Array.from({ length: n }, () => start);
  const actions: Action[][] = archs.map(() => []);
  const decisions: Decision[][] = archs.map(() => []);
  for (let step = 0; step < config.widerSteps; step++) {
    const masks = archs.map((a) => widenable(a, space));
    const widen = chooser.widen(archs, masks, rngs);
    archs.forEach((arch, i) => {
      const w = masks[i].map((ok, j) => ok && widen[i][j] === true);
      const action: Action = { type: 'wider', layers: arch.layers.filter((_, j) => w[j]).map((l) => l.id) };
      decisions[i].push({ type: 'wider', arch, mask: masks[i], widen: w });
      actions[i].push(action);
      archs[i] = applyActionToArch(arch, action, space);
    });
  }
  for (let step = 0; step < config.deeperSteps; step++) {
    const masks = archs.map((a) => deeperMasks(a, space, heads?.maxBlocks, heads?.maxPositions));
    const choices = chooser.deepen(archs, masks, rngs);
    archs.forEach((arch, i) => {
      const { block, position, kernelIndex } = choices[i];
      const m = masks[i];
      if (!m.blockMask[block] || !m.positionMasks[block][position]) throw new Error(`chooser picked an invalid Net2Deeper choice (block ${block}, position ${position})`);
      const conv = kernelIndex !== null;
      const action: Action = conv ? { type: 'deeper', block, position, kernel: space.convKernels[kernelIndex] } : { type: 'deeper', block, position };
      decisions[i].push({ type: 'deeper', arch, blockMask: m.blockMask, block, positionMask: m.positionMasks[block], position, kernelMask: conv ? m.kernelMask : null, kernelIndex });
      actions[i].push(action);
      archs[i] = applyActionToArch(arch, action, space);
    });
  }
  return archs.map((arch, i) => ({ actions: actions[i], arch, decisions: decisions[i] }));
}

/** Whether a block of `blocks(arch)` takes a kernel size: the last block is the fc block. */
export const isConvBlock = (masks: DeeperMasks, block: number): boolean => block < masks.blockMask.length - 1;
