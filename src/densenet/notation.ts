import type { InputShape } from '../arch/schema';
import { splitTopLevel } from '../util/notation';
import { validateDenseNet } from './analysis';
import { type DenseLayer, type DenseNet, DenseNetError } from './schema';

/**
 * A readable DenseNet notation in the spirit of the paper's plain one:
 *
 *   `C(24,3), D(12*16), T(96), D(12*16), T(120), D(12*16), SM(10)`
 *
 * C(filters,kernel) is the stem; D(…) a dense block listing its layers' growth rates, `g*n` for n equal layers and
 * `g:b` when the bottleneck is not 4·g (widening keeps it at 4·g, as the authors' code does, so `g:b` only appears in
 * hand-written networks); T(filters) the transition after a block; SM(classes) the classifier. Stem and transition
 * widths are written out, not derived: a standard DenseNet-BC has C(2k,3) and T(⌊0.5 · input channels⌋), and after
 * every transformation both are re-widened to at least that (`rewidenDenseNet`), never narrowed, so any width parses.
 * Layer ids are assigned in order (L0, L1, …), so `toDenseNotation(parseDenseNotation(s)) === s` for any s printed by
 * toDenseNotation, and parsing gives back the same network up to layer ids.
 */

const TOKEN = /^(C|D|T|SM)\(([^)]*)\)$/i;
const LAYER = /^(\d+)(?::(\d+))?(?:\*(\d+))?$/;

/** Whether `text` is written in the DenseNet notation (it has a dense block), as opposed to the plain one. */
export const isDenseNotation = (text: string): boolean => /(^|[\s,])D\(/i.test(text);

function posInt(raw: string, token: string, what: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new DenseNetError(`"${token}"`, 'notation', `${what} must be a positive integer, got "${raw}"`);
  return n;
}

export function parseDenseNotation(text: string, input: InputShape, bottleneckFactor = 4): DenseNet {
  const tokens = splitTopLevel(text.trim()).map((t) => t.replace(/\s+/g, ''));
  if (tokens.length === 0) throw new DenseNetError('notation', 'notation', 'empty network');
  let stem: DenseNet['stem'] | undefined;
  let classes: number | undefined;
  const blocks: DenseNet['blocks'] = [];
  let nextId = 0;
  tokens.forEach((tok, i) => {
    const m = TOKEN.exec(tok);
    if (!m) throw new DenseNetError(`"${tok}"`, 'notation', 'expected C(filters,kernel), D(growth[:bottleneck][*count], …), T(filters) or SM(classes)');
    const kind = m[1].toUpperCase();
    const args = m[2].split(',');
    if (classes !== undefined) throw new DenseNetError(`"${tok}"`, 'notation', 'comes after SM(..); the classifier must be last');
    if (kind === 'C') {
      if (i !== 0) throw new DenseNetError(`"${tok}"`, 'notation', 'the stem C(filters,kernel) must come first, once');
      if (args.length !== 2) throw new DenseNetError(`"${tok}"`, 'notation', 'C(filters,kernel) takes 2 arguments');
      stem = { filters: posInt(args[0], tok, 'filters'), kernel: posInt(args[1], tok, 'kernel') };
    } else if (kind === 'D') {
      if (!stem) throw new DenseNetError(`"${tok}"`, 'notation', 'a dense block must follow the stem C(filters,kernel)');
      const prev = blocks[blocks.length - 1];
      if (prev && prev.transition === undefined) throw new DenseNetError(`"${tok}"`, 'notation', 'two dense blocks need a transition T(filters) between them');
      const layers: DenseLayer[] = [];
      for (const a of args) {
        const lm = LAYER.exec(a);
        if (!lm) throw new DenseNetError(`"${tok}"`, 'notation', `cannot read layer "${a}"; expected growth, growth:bottleneck, optionally *count`);
        const growth = posInt(lm[1], tok, 'growth');
        const bottleneck = lm[2] !== undefined ? posInt(lm[2], tok, 'bottleneck') : bottleneckFactor * growth;
        const count = lm[3] !== undefined ? posInt(lm[3], tok, 'count') : 1;
        for (let k = 0; k < count; k++) layers.push({ id: `L${nextId++}`, growth, bottleneck });
      }
      blocks.push({ layers });
    } else if (kind === 'T') {
      const prev = blocks[blocks.length - 1];
      if (!prev || prev.transition !== undefined) throw new DenseNetError(`"${tok}"`, 'notation', 'a transition must follow a dense block');
      if (args.length !== 1) throw new DenseNetError(`"${tok}"`, 'notation', 'T(filters) takes 1 argument');
      prev.transition = posInt(args[0], tok, 'filters');
    } else {
      if (args.length !== 1) throw new DenseNetError(`"${tok}"`, 'notation', 'SM(classes) takes 1 argument');
      classes = posInt(args[0], tok, 'classes');
    }
  });
  if (classes === undefined) throw new DenseNetError('notation', 'notation', 'the network must end with SM(classes)');
  if (!stem || blocks.length === 0) throw new DenseNetError('notation', 'notation', 'a DenseNet needs a stem C(..) and at least one dense block D(..)');
  return validateDenseNet({ space: 'densenet', input: [...input], stem, blocks, classes });
}

function layerToken(l: DenseLayer, bottleneckFactor: number): string {
  return l.bottleneck === bottleneckFactor * l.growth ? `${l.growth}` : `${l.growth}:${l.bottleneck}`;
}

/** Print in the DenseNet notation, run-length encoding equal consecutive layers. */
export function toDenseNotation(net: DenseNet, bottleneckFactor = 4): string {
  const parts = [`C(${net.stem.filters},${net.stem.kernel})`];
  for (const b of net.blocks) {
    const runs: string[] = [];
    let i = 0;
    while (i < b.layers.length) {
      const tok = layerToken(b.layers[i], bottleneckFactor);
      let j = i + 1;
      while (j < b.layers.length && layerToken(b.layers[j], bottleneckFactor) === tok) j++;
      runs.push(j - i > 1 ? `${tok}*${j - i}` : tok);
      i = j;
    }
    parts.push(`D(${runs.join(',')})`);
    if (b.transition !== undefined) parts.push(`T(${b.transition})`);
  }
  parts.push(`SM(${net.classes})`);
  return parts.join(', ');
}
