import { cacheDirFor, isObjectStoreUrl, storeUrl } from './storage/url';
import { relativeToRoot, resolveInRoot } from './storage/local';

/**
 * The run-store root on this host, as a local directory: an explicit override (a worker's own root), else
 * EAS_STORAGE_ROOT, else the configured one (resolved against this process's working directory). For an object store
 * (`s3://bucket/prefix`) it is this host's cache of it (src/store/storage: pull before reading, publish after writing).
 * A host that mounts the shared store elsewhere sets EAS_STORAGE_ROOT; every path that crosses the activity boundary is
 * relative to the root, so it works there too.
 */
export function storageRoot(configured: string, override?: string): string {
  const url = storeUrl(configured, override);
  return isObjectStoreUrl(url) ? cacheDirFor(url) : url;
}

export function runDirFor(configuredRoot: string, searchId: string): string {
  return resolveInRoot(storageRoot(configuredRoot), searchId);
}

/** Where a search's results are, for people: its folder, or on an object store its URL and this host's cache of it. */
export function runDirShown(configuredRoot: string, searchId: string): string {
  const url = storeUrl(configuredRoot);
  return isObjectStoreUrl(url) ? `${url.replace(/\/+$/, '')}/${searchId} (this host's copy: ${runDirFor(configuredRoot, searchId)})` : runDirFor(configuredRoot, searchId);
}

/** A run-store path as recorded (relative to the root, '/'-separated), resolved on this host. Absolute paths pass as they are. */
export function inStore(root: string, stored: string): string {
  return resolveInRoot(root, stored);
}

/** A path on this host as it is recorded: relative to the root, with '/' separators whatever the host. */
export function toStore(root: string, abs: string): string {
  return relativeToRoot(root, abs);
}
