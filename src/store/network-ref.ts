import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArchSchema, canonicalKey, paramCount, toNotation } from '../arch';
import type { NetworkRef } from '../activities/contract';
import { StoreFileError } from '../activities/errors';
import { toStore } from './root';
import { denseCanonicalKey, denseParamCount } from '../densenet/analysis';
import { toDenseNotation } from '../densenet/notation';
import { DenseNetSchema } from '../densenet/schema';

/**
 * The reference to a network checkpoint that crosses Temporal: read from its arch.json alone (no weights, no tfjs),
 * so a training worker's parent process can describe what its trainer child produced. `dir` is recorded relative to
 * the run-store root.
 */
export function networkRef(root: string, name: string, absDir: string, accuracy: number | null = null): NetworkRef {
  const file = path.join(absDir, 'arch.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StoreFileError(file, fs.existsSync(file) ? `is not valid JSON (${(err as Error).message})` : 'is missing', { cause: err });
  }
  // A DenseNet checkpoint says `space: "densenet"` in its arch.json (plain architectures have no such field).
  if (raw !== null && typeof raw === 'object' && (raw as { space?: unknown }).space === 'densenet') {
    const dense = DenseNetSchema.safeParse(raw);
    if (!dense.success) throw new StoreFileError(file, `is not a valid DenseNet: ${dense.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const net = dense.data;
    return { name, dir: toStore(root, absDir), notation: toDenseNotation(net), key: denseCanonicalKey(net), params: denseParamCount(net), accuracy };
  }
  const parsed = ArchSchema.safeParse(raw);
  if (!parsed.success) throw new StoreFileError(file, `is not a valid architecture: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const arch = parsed.data;
  return { name, dir: toStore(root, absDir), notation: toNotation(arch), key: canonicalKey(arch), params: paramCount(arch), accuracy };
}
