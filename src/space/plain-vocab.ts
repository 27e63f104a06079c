import type { Arch, Layer, SearchSpace } from '../arch';

export const PAD_ID = 0;
export const UNK_ID = 1;

const tokenOf = (l: Layer): string =>
  l.type === 'conv' ? `conv-${l.filters}-${l.kernel}-${l.stride}` : l.type === 'fc' ? `fc-${l.units}` : `pool-${l.op}-${l.size}-${l.stride}`;

/**
 * One token per layer: conv (filters, kernel, stride), fc (units), pool (op, size, stride). The vocabulary is derived
 * from the search space, so every layer an action can create has its own token; pools (never created by actions)
 * get tokens for both ops, sizes up to `poolMaxSize` and strides up to the size. Anything else maps to UNK.
 * Id 0 is padding (never embedded: padded steps are masked out of the encoder), id 1 is UNK.
 */
export class Vocabulary {
  private readonly ids = new Map<string, number>();
  readonly tokens: string[] = ['<pad>', '<unk>'];

  constructor(space: SearchSpace, poolMaxSize: number) {
    const add = (t: string) => {
      this.ids.set(t, this.tokens.length);
      this.tokens.push(t);
    };
    for (const f of space.convFilters) for (const k of space.convKernels) for (const s of space.convStrides) add(`conv-${f}-${k}-${s}`);
    for (const u of space.fcUnits) add(`fc-${u}`);
    for (const op of ['max', 'avg'] as const) for (let size = 1; size <= poolMaxSize; size++) for (let s = 1; s <= size; s++) add(`pool-${op}-${size}-${s}`);
  }

  get size(): number {
    return this.tokens.length;
  }

  id(layer: Layer): number {
    return this.ids.get(tokenOf(layer)) ?? UNK_ID;
  }

  encode(arch: Arch): number[] {
    return arch.layers.map((l) => this.id(l));
  }
}
