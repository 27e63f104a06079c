import * as fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../config/search-config';

/**
 * What every control task shares: its envelope (the run-store root of this host and the activity input, whose paths
 * are relative to that root), the debug log, and a small cache of what a process read last.
 */
export interface TaskInput<T> {
  /** The run-store root on this host (absolute). */
  root: string;
  input: T;
}

const TaskEnvelope = z.object({ root: z.string().min(1), input: z.unknown() });

/** The envelope's root and the input parsed by the activity's schema (ConfigError naming every bad field). */
export function parseEnvelope<S extends z.ZodType>(schema: S, raw: unknown, what: string): { root: string; input: z.infer<S> } {
  const env = TaskEnvelope.parse(raw);
  const r = schema.safeParse(env.input);
  if (!r.success) throw new ConfigError(`${what} input`, r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  return { root: env.root, input: r.data };
}

export const log = (m: string): void => {
  if (process.env.EAS_DEBUG) console.error(m);
};

/**
 * The last few parents, probes and what is derived from them (a parent's activation moments and logits) this process
 * read, by path and modification time: an episode's transforms all start from the same network and read the same
 * probe, and a published checkpoint is never rewritten in place (a new one gets a new mtime). Transforms never modify
 * their parent (they work on copies).
 */
const recent = new Map<string, { mtimeMs: number; value: unknown }>();
export function cachedRead<T>(file: string, key: string, read: () => T): T {
  let mtimeMs: number;
  try {
    mtimeMs = fs.statSync(file).mtimeMs;
  } catch {
    return read(); // missing or unreadable: the reader's own error names the file
  }
  const hit = recent.get(key);
  if (hit && hit.mtimeMs === mtimeMs) return hit.value as T;
  const value = read();
  recent.delete(key);
  recent.set(key, { mtimeMs, value });
  while (recent.size > 8) recent.delete(recent.keys().next().value!);
  return value;
}
