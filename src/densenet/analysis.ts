import type { InputShape } from '../arch/schema';
import { type DenseLayer, type DenseNet, DenseNetError, DenseNetSchema } from './schema';

const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;
/** Ids of the fixed parts; dense layer ids must not collide with them (they name tfjs layers and weights). */
const RESERVED = /^(stem|T\d+|final|classifier|input)$/;

export interface DenseShapes {
  stem: { out: [number, number, number] };
  /** Per block: its input [h, w, c], the input channels of each of its layers, its output channels. */
  blocks: { input: [number, number, number]; layerIn: number[]; outChannels: number; transitionOut?: [number, number, number] }[];
  /** Channels entering the classifier's BN. */
  classifierIn: number;
}

/** Shapes of every part; throws DenseNetError on structural problems. */
export function denseShapes(net: DenseNet): DenseShapes {
  let [h, w] = net.input;
  if (net.stem.kernel % 2 === 0) throw new DenseNetError('stem', 'odd-kernel', `kernel ${net.stem.kernel} must be odd`);
  let c = net.stem.filters;
  const stem = { out: [h, w, c] as [number, number, number] };
  const blocks: DenseShapes['blocks'] = [];
  net.blocks.forEach((b, bi) => {
    const input: [number, number, number] = [h, w, c];
    const layerIn: number[] = [];
    for (const l of b.layers) {
      layerIn.push(c);
      c += l.growth;
    }
    const outChannels = c;
    const last = bi === net.blocks.length - 1;
    if (last && b.transition !== undefined) throw new DenseNetError(`block ${bi + 1}`, 'last-block-no-transition', 'the last block is followed by the classifier, not a transition');
    if (!last && b.transition === undefined) throw new DenseNetError(`block ${bi + 1}`, 'transition-between-blocks', 'every block but the last needs a transition (its output channels)');
    let transitionOut: [number, number, number] | undefined;
    if (!last) {
      if (h < 2 || w < 2) throw new DenseNetError(`transition ${bi + 1}`, 'spatial-size', `its 2×2 average pool needs at least 2×2 input, got ${h}×${w}`);
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
      c = b.transition!;
      transitionOut = [h, w, c];
    }
    blocks.push({ input, layerIn, outChannels, transitionOut });
  });
  return { stem, blocks, classifierIn: c };
}

/** Schema, ids and shapes; the space's growth rates are not enforced (start nets such as k = 12 lie below them). */
export function validateDenseNet(raw: unknown): DenseNet {
  const parsed = DenseNetSchema.safeParse(raw);
  if (!parsed.success) throw new DenseNetError('network', 'schema', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  const net = parsed.data;
  const seen = new Set<string>();
  net.blocks.forEach((b, bi) =>
    b.layers.forEach((l) => {
      const where = `block ${bi + 1} layer ${l.id}`;
      if (!VALID_ID.test(l.id)) throw new DenseNetError(where, 'layer-id', `id "${l.id}" must match ${VALID_ID} (it names tfjs layers and weights)`);
      if (RESERVED.test(l.id)) throw new DenseNetError(where, 'layer-id', `id "${l.id}" is reserved`);
      if (seen.has(l.id)) throw new DenseNetError(where, 'unique-ids', `id "${l.id}" is used twice`);
      seen.add(l.id);
    }),
  );
  denseShapes(net);
  return net;
}

/**
 * Trainable parameters, counted as in the DenseNet paper (and Keras/Torch): conv kernels (no bias), BatchNorm gamma and
 * beta, classifier kernel and bias. BatchNorm moving statistics are not trained and not counted.
 */
export function denseParamCount(net: DenseNet): number {
  const s = denseShapes(net);
  let n = net.stem.kernel * net.stem.kernel * net.input[2] * net.stem.filters;
  net.blocks.forEach((b, bi) => {
    b.layers.forEach((l, li) => {
      const cin = s.blocks[bi].layerIn[li];
      n += 2 * cin + cin * l.bottleneck + 2 * l.bottleneck + 9 * l.bottleneck * l.growth;
    });
    if (b.transition !== undefined) n += 2 * s.blocks[bi].outChannels + s.blocks[bi].outChannels * b.transition;
  });
  return n + 2 * s.classifierIn + s.classifierIn * net.classes + net.classes;
}

/** Weighted layers in the DenseNet paper's sense of depth L: stem, two convs per dense layer, transitions, classifier. */
export function denseDepth(net: DenseNet): number {
  return 1 + net.blocks.reduce((d, b) => d + 2 * b.layers.length + (b.transition !== undefined ? 1 : 0), 0) + 1;
}

export interface StandardDenseNetOptions {
  input: InputShape;
  classes: number;
  /** DenseNet depth L; DenseNet-BC has (L − blocks − 1) / (2·blocks) bottleneck layers per block. */
  depth: number;
  growth: number;
  blocks?: number;
  compression?: number;
  bottleneckFactor?: number;
}

/** The DenseNet paper's DenseNet-BC for CIFAR-sized inputs: stem 3×3 conv with 2k filters, `blocks` equal blocks. */
export function standardDenseNetBC(o: StandardDenseNetOptions): DenseNet {
  const nBlocks = o.blocks ?? 3;
  const perBlock = (o.depth - nBlocks - 1) / (2 * nBlocks);
  if (!Number.isInteger(perBlock) || perBlock < 1) {
    throw new DenseNetError('network', 'depth', `DenseNet-BC depth ${o.depth} with ${nBlocks} blocks does not give a whole number of layers per block (L − ${nBlocks + 1} must be a multiple of ${2 * nBlocks})`);
  }
  const factor = o.bottleneckFactor ?? 4;
  const compression = o.compression ?? 0.5;
  let c = 2 * o.growth;
  let id = 0;
  const blocks = Array.from({ length: nBlocks }, (_, b) => {
    const layers: DenseLayer[] = Array.from({ length: perBlock }, () => ({ id: `L${id++}`, growth: o.growth, bottleneck: factor * o.growth }));
    c += perBlock * o.growth;
    if (b === nBlocks - 1) return { layers };
    c = Math.floor(compression * c);
    return { layers, transition: c };
  });
  return validateDenseNet({ space: 'densenet', input: [...o.input], stem: { filters: 2 * o.growth, kernel: 3 }, blocks, classes: o.classes });
}

/** All dense layer ids in network order. */
export const denseLayerIds = (net: DenseNet): string[] => net.blocks.flatMap((b) => b.layers.map((l) => l.id));

/** Where a dense layer sits: block and index within it. */
export function locateLayer(net: DenseNet, id: string): { block: number; index: number } {
  for (let b = 0; b < net.blocks.length; b++) {
    const index = net.blocks[b].layers.findIndex((l) => l.id === id);
    if (index >= 0) return { block: b, index };
  }
  throw new DenseNetError('network', 'layer-exists', `no dense layer with id "${id}"`);
}

/** A fresh dense layer id: one past the largest numeric suffix in use. */
export function freshDenseId(net: DenseNet): string {
  let max = -1;
  for (const id of denseLayerIds(net)) {
    const m = /(\d+)$/.exec(id);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return `L${max + 1}`;
}

/** Identity of a DenseNet regardless of layer ids (for caches). */
export function denseCanonicalKey(net: DenseNet): string {
  const blocks = net.blocks.map((b) => `${b.layers.map((l) => `${l.growth}:${l.bottleneck}`).join(',')}${b.transition !== undefined ? `|T${b.transition}` : ''}`);
  return `densenet|${net.input.join('x')}|C${net.stem.filters}:${net.stem.kernel}|${blocks.join('|')}|SM${net.classes}`;
}
