import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { publishDirAtomic } from '../util/atomic';
import { DATASETS, type DatasetSpec, type DownloadSpec } from './catalog';
import { downloadFile } from './download';
import { DatasetNameSchema, DatasetUnavailableError, type DatasetName, type Part, type RealDatasetName } from './types';

export interface LocateOptions {
  /** Directory holding the datasets (default: $EAS_DATA_DIR, else .eas/data under the working directory). */
  dataDir?: string;
  /** Download missing files (with checksum check) into <dataDir>/<dataset>. */
  download?: boolean;
  /** Parts to find (default: train and test; SVHN's extra only when asked). */
  parts?: readonly Part[];
  /** Base URL replacing the published location of each download (the file name is kept), e.g. a local mirror. */
  mirror?: string;
  /** Progress bars on stderr while downloading (default true). */
  progress?: boolean;
}

export interface LocatedDataset {
  dataset: DatasetName;
  /** Directory the files were found in; null for the generated synthetic dataset. */
  dir: string | null;
  /** Absolute paths of each requested part's files, in the catalog's order. */
  files: Partial<Record<Part, string[]>>;
  source: 'data-dir' | 'system' | 'download' | 'generated';
}

export function defaultDataDir(): string {
  return path.resolve(process.env.EAS_DATA_DIR || path.join('.eas', 'data'));
}

/** Directories searched, in order: the data directory (per-dataset folder first), then system locations. */
export function candidateDirs(spec: DatasetSpec, dataDir: string): { dir: string; source: 'data-dir' | 'system' }[] {
  const own = path.join(dataDir, spec.name);
  const local = [own, ...spec.subdirs.map((s) => path.join(own, s)), dataDir, ...spec.subdirs.map((s) => path.join(dataDir, s))];
  return [...local.map((dir) => ({ dir, source: 'data-dir' as const })), ...spec.systemDirs.map((dir) => ({ dir, source: 'system' as const }))];
}

function findFile(spec: DatasetSpec, dir: string, name: string): string | null {
  for (const candidate of [name, ...(spec.alternatives[name] ?? [])]) {
    const p = path.join(dir, candidate);
    if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  return null;
}

function requiredFiles(spec: DatasetSpec, parts: readonly Part[]): string[] {
  return parts.flatMap((p) => {
    const files = spec.parts[p];
    if (!files) throw new Error(`dataset '${spec.name}' has no '${p}' part (it has: ${Object.keys(spec.parts).join(', ')})`);
    return [...files];
  });
}

function findIn(spec: DatasetSpec, dir: string, parts: readonly Part[]): Partial<Record<Part, string[]>> | null {
  const files: Partial<Record<Part, string[]>> = {};
  for (const part of parts) {
    const found = (spec.parts[part] ?? []).map((f) => findFile(spec, dir, f));
    if (found.some((f) => f === null)) return null;
    files[part] = found as string[];
  }
  return files;
}

/** Download one published file (or archive, then extracted) into the dataset directory. */
export async function installDownload(dl: DownloadSpec, datasetDir: string, opts: LocateOptions): Promise<void> {
  const url = opts.mirror ? new URL(dl.file, opts.mirror.endsWith('/') ? opts.mirror : opts.mirror + '/').toString() : dl.url;
  if (!dl.extract) {
    await downloadFile(url, path.join(datasetDir, dl.file), { md5: dl.md5, progress: opts.progress ?? true });
    return;
  }
  const { dir, strip } = dl.extract;
  const archive = path.join(datasetDir, dl.file);
  if (!fs.existsSync(archive)) await downloadFile(url, archive, { md5: dl.md5, progress: opts.progress ?? true });
  try {
    await publishDirAtomic(path.join(datasetDir, dir), (tmp) => tar.x({ file: archive, cwd: tmp, strip }));
  } catch (err) {
    throw new Error(`${archive}: cannot extract (${(err as Error).message}); delete it and fetch again`, { cause: err });
  }
  fs.rmSync(archive, { force: true });
}

/** The dataset is not here: the error names it, this host and the folder its files belong in, then every place searched. */
function missing(spec: DatasetSpec, dataDir: string, parts: readonly Part[], reason: string, cause?: unknown): DatasetUnavailableError {
  const err = new DatasetUnavailableError(missingMessage(spec, dataDir, parts, reason), spec.name, path.join(dataDir, spec.name));
  if (cause !== undefined) err.cause = cause;
  return err;
}

function missingMessage(spec: DatasetSpec, dataDir: string, parts: readonly Part[], reason: string): string {
  const files = requiredFiles(spec, parts);
  const where = candidateDirs(spec, dataDir).map((c) => `  ${c.dir}`);
  const urls = spec.downloads.filter((d) => d.provides.some((f) => files.includes(f))).map((d) => `  ${d.url}${d.extract ? ` (extract it: the files are in ${d.extract.dir}/)` : ''}`);
  return [
    `dataset '${spec.name}' not found${reason ? ` (${reason})` : ''} on host ${os.hostname()}: its files belong in ${path.join(dataDir, spec.name)}.`,
    `Put these files: ${files.join(', ')}`,
    `into ${path.join(dataDir, spec.name)}`,
    'Searched, in order:',
    ...where,
    `Published at ${spec.homepage}:`,
    ...urls,
    `Or run \`eas data fetch ${spec.name} --dir ${dataDir}\` on a machine with network access.`,
  ].join('\n');
}

/**
 * Find a dataset's files: in the data directory, then known system locations, then (only when `download` is
 * allowed) by downloading the published files with a checksum check. Otherwise an error saying which files to put
 * where.
 */
export async function locateDataset(name: DatasetName | string, opts: LocateOptions = {}): Promise<LocatedDataset> {
  const parsed = DatasetNameSchema.safeParse(name);
  if (!parsed.success) throw new Error(`unknown dataset '${name}', expected one of: ${DatasetNameSchema.options.join(', ')}`);
  if (parsed.data === 'synthetic') return { dataset: 'synthetic', dir: null, files: {}, source: 'generated' };
  const spec = DATASETS[parsed.data as RealDatasetName];
  const dataDir = path.resolve(opts.dataDir ?? defaultDataDir());
  const parts = opts.parts ?? spec.defaultParts;
  requiredFiles(spec, parts);
  const search = () => {
    for (const c of candidateDirs(spec, dataDir)) {
      const files = findIn(spec, c.dir, parts);
      if (files) return { dataset: spec.name, dir: c.dir, files, source: c.source };
    }
    return null;
  };
  const found = search();
  if (found) return found;
  if (!opts.download) return Promise.reject(missing(spec, dataDir, parts, 'downloading not allowed'));

  const datasetDir = path.join(dataDir, spec.name);
  const needed = requiredFiles(spec, parts).filter((f) => !findFile(spec, datasetDir, f) && !spec.subdirs.some((s) => findFile(spec, path.join(datasetDir, s), f)));
  const downloads = spec.downloads.filter((d) => d.provides.some((f) => needed.includes(f)));
  try {
    for (const dl of downloads) await installDownload(dl, datasetDir, opts);
  } catch (err) {
    const e = missing(spec, dataDir, parts, 'download failed', err);
    e.message = `${e.message}\nThe download: ${(err as Error).message}`;
    throw e;
  }
  const after = search();
  if (!after) throw missing(spec, dataDir, parts, 'downloaded files did not provide everything');
  return { ...after, source: 'download' };
}
