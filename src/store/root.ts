import * as path from 'node:path';

/** The run-store root on this host: EAS_STORAGE_ROOT overrides the configured one (a shared mount at another path). */
export function storageRoot(configured: string): string {
  return path.resolve(process.env.EAS_STORAGE_ROOT ?? configured);
}

export function runDirFor(configuredRoot: string, searchId: string): string {
  return path.join(storageRoot(configuredRoot), searchId);
}
