import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { SingleBar } from 'cli-progress';

export interface DownloadOptions {
  /** Expected md5 of the whole file (hex). */
  md5: string;
  /** Show a progress bar on stderr (only drawn when stderr is a terminal). */
  progress?: boolean;
  /** Give up when no bytes arrive for this long (connecting included). */
  stallTimeoutMs?: number;
}

/**
 * Download `url` to `target`: streamed to a temporary file beside it, checked against the md5, fsynced, then
 * renamed, so `target` is either absent or the whole verified file.
 */
export async function downloadFile(url: string, target: string, opts: DownloadOptions): Promise<void> {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
  const stallMs = opts.stallTimeoutMs ?? 30_000;
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(), stallMs);
  const poke = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), stallMs);
  };
  const bar = opts.progress ? new SingleBar({ stream: process.stderr, format: `${path.basename(target)} [{bar}] {percentage}% | {value}/{total} MB | ETA {eta}s`, hideCursor: true }) : null;
  const hash = createHash('md5');
  const out = await fs.promises.open(tmp, 'w');
  try {
    let res: Response;
    try {
      res = await fetch(url, { signal: abort.signal, redirect: 'follow' });
    } catch (err) {
      throw new Error(`download of ${url} failed: ${describeFetchError(err, abort.signal.aborted, stallMs)}`, { cause: err });
    }
    if (!res.ok || !res.body) throw new Error(`download of ${url} failed: HTTP ${res.status} ${res.statusText}`);
    const totalBytes = Number(res.headers.get('content-length') ?? 0);
    bar?.start(Math.max(1, Math.round(totalBytes / 1e6)), 0);
    let received = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        poke();
        hash.update(chunk);
        await out.write(chunk);
        received += chunk.length;
        bar?.update(Math.round(received / 1e6));
      }
    } catch (err) {
      throw new Error(`download of ${url} failed after ${received} bytes: ${describeFetchError(err, abort.signal.aborted, stallMs)}`, { cause: err });
    }
    if (totalBytes > 0 && received !== totalBytes) throw new Error(`download of ${url} ended after ${received} of ${totalBytes} bytes`);
    const md5 = hash.digest('hex');
    if (md5 !== opts.md5.toLowerCase()) {
      throw new Error(`${path.basename(target)}: checksum mismatch for ${url}: md5 ${md5}, expected ${opts.md5} (corrupt or different file)`);
    }
    await out.sync();
    await out.close();
    fs.renameSync(tmp, target);
  } catch (err) {
    await out.close().catch(() => {});
    fs.rmSync(tmp, { force: true });
    throw err;
  } finally {
    clearTimeout(timer);
    bar?.stop();
  }
}

function describeFetchError(err: unknown, aborted: boolean, stallMs: number): string {
  if (aborted) return `no data for ${Math.round(stallMs / 1000)} s`;
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(': ');
}
