import * as fs from 'node:fs';
import * as path from 'node:path';
import { spaceOfNet } from '../space';
import { StoreFileError } from './errors';
import type { NetworkRef } from './records';
import { toStore } from './root';

/**
 * The reference to a network checkpoint that crosses Temporal: read from its arch.json alone (no weights, no tfjs),
 * so a training worker's parent process can describe what its trainer child produced. `dir` is recorded relative to
 * the run-store root. The network's space is told by arch.json (a DenseNet says `space: "densenet"`).
 */
export function networkRef(root: string, name: string, absDir: string, accuracy: number | null = null): NetworkRef {
  const file = path.join(absDir, 'arch.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StoreFileError(file, fs.existsSync(file) ? `is not valid JSON (${(err as Error).message})` : 'is missing', { cause: err });
  }
  const space = spaceOfNet(raw);
  const parsed = space.netSchema.safeParse(raw);
  if (!parsed.success) throw new StoreFileError(file, `is not a valid ${space.kind} network: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const net = parsed.data;
  return { name, dir: toStore(root, absDir), notation: space.notation(net), key: space.key(net), params: space.params(net), accuracy };
}
