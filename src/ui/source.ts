import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type RunStore, S3RunStore, parseS3Url, s3Client } from '../store/storage';
import { RunLayout } from '../store/layout';
import { isRunId } from '../report/runview';

/**
 * Where the dashboard's files come from. Every page reads local files (the report's RunView, the experiment's view);
 * a source makes them current first. A directory is its own source (nothing to do); an object store
 * (`eas ui --runs s3://bucket/prefix`, src/store/storage) is mirrored into this host's cache lazily and cheaply:
 *
 *  - the ids: one delimited listing of the store's top level (a single LIST request), at most every LIST_TTL_MS;
 *  - a search or experiment folder: when a page asks for it, at most every SYNC_TTL_MS, one listing of its published
 *    artifacts, and only the artifacts not pulled before are pulled — plus the few that are republished in place
 *    (result.json, an experiment's children/*.json and summary.json); a finished search (its result.json pulled) is
 *    then only checked for a republished result.json (one marker read), at most every FINISHED_TTL_MS;
 *  - heavy artifacts the pages do not need (networks' weights in init/ and trained/, epoch checkpoints, the data
 *    probe) are left in the bucket; a candidate's page pulls that candidate's trained/ (for its training curve) or its
 *    latest epoch checkpoint, on demand.
 *
 * Everything pulled is verified by the store (sha256 of each file against its commit marker).
 */
export interface RunSource {
  /** Local directory the pages read (the store itself, or this host's cache of it). */
  readonly root: string;
  /** The store as configured (a directory or s3://…), for the pages' header. */
  readonly url: string;
  readonly remote: boolean;
  /** Top-level entries that may be searches or experiments (valid names only), sorted. */
  ids(): Promise<string[]>;
  /** Make the folder of `id` current locally (as far as the pages need it). */
  sync(id: string): Promise<void>;
  /** Make a candidate's training job's curve current locally: `job` is its folder relative to the search folder. */
  syncJob(id: string, job: string): Promise<void>;
}

const byName = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });

export class LocalSource implements RunSource {
  readonly remote = false;
  readonly url: string;
  constructor(readonly root: string) {
    this.url = root;
  }
  ids(): Promise<string[]> {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(this.root, { withFileTypes: true });
    } catch {
      names = [];
    }
    return Promise.resolve(
      names
        .filter((d) => d.isDirectory() && isRunId(d.name))
        .map((d) => d.name)
        .sort(byName),
    );
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  syncJob(): Promise<void> {
    return Promise.resolve();
  }
}

export const LIST_TTL_MS = 5000;
export const SYNC_TTL_MS = 3000;
export const FINISHED_TTL_MS = 10_000;

/** Artifacts (stored paths below a search or experiment folder) the pages need, and those republished in place. */
const SKIP = /(?:^|\/)(?:init|trained|data|policy)$|\/work\/epoch-\d+$|(?:^|\/)attempts[^/]*$/;
const FINAL_TRAINED = /^final\/top-\d+\/trained$/;
const REPUBLISHED = /^(?:result\.json|summary\.json|children\/[^/]+\.json)$/;

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** Whether the dashboard pulls the published artifact `rel` (relative to its search or experiment folder) on sync. */
export function wantedOnSync(rel: string): boolean {
  return FINAL_TRAINED.test(rel) || !SKIP.test(rel);
}

interface Synced {
  at: number;
  /** Artifacts (relative to the folder) pulled so far. */
  pulled: Set<string>;
  /** Everything published under the folder at the last listing (relative). */
  published: string[];
}

export class S3Source implements RunSource {
  readonly remote = true;
  readonly root: string;
  readonly url: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private listed: { at: number; ids: string[] } | null = null;
  private listing: Promise<string[]> | null = null;
  private readonly synced = new Map<string, Synced>();
  private readonly syncing = new Map<string, Promise<void>>();

  constructor(
    private readonly store: S3RunStore,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.root = store.root;
    this.url = store.url;
    const loc = parseS3Url(store.url);
    this.bucket = loc.bucket;
    this.prefix = loc.prefix;
    // The same standard AWS settings (AWS_* env, profile) the store's own client uses; nothing is logged.
    this.client = s3Client();
  }

  async ids(): Promise<string[]> {
    if (this.listed && Date.now() - this.listed.at < LIST_TTL_MS) return this.listed.ids;
    this.listing ??= this.listTop().finally(() => (this.listing = null));
    return this.listing;
  }

  /** One delimited listing: the folder names directly under the store's prefix. */
  private async listTop(): Promise<string[]> {
    const base = this.prefix ? `${this.prefix}/` : '';
    const names = new Set<string>();
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token }));
      for (const p of r.CommonPrefixes ?? []) {
        const name = (p.Prefix ?? '').slice(base.length).replace(/\/$/, '');
        if (isRunId(name)) names.add(name);
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    const ids = [...names].sort(byName);
    this.listed = { at: Date.now(), ids };
    return ids;
  }

  sync(id: string): Promise<void> {
    if (!isRunId(id)) return Promise.resolve();
    const s = this.synced.get(id);
    const finished = fs.existsSync(new RunLayout(path.join(this.root, id)).result());
    if (s && Date.now() - s.at < (finished ? FINISHED_TTL_MS : SYNC_TTL_MS)) return Promise.resolve();
    let p = this.syncing.get(id);
    if (!p) {
      p = this.pullFolder(id).finally(() => this.syncing.delete(id));
      this.syncing.set(id, p);
    }
    return p;
  }

  private async pullFolder(id: string): Promise<void> {
    const prev = this.synced.get(id);
    // A finished search changes only if its result.json is republished: one marker read, no listing.
    if (prev?.pulled.has('result.json') && fs.existsSync(new RunLayout(path.join(this.root, id)).result())) {
      try {
        await this.store.pull(`${id}/result.json`);
      } catch (err) {
        this.log(`pulling ${this.url}/${id}/result.json: ${(err as Error).message}`);
      }
      this.synced.set(id, { ...prev, at: Date.now() });
      return;
    }
    const published = (await this.store.published(id)).map((stored) => stored.slice(id.length + 1));
    const pulled = new Set(prev?.pulled ?? []);
    const todo = published.filter((rel) => wantedOnSync(rel) && (!pulled.has(rel) || REPUBLISHED.test(rel)));
    await pool(todo, 4, async (rel) => {
      try {
        if (await this.store.pull(`${id}/${rel}`)) pulled.add(rel);
      } catch (err) {
        // One damaged artifact does not hide the rest; the page that reads it says what is wrong.
        this.log(`pulling ${this.url}/${id}/${rel}: ${(err as Error).message}`);
      }
    });
    this.synced.set(id, { at: Date.now(), pulled, published });
  }

  async syncJob(id: string, job: string): Promise<void> {
    await this.sync(id);
    const s = this.synced.get(id);
    if (!s) return;
    const trained = `${job}/trained`;
    let want: string | undefined;
    if (s.published.includes(trained)) want = trained;
    else {
      const epochs = s.published.filter((rel) => rel.startsWith(`${job}/work/epoch-`)).sort();
      want = epochs.at(-1);
    }
    // Published artifacts are immutable (a republished one has a new marker): one pulled is current.
    if (!want || s.pulled.has(want)) return;
    if (await this.store.pull(`${id}/${want}`)) s.pulled.add(want);
  }
}

/** The source for a configured run store: a directory, or an object store through src/store/storage. */
export function sourceFor(store: RunStore, log?: (msg: string) => void): RunSource {
  return store instanceof S3RunStore ? new S3Source(store, log) : new LocalSource(store.root);
}
