import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { relativeToRoot, resolveInRoot } from './local';
import { parseS3Url, type S3Location } from './url';
export { parseS3Url, type S3Location } from './url';
import { DEFAULT_SWEEP_AGE_MS, type RunStore, StoreIntegrityError } from './types';

/**
 * The run store on S3-compatible object storage. Each host keeps a cache directory that mirrors the stored paths; code
 * reads and writes files there, and this class moves finished artifacts between the cache and the bucket.
 *
 * Object layout under `s3://bucket/prefix`, for an artifact at stored path A (a file or a folder):
 *   <prefix>/A.eas-v-<version>[/<file>]   the artifact's bytes as one writer uploaded them (version: unique per upload)
 *   <prefix>/A.eas-published.json         the commit marker, written LAST: { version, kind, files: [{ path, size, sha256 }] }
 * Published means the marker exists. Readers read only what a marker names, so an upload cut short (no marker), or one
 * that lost the race to another writer's marker, is never read as finished; `sweep` removes such uploads once old.
 * Two writers never write the same data keys (each has its own version), so a marker always describes bytes that exist.
 *
 * Endpoint, region and credentials come only from the standard AWS settings (AWS_ENDPOINT_URL, AWS_REGION,
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE …) through the SDK's default providers; none is logged or stored.
 */
export const MARKER_SUFFIX = '.eas-published.json';
const VERSION_INFIX = '.eas-v-';
const MARKER_FORMAT = 'eas-published/1';

const MarkerSchema = z.object({
  format: z.literal(MARKER_FORMAT),
  version: z.string().regex(/^[0-9a-z]+-[0-9a-f]+$/),
  kind: z.enum(['file', 'dir']),
  files: z.array(z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  publishedAt: z.string(),
});
export type CommitMarker = z.infer<typeof MarkerSchema>;

/** The client for S3-compatible servers: path-style addressing, checksums only where the API requires them. */
export function s3Client(): S3Client {
  // eas runs on Node 20 by design; the SDK's notice that its later releases need Node 22 is noise in every worker log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

function hashFile(file: string): string | undefined {
  try {
    return sha256(fs.readFileSync(file));
  } catch {
    return undefined;
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** Files of a local folder, '/'-separated relative paths, sorted. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

function checkStored(stored: string): string {
  const s = stored.split('/').filter(Boolean).join('/');
  if (!s || s.split('/').some((p) => p === '.' || p === '..')) throw new Error(`${JSON.stringify(stored)} is not a run-store path (relative, '/'-separated, no '.' or '..')`);
  if (s.includes(VERSION_INFIX) || s.endsWith(MARKER_SUFFIX)) throw new Error(`${stored}: run-store names cannot contain ${VERSION_INFIX} or end in ${MARKER_SUFFIX}`);
  return s;
}

export class S3RunStore implements RunStore {
  readonly kind = 's3' as const;
  readonly url: string;
  readonly root: string;
  private readonly loc: S3Location;

  /** `cacheDir`: this host's cache of this store (the stored paths mirror under it). */
  constructor(
    url: string,
    cacheDir: string,
    private readonly client: S3Client = s3Client(),
  ) {
    this.loc = parseS3Url(url);
    this.url = `s3://${this.loc.bucket}${this.loc.prefix ? `/${this.loc.prefix}` : ''}`;
    this.root = path.resolve(cacheDir);
  }

  localPath(stored: string): string {
    return resolveInRoot(this.root, stored);
  }
  toStored(local: string): string {
    return relativeToRoot(this.root, local);
  }

  private key(stored: string): string {
    return this.loc.prefix ? `${this.loc.prefix}/${stored}` : stored;
  }
  private fromKey(key: string): string {
    return this.loc.prefix ? key.slice(this.loc.prefix.length + 1) : key;
  }
  private dataKey(stored: string, version: string, file: string): string {
    return `${this.key(stored)}${VERSION_INFIX}${version}${file ? `/${file}` : ''}`;
  }

  private async getBytes(key: string): Promise<Uint8Array | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: key }));
      return await r.Body!.transformToByteArray();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The commit marker of `stored`, or undefined when it is not published. */
  async marker(stored: string): Promise<CommitMarker | undefined> {
    const key = this.key(checkStored(stored)) + MARKER_SUFFIX;
    const bytes = await this.getBytes(key);
    if (!bytes) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch (err) {
      throw new StoreIntegrityError(`s3://${this.loc.bucket}/${key}`, `commit marker is not JSON (${(err as Error).message})`);
    }
    const m = MarkerSchema.safeParse(raw);
    if (!m.success) throw new StoreIntegrityError(`s3://${this.loc.bucket}/${key}`, `not a commit marker: ${m.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return m.data;
  }

  async isPublished(storedIn: string): Promise<boolean> {
    const stored = checkStored(storedIn);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.key(stored) + MARKER_SUFFIX }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async pull(storedIn: string): Promise<boolean> {
    const stored = checkStored(storedIn);
    const marker = await this.marker(stored);
    if (!marker) return false;
    await this.fetchInto(stored, marker);
    return true;
  }

  /** Bring `marker`'s files to the cache: a cached file whose hash matches is kept, any other is downloaded and verified. */
  private async fetchInto(stored: string, marker: CommitMarker): Promise<void> {
    const local = this.localPath(stored);
    const download = async (file: CommitMarker['files'][number], to: string) => {
      const key = this.dataKey(stored, marker.version, file.path);
      const bytes = await this.getBytes(key);
      if (!bytes) throw new StoreIntegrityError(`s3://${this.loc.bucket}/${key}`, `missing, though the commit marker of ${stored} names it`);
      const got = sha256(bytes);
      if (got !== file.sha256) throw new StoreIntegrityError(`s3://${this.loc.bucket}/${key}`, `sha256 ${got} differs from ${file.sha256} recorded in the commit marker of ${stored}`);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      const tmp = `${to}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, to);
    };
    if (marker.kind === 'file') {
      const file = marker.files[0];
      if (!file || marker.files.length !== 1) throw new StoreIntegrityError(this.url + '/' + stored, 'a file marker must name exactly one file');
      if (fs.existsSync(local) && fs.statSync(local).isDirectory()) fs.rmSync(local, { recursive: true, force: true });
      if (hashFile(local) !== file.sha256) await download(file, local);
      return;
    }
    const exists = fs.existsSync(local) && fs.statSync(local).isDirectory();
    if (!exists) {
      // A fresh folder: fill a temporary one, then rename, so a concurrent local reader never sees a part.
      if (fs.existsSync(local)) fs.rmSync(local, { force: true });
      const tmp = `${local}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        fs.mkdirSync(tmp, { recursive: true });
        await pool(marker.files, 4, (f) => download(f, path.join(tmp, ...f.path.split('/'))));
        if (!fs.existsSync(local)) fs.renameSync(tmp, local);
        else fs.rmSync(tmp, { recursive: true, force: true });
      } catch (err) {
        fs.rmSync(tmp, { recursive: true, force: true });
        throw err;
      }
      if (fs.existsSync(local) && marker.files.every((f) => hashFile(path.join(local, ...f.path.split('/'))) === f.sha256)) return;
    }
    // A cached folder: refetch each file whose hash differs, drop the files the marker does not name.
    const wanted = new Set(marker.files.map((f) => f.path));
    await pool(marker.files, 4, async (f) => {
      const to = path.join(local, ...f.path.split('/'));
      if (hashFile(to) !== f.sha256) await download(f, to);
    });
    for (const rel of filesUnder(local)) if (!wanted.has(rel)) fs.rmSync(path.join(local, ...rel.split('/')), { force: true });
  }

  async publish(storedIn: string, opts: { replace?: boolean } = {}): Promise<boolean> {
    const stored = checkStored(storedIn);
    const local = this.localPath(stored);
    if (!fs.existsSync(local)) throw new Error(`cannot publish ${stored}: ${local} does not exist`);
    if (!opts.replace) {
      const existing = await this.marker(stored);
      if (existing) {
        // Published already (an earlier attempt, another host): that one stands, and this host's copy follows it.
        await this.fetchInto(stored, existing);
        return false;
      }
    }
    const isDir = fs.statSync(local).isDirectory();
    const version = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const rels = isDir ? filesUnder(local) : [''];
    const files: CommitMarker['files'] = [];
    await pool(rels, 4, async (rel) => {
      const bytes = fs.readFileSync(rel ? path.join(local, ...rel.split('/')) : local);
      files.push({ path: rel, size: bytes.byteLength, sha256: sha256(bytes) });
      await this.client.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: this.dataKey(stored, version, rel), Body: bytes }));
    });
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const marker: CommitMarker = { format: MARKER_FORMAT, version, kind: isDir ? 'dir' : 'file', files, publishedAt: new Date().toISOString() };
    // The marker last: until it exists, nothing above is published.
    await this.client.send(
      new PutObjectCommand({ Bucket: this.loc.bucket, Key: this.key(stored) + MARKER_SUFFIX, Body: JSON.stringify(marker, null, 1) + '\n', ContentType: 'application/json' }),
    );
    return true;
  }

  private async listKeys(keyPrefix: string, delimiter?: string): Promise<{ objects: _Object[]; prefixes: string[] }> {
    const objects: _Object[] = [];
    const prefixes: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: keyPrefix, Delimiter: delimiter, ContinuationToken: token }));
      objects.push(...(r.Contents ?? []));
      prefixes.push(...(r.CommonPrefixes ?? []).map((p) => p.Prefix!).filter(Boolean));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return { objects, prefixes };
  }

  private folderKey(prefix: string): string {
    const p = prefix.split('/').filter(Boolean).join('/');
    const k = p ? this.key(p) : this.loc.prefix;
    return k ? `${k}/` : '';
  }

  /** Stored paths of every artifact published under the folder `prefix`. */
  async published(prefix: string): Promise<string[]> {
    const { objects } = await this.listKeys(this.folderKey(prefix));
    return objects
      .map((o) => o.Key!)
      .filter((k) => k.endsWith(MARKER_SUFFIX))
      .map((k) => this.fromKey(k.slice(0, -MARKER_SUFFIX.length)))
      .sort();
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.folderKey(prefix);
    const names = new Set<string>();
    for (const stored of await this.published(prefix)) {
      const rest = this.key(stored).slice(base.length);
      names.add(rest.split('/')[0]!);
    }
    return [...names].sort();
  }

  async pullAll(prefix: string, opts: { except?: RegExp } = {}): Promise<string[]> {
    const all = (await this.published(prefix)).filter((s) => !opts.except?.test(s));
    await pool(all, 4, async (stored) => {
      const m = await this.marker(stored);
      if (m) await this.fetchInto(stored, m);
    });
    return all;
  }

  async sweep(prefix: string, opts: { olderThanMs?: number } = {}): Promise<string[]> {
    const before = Date.now() - (opts.olderThanMs ?? DEFAULT_SWEEP_AGE_MS);
    const { objects } = await this.listKeys(this.folderKey(prefix));
    const markers = new Map<string, string | undefined>();
    const current = async (stored: string) => {
      if (!markers.has(stored)) markers.set(stored, (await this.marker(stored).catch(() => undefined))?.version);
      return markers.get(stored);
    };
    const doomed: string[] = [];
    for (const o of objects) {
      const key = o.Key!;
      const at = key.lastIndexOf(VERSION_INFIX);
      if (at < 0) continue;
      const stored = this.fromKey(key.slice(0, at));
      const version = key.slice(at + VERSION_INFIX.length).split('/')[0]!;
      if ((o.LastModified?.getTime() ?? 0) > before) continue;
      if ((await current(stored)) === version) continue;
      doomed.push(key);
    }
    for (let i = 0; i < doomed.length; i += 1000) {
      await this.client.send(new DeleteObjectsCommand({ Bucket: this.loc.bucket, Delete: { Objects: doomed.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
    return doomed.map((k) => this.fromKey(k)).sort();
  }
}

/**
 * Upload a local folder to `s3://bucket/prefix/` as plain objects (for people and other tools: `eas export --to`), the
 * file named `last` (a manifest that says the folder is complete) after every other. Returns the keys written.
 */
export async function uploadFolder(url: string, dir: string, last?: string, client: S3Client = s3Client()): Promise<string[]> {
  const { bucket, prefix } = parseS3Url(url);
  const rels = filesUnder(dir);
  const key = (rel: string) => (prefix ? `${prefix}/${rel}` : rel);
  const put = async (rel: string) => {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key(rel), Body: fs.readFileSync(path.join(dir, ...rel.split('/'))) }));
  };
  await pool(
    rels.filter((r) => r !== last),
    4,
    put,
  );
  if (last && rels.includes(last)) await put(last);
  return rels.map(key);
}
