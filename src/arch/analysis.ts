import { ArchError } from './errors';
import { type Arch, type Layer, isWeighted } from './schema';
import type { SearchSpace } from './space';

/** Convs use 'same' padding; pools use 'same' padding too, so a 28×28 input survives the Table-1 net (28→14→7→4→1). */
export const outSize = (size: number, stride: number): number => Math.ceil(size / stride);

export interface LayerShape {
  /** Output [h, w, c] for conv/pool, or [units] for fc. */
  out: number[];
  /** Number of input features seen by this layer (channels for conv/pool, flattened size for fc). */
  inFeatures: number;
}

/** Output shape of every layer, plus the classifier's input size. Throws ArchError on structural problems. */
export function shapes(arch: Arch): { layers: LayerShape[]; classifierIn: number } {
  let [h, w, c] = arch.input;
  let flat: number | undefined;
  const layers: LayerShape[] = [];
  arch.layers.forEach((l, i) => {
    if (l.type === 'fc') {
      const inF = flat ?? h * w * c;
      flat = l.units;
      layers.push({ out: [l.units], inFeatures: inF });
      return;
    }
    if (flat !== undefined) throw new ArchError(i, 'fc-on-top', `${l.type} after a fully-connected layer; fc layers must sit on top of all conv and pool layers`);
    const inC = c;
    if (l.type === 'conv') {
      h = outSize(h, l.stride);
      w = outSize(w, l.stride);
      c = l.filters;
    } else {
      if (l.size > h || l.size > w) throw new ArchError(i, 'pool-window', `pool window ${l.size} is larger than its ${h}×${w} input`);
      h = outSize(h, l.stride);
      w = outSize(w, l.stride);
    }
    if (h < 1 || w < 1) throw new ArchError(i, 'spatial-size', `spatial size fell below 1 (${h}×${w})`);
    layers.push({ out: [h, w, c], inFeatures: inC });
  });
  return { layers, classifierIn: flat ?? h * w * c };
}

/** Check the architecture against the structural rules and the search space; throws ArchError naming the layer. */
export function validateArch(arch: Arch, space?: SearchSpace): void {
  const seen = new Set<string>();
  arch.layers.forEach((l, i) => {
    if (seen.has(l.id)) throw new ArchError(i, 'unique-ids', `layer id "${l.id}" is used twice`);
    seen.add(l.id);
  });
  if (!arch.layers.some((l) => l.type === 'conv')) throw new ArchError(-1, 'has-conv', 'a CNN needs at least one conv layer');
  if (arch.layers[0].type !== 'conv') throw new ArchError(0, 'starts-with-conv', `the first layer must be a conv, got ${arch.layers[0].type}`);
  shapes(arch);
  if (!space) return;
  arch.layers.forEach((l, i) => {
    if (l.type === 'conv') {
      if (!space.convFilters.includes(l.filters)) throw new ArchError(i, 'conv-filters-in-space', `conv filters ${l.filters} not in the search space {${space.convFilters.join(', ')}}`);
      if (!space.convKernels.includes(l.kernel)) throw new ArchError(i, 'conv-kernel-in-space', `conv kernel ${l.kernel} not in the search space {${space.convKernels.join(', ')}}`);
      if (!space.convStrides.includes(l.stride)) throw new ArchError(i, 'conv-stride-in-space', `conv stride ${l.stride} not in the search space {${space.convStrides.join(', ')}}`);
    } else if (l.type === 'fc') {
      if (!space.fcUnits.includes(l.units)) throw new ArchError(i, 'fc-units-in-space', `fc units ${l.units} not in the search space {${space.fcUnits.join(', ')}}`);
    }
  });
}

/** Trainable parameters: conv/fc kernels (no bias: BatchNorm follows), BatchNorm gamma and beta, classifier kernel and bias. */
export function paramCount(arch: Arch): number {
  const { layers, classifierIn } = shapes(arch);
  let n = 0;
  arch.layers.forEach((l, i) => {
    if (l.type === 'conv') n += l.kernel * l.kernel * layers[i].inFeatures * l.filters + 2 * l.filters;
    else if (l.type === 'fc') n += layers[i].inFeatures * l.units + 2 * l.units;
  });
  return n + classifierIn * arch.classes + arch.classes;
}

/** BatchNorm moving statistics, which are weights but not trained. */
export function nonTrainableCount(arch: Arch): number {
  return arch.layers.reduce((n, l) => n + (l.type === 'conv' ? 2 * l.filters : l.type === 'fc' ? 2 * l.units : 0), 0);
}

/**
 * Net2Deeper's unit: the conv blocks between pooling layers, then the fc block.
 * `insertAfter` lists the layer indices after which a new layer may go (the decoder's "position").
 * In a conv block these are its convs; in the fc block the last conv/pool (the final global pooling) and every fc.
 */
export interface Block {
  kind: 'conv' | 'fc';
  insertAfter: number[];
}

export function blocks(arch: Arch): Block[] {
  const out: Block[] = [];
  let current: number[] = [];
  let lastNonFc = -1;
  arch.layers.forEach((l, i) => {
    if (l.type === 'conv') {
      current.push(i);
      lastNonFc = i;
    } else if (l.type === 'pool') {
      if (current.length) out.push({ kind: 'conv', insertAfter: current });
      current = [];
      lastNonFc = i;
    }
  });
  if (current.length) out.push({ kind: 'conv', insertAfter: current });
  const fcs = arch.layers.flatMap((l, i) => (l.type === 'fc' ? [i] : []));
  out.push({ kind: 'fc', insertAfter: [lastNonFc, ...fcs] });
  return out;
}

const layerKey = (l: Layer): string =>
  l.type === 'conv' ? `C(${l.filters},${l.kernel},${l.stride})` : l.type === 'pool' ? `P(${l.size},${l.stride},${l.op.toUpperCase()})` : `FC(${l.units})`;

/** Identity of an architecture regardless of layer ids: used to cache evaluated architectures. */
export function canonicalKey(arch: Arch): string {
  return `${arch.input.join('x')}|${arch.layers.map(layerKey).join(',')}|SM(${arch.classes})`;
}

export { layerKey };

export const depth = (arch: Arch): number => arch.layers.filter(isWeighted).length;
