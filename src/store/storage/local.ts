import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_SWEEP_AGE_MS, type RunStore } from './types';

const TEMPORARY = /\.(?:tmp|old)-(\d+)-[0-9a-f]{8}$/;

export function resolveInRoot(root: string, stored: string): string {
  return path.resolve(root, stored);
}

export function relativeToRoot(root: string, abs: string): string {
  const rel = path.relative(path.resolve(root), path.resolve(abs));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`${abs} is not inside the run store ${root}`);
  return rel.split(path.sep).join('/');
}

/** The run store as a local (or mounted) directory: what exists there is published (writers rename atomically). */
export class LocalRunStore implements RunStore {
  readonly kind = 'local' as const;
  readonly url: string;
  readonly root: string;

  constructor(dir: string) {
    this.root = path.resolve(dir);
    this.url = this.root;
  }

  localPath(stored: string): string {
    return resolveInRoot(this.root, stored);
  }
  toStored(local: string): string {
    return relativeToRoot(this.root, local);
  }
  pull(stored: string): Promise<boolean> {
    return Promise.resolve(fs.existsSync(this.localPath(stored)));
  }
  async pullAll(prefix: string, _opts?: { except?: RegExp }): Promise<string[]> {
    return (await this.list(prefix)).map((n) => (prefix ? `${prefix}/${n}` : n));
  }
  publish(stored: string): Promise<boolean> {
    const file = this.localPath(stored);
    if (!fs.existsSync(file)) return Promise.reject(new Error(`cannot publish ${stored}: ${file} does not exist`));
    // The local atomic publish (rename) already made it visible.
    return Promise.resolve(false);
  }
  isPublished(stored: string): Promise<boolean> {
    return Promise.resolve(fs.existsSync(this.localPath(stored)));
  }
  list(prefix: string): Promise<string[]> {
    let names: string[];
    try {
      names = fs.readdirSync(this.localPath(prefix));
    } catch {
      names = [];
    }
    return Promise.resolve(names.filter((n) => !TEMPORARY.test(n)).sort());
  }
  sweep(prefix: string, opts: { olderThanMs?: number } = {}): Promise<string[]> {
    const olderThan = Date.now() - (opts.olderThanMs ?? DEFAULT_SWEEP_AGE_MS);
    const removed: string[] = [];
    const walk = (dir: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        const m = TEMPORARY.exec(e.name);
        if (m) {
          if (Number(m[1]) === process.pid) continue;
          let mtime: number;
          try {
            mtime = fs.statSync(full).mtimeMs;
          } catch {
            continue;
          }
          // Whole milliseconds, as Date.now(): a file's sub-millisecond mtime could otherwise be "newer" than the
          // same instant (a file made this millisecond would never be old enough for olderThanMs = 0).
          if (Math.floor(mtime) > olderThan) continue;
          fs.rmSync(full, { recursive: true, force: true });
          removed.push(this.toStored(full));
        } else if (e.isDirectory()) walk(full);
      }
    };
    walk(this.localPath(prefix || '.'));
    return Promise.resolve(removed.sort());
  }
}
