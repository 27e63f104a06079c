import * as path from 'node:path';

/**
 * The run-store root on this host: an explicit override (a worker's own root), else EAS_STORAGE_ROOT, else the
 * configured one (resolved against this process's working directory). A host that mounts the shared store elsewhere
 * sets EAS_STORAGE_ROOT; every path that crosses the activity boundary is relative to the root, so it works there too.
 */
export function storageRoot(configured: string, override?: string): string {
  return path.resolve(override ?? process.env.EAS_STORAGE_ROOT ?? configured);
}

export function runDirFor(configuredRoot: string, searchId: string): string {
  return path.join(storageRoot(configuredRoot), searchId);
}

/** A run-store path as recorded (relative to the root, '/'-separated), resolved on this host. Absolute paths pass as they are. */
export function inStore(root: string, stored: string): string {
  return path.resolve(root, stored);
}

/** A path on this host as it is recorded: relative to the root, with '/' separators whatever the host. */
export function toStore(root: string, abs: string): string {
  const rel = path.relative(path.resolve(root), path.resolve(abs));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${abs} is not inside the run store ${root}`);
  return rel.split(path.sep).join('/');
}
