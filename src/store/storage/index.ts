import { LocalRunStore } from './local';
import { S3RunStore } from './s3';
import { cacheDirFor, isObjectStoreUrl, storeUrl } from './url';
export { cacheDirFor, isObjectStoreUrl, storeUrl } from './url';
import type { RunStore } from './types';

export type { RunStore } from './types';
export { StoreIntegrityError, DEFAULT_SWEEP_AGE_MS } from './types';
export { LocalRunStore } from './local';
export { S3RunStore, parseS3Url, s3Client, uploadFolder, MARKER_SUFFIX } from './s3';

const opened = new Map<string, RunStore>();

/**
 * The run store in force on this host (see storeUrl): a directory, or an object store with this host's cache. One
 * instance (and one S3 client) per store and cache folder per process.
 */
export function openStore(configured: string, override?: string): RunStore {
  const url = storeUrl(configured, override);
  const id = isObjectStoreUrl(url) ? `${url}\n${cacheDirFor(url)}` : url;
  let store = opened.get(id);
  if (!store) {
    store = isObjectStoreUrl(url) ? new S3RunStore(url, cacheDirFor(url)) : new LocalRunStore(url);
    opened.set(id, store);
  }
  return store;
}

/**
 * For readers of a finished or running search (eas result, report, export, ui): the local root that holds search
 * `searchId` on this host. `runs` is a directory or `s3://bucket/prefix` (default: EAS_STORAGE_ROOT, else ./runs); from
 * an object store, every artifact published under the search's folder is pulled into this host's cache first.
 */
export async function pullSearch(runs: string | undefined, searchId: string): Promise<string> {
  const store = openStore('runs', runs);
  // Epoch checkpoints (a job's work/) are for resuming training, not for readers: left in the bucket.
  if (store.kind === 's3' && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(searchId)) await store.pullAll(searchId, { except: /\/work\// });
  return store.root;
}
