import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Store URLs without the S3 client: what src/store/root.ts (loaded by every control task and trainer child) needs to
 * tell a directory from an object store and find this host's cache, without loading the AWS SDK.
 */
export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing '/' ('' for the bucket's top). */
  prefix: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/prefix` → { bucket, prefix }; a clear error for anything else. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m || !BUCKET.test(m[1]!)) throw new Error(`storage root ${JSON.stringify(url)}: expected s3://<bucket>/<prefix> with a valid bucket name (3–63 of a-z 0-9 . -)`);
  const prefix = (m[2] ?? '').split('/').filter(Boolean).join('/');
  if (prefix.split('/').some((p) => p === '.' || p === '..')) throw new Error(`storage root ${url}: the prefix cannot contain '.' or '..'`);
  return { bucket: m[1]!, prefix };
}

/** Whether a configured storage root names an object store (`s3://bucket/prefix`) rather than a directory. */
export const isObjectStoreUrl = (root: string): boolean => root.startsWith('s3://');

/**
 * This host's cache of an object store: EAS_CACHE_DIR (else ~/.cache/eas/store), then <bucket>/<prefix>, so two stores
 * never share a cache folder.
 */
export function cacheDirFor(url: string): string {
  const { bucket, prefix } = parseS3Url(url);
  const base = process.env.EAS_CACHE_DIR ? path.resolve(process.env.EAS_CACHE_DIR) : path.join(os.homedir(), '.cache', 'eas', 'store');
  return path.join(base, bucket, ...prefix.split('/').filter(Boolean));
}

/** The store URL in force on this host: an explicit override (a worker's own root), else EAS_STORAGE_ROOT, else the configured one. */
export function storeUrl(configured: string, override?: string): string {
  const url = override || process.env.EAS_STORAGE_ROOT || configured;
  return isObjectStoreUrl(url) ? url : path.resolve(url);
}

