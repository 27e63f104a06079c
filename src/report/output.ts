import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeStaleTemporariesOf, tempSuffix } from '../util/atomic';

/**
 * Replace an output directory atomically: `fill` writes a complete new directory under a temporary name, which then
 * takes the place of `target` by rename (the old content is moved aside first and removed afterwards). Readers see the
 * old directory or the new one, never a half-written one. A non-empty existing `target` must carry `marker` (a file
 * this command wrote earlier), so that a mistyped --out never replaces an unrelated folder.
 */
export async function replaceDirAtomic(target: string, marker: string, fill: (tmpDir: string) => Promise<void> | void): Promise<void> {
  const abs = path.resolve(target);
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory()) throw new Error(`output ${abs} exists and is not a directory`);
    if (fs.readdirSync(abs).length > 0 && !fs.existsSync(path.join(abs, marker))) {
      throw new Error(`output ${abs} exists and was not written by this command (no ${marker}); choose another --out or remove it`);
    }
  }
  fs.mkdirSync(path.dirname(abs), { recursive: true });
  removeStaleTemporariesOf(abs);
  const suffix = tempSuffix();
  const tmp = `${abs}.tmp-${suffix}`;
  fs.mkdirSync(tmp);
  try {
    await fill(tmp);
    syncTree(tmp);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const old = `${abs}.old-${suffix}`;
  const hadOld = fs.existsSync(abs);
  if (hadOld) fs.renameSync(abs, old);
  try {
    fs.renameSync(tmp, abs);
  } catch (err) {
    if (hadOld) fs.renameSync(old, abs);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (hadOld) fs.rmSync(old, { recursive: true, force: true });
}

function syncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      syncTree(p);
      continue;
    }
    const fd = fs.openSync(p, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
