import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

function tmpName(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
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
 */
export async function publishDirAtomic(target: string, fill: (tmpDir: string) => Promise<void> | void): Promise<boolean> {
  if (fs.existsSync(target)) return false;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tmpName(target);
  fs.mkdirSync(tmp, { recursive: true });
  try {
    await fill(tmp);
    for (const name of fs.readdirSync(tmp)) {
      const fd = fs.openSync(path.join(tmp, name), 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
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
