import { ArchError } from './errors';
import { splitTopLevel } from '../util/notation';
import { type Arch, ArchSchema, type InputShape, type Layer } from './schema';
import { layerKey, validateArch } from './analysis';
import type { SearchSpace } from './space';

const TOKEN = /^(C|P|FC|SM)\(([^)]*)\)$/i;

function intArg(raw: string, token: string, index: number, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ArchError(index, 'notation', `${what} in ${token} must be a positive integer, got "${raw}"`);
  return n;
}

/**
 * Parse the paper's notation, e.g. `C(16,3,1), P(2,2,MAX), FC(256), SM(10)`.
 * Layer ids are assigned in order: L0, L1, … .
 */
export function parseNotation(text: string, input: InputShape, space?: SearchSpace): Arch {
  const tokens = splitTopLevel(text.trim());
  if (tokens.length === 0) throw new ArchError(-1, 'notation', 'empty architecture');
  const layers: Layer[] = [];
  let classes: number | undefined;
  tokens.forEach((tok, i) => {
    const m = TOKEN.exec(tok.replace(/\s+/g, ''));
    if (!m) throw new ArchError(i, 'notation', `cannot read "${tok}"; expected C(filters,kernel,stride), P(size,stride,MAX|AVG), FC(units) or SM(classes)`);
    if (classes !== undefined) throw new ArchError(i, 'softmax-last', `"${tok}" comes after SM(..); the softmax classifier must be last`);
    const kind = m[1].toUpperCase();
    const args = m[2].split(',').map((a) => a.trim());
    const expect = (n: number) => {
      if (args.length !== n) throw new ArchError(i, 'notation', `${kind}(…) takes ${n} argument${n > 1 ? 's' : ''}, got ${args.length} in "${tok}"`);
    };
    const id = `L${layers.length}`;
    if (kind === 'C') {
      expect(3);
      layers.push({ id, type: 'conv', filters: intArg(args[0], tok, i, 'filters'), kernel: intArg(args[1], tok, i, 'kernel'), stride: intArg(args[2], tok, i, 'stride') });
    } else if (kind === 'P') {
      expect(3);
      const op = args[2].toUpperCase();
      if (op !== 'MAX' && op !== 'AVG') throw new ArchError(i, 'notation', `pool type in "${tok}" must be MAX or AVG`);
      layers.push({ id, type: 'pool', size: intArg(args[0], tok, i, 'size'), stride: intArg(args[1], tok, i, 'stride'), op: op === 'MAX' ? 'max' : 'avg' });
    } else if (kind === 'FC') {
      expect(1);
      layers.push({ id, type: 'fc', units: intArg(args[0], tok, i, 'units') });
    } else {
      expect(1);
      classes = intArg(args[0], tok, i, 'classes');
    }
  });
  if (classes === undefined) throw new ArchError(-1, 'softmax-last', 'the architecture must end with SM(classes)');
  const arch = ArchSchema.parse({ input: [...input], layers, classes });
  validateArch(arch, space);
  return arch;
}

/** Print in the paper's notation; parseNotation(toNotation(a)) gives back a's layers. */
export function toNotation(arch: Arch): string {
  return [...arch.layers.map(layerKey), `SM(${arch.classes})`].join(', ');
}

/** The paper's Table 1 start network. */
export const TABLE1_START = 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(2,2,MAX), C(128,3,1), P(4,4,AVG), FC(256), SM(10)';
