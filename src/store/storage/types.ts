/**
 * The run store behind one interface, with two implementations: a local directory (src/store/storage/local.ts: today's
 * behaviour, every operation an identity or a no-op over the atomic renames of src/util/atomic.ts) and an S3-compatible
 * object store (src/store/storage/s3.ts).
 *
 * Code stays file-based on every host: `root` is a local directory where stored paths resolve (the store itself, or
 * this host's cache of an object store). A writer publishes a finished artifact locally as before (atomic rename) and
 * then calls `publish`; a reader calls `pull` before it reads. A stored path is relative to the root, '/'-separated,
 * and names a file or a folder (an "artifact"); the layout (src/store/layout.ts) is unchanged.
 */
export interface RunStore {
  readonly kind: 'local' | 's3';
  /** The store as configured: a directory, or `s3://bucket/prefix`. Never holds a secret. */
  readonly url: string;
  /** Local directory on this host where stored paths resolve: the store itself (local) or this host's cache (s3). */
  readonly root: string;
  /** A stored path resolved on this host (inside `root`). */
  localPath(stored: string): string;
  /** A local path inside `root` as it is stored ('/'-separated, relative to the root). */
  toStored(local: string): string;
  /**
   * Make the published artifact at `stored` (file or folder) available at localPath(stored). True when it is published
   * (and now local), false when nothing is published there. An object store verifies every file against the sha256
   * recorded in the artifact's commit marker; a cached copy whose hash matches is reused.
   */
  pull(stored: string): Promise<boolean>;
  /**
   * Pull every artifact published under the folder `prefix` ('' for the whole store), but those whose stored path
   * matches `except`; returns the stored paths pulled.
   */
  pullAll(prefix: string, opts?: { except?: RegExp }): Promise<string[]>;
  /**
   * After the local atomic publish of `stored`: upload it, commit marker last. True when this call published; false
   * when it was published already (the published one stands and is pulled over the local copy), unless `replace`.
   * Throws when there is nothing at localPath(stored).
   */
  publish(stored: string, opts?: { replace?: boolean }): Promise<boolean>;
  /** Whether `stored` is published: its commit marker (object store) or the path itself (directory) exists. */
  isPublished(stored: string): Promise<boolean>;
  /** Names of the published entries directly inside the folder `prefix` (sorted; temporaries never listed). */
  list(prefix: string): Promise<string[]>;
  /**
   * Remove what writers killed mid-write left under `prefix`, older than `olderThanMs` (default 1 hour): unrenamed
   * temporaries (directory) or uploads no commit marker names (object store). Returns what was removed (stored form).
   */
  sweep(prefix: string, opts?: { olderThanMs?: number }): Promise<string[]>;
}

/** A stored artifact whose bytes do not match the hash its commit marker records, or whose marker is unusable. */
export class StoreIntegrityError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`${key}: ${detail}`);
    this.name = 'StoreIntegrityError';
  }
}

export const DEFAULT_SWEEP_AGE_MS = 60 * 60 * 1000;
