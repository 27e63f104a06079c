import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** `<pid>-<8 hex>`: what makes a temporary name this process's own (removeStaleTemporariesOf reads the pid back). */
export function tempSuffix(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

function tmpName(target: string): string {
  return `${target}.tmp-${tempSuffix()}`;
}

// `.old-` is the report's replaceDirAtomic setting the previous folder aside between its two renames.
const TMP_SUFFIX = /^\.(?:tmp|old)-(\d+)-[0-9a-f]{8}$/;

/**
 * Remove the temporaries an earlier writer of `target` left when it was killed mid-write (`<target>.tmp-<pid>-<hex>`, or
 * `<target>.old-<pid>-<hex>`, a folder set aside while it was replaced, from another process; this process's own are
 * in flight or already cleaned by its catch). The writer of a target is one activity attempt at a time, and the
 * attempt now writing owns its leftovers: without this, a worker SIGKILLed while saving a candidate leaves a
 * half-written directory in the run store for ever. Returns the names removed.
 */
export function removeStaleTemporariesOf(target: string): string[] {
  const dir = path.dirname(target);
  const base = path.basename(target);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(base)) continue;
    const m = TMP_SUFFIX.exec(name.slice(base.length));
    if (!m || Number(m[1]) === process.pid) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  }
}

/** Write a file so that readers see either the old content or the whole new content, never a part. */
export function writeFileAtomic(target: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  removeStaleTemporariesOf(target);
  const tmp = tmpName(target);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
  fsyncDir(path.dirname(target));
}

export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Publish a directory atomically: `fill` writes into a fresh temporary directory which is then renamed to
 * `target`. If `target` already exists (a finished artifact from an earlier attempt) it is kept and the new
 * content discarded, so a retry never overwrites a finished artifact. Returns true when this call published.
 *
 * `finish`, when given, runs after `fill` while the files `fill` wrote are flushed to disk (the fsyncs run on libuv's
 * thread pool, so CPU work in `finish` overlaps the disk's): it may write more files (flushed after it) or throw to
 * abandon the directory. Transforms check their child there, so the check costs no wall time beyond the flush.
 */
export async function publishDirAtomic(target: string, fill: (tmpDir: string) => Promise<void> | void, finish?: (tmpDir: string) => Promise<void> | void): Promise<boolean> {
  removeStaleTemporariesOf(target);
  if (fs.existsSync(target)) return false;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tmpName(target);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    const filled = fs.readdirSync(tmp);
    await flushWhile(
      filled.map((name) => path.join(tmp, name)),
      () => finish?.(tmp),
    );
    for (const name of fs.readdirSync(tmp)) if (!filled.includes(name)) fsyncFile(path.join(tmp, name));
    if (fs.existsSync(target)) {
      fs.rmSync(tmp, { recursive: true, force: true });
      return false;
    }
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
    return true;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * fsync `files` on the thread pool while `work` runs; resolves when both are done, rejects with the first error (after
 * every fsync has returned and every descriptor is closed). The requests go out before `work` starts (callback fsync on
 * descriptors opened synchronously), so synchronous work does not hold them back.
 */
async function flushWhile(files: string[], work: () => Promise<void> | void): Promise<void> {
  const fds: number[] = [];
  let synced: Promise<unknown> = Promise.resolve();
  try {
    for (const file of files) fds.push(fs.openSync(file, 'r'));
    synced = Promise.all(fds.map((fd) => new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))));
    // Both settle before anything is closed; work's error first, then the flush's.
    const [done, flushed] = await Promise.allSettled([Promise.resolve().then(work), synced]);
    if (done.status === 'rejected') throw done.reason;
    if (flushed.status === 'rejected') throw flushed.reason;
  } finally {
    await synced.catch(() => undefined);
    for (const fd of fds) fs.closeSync(fd);
  }
}
