import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Rng } from '../../src/util/rng';
import type { ImageSet } from '../../src/data/types';

/*
 * Writers of small files in the datasets' real formats, for tests: CIFAR-10 binary batches, MATLAB level-5
 * MAT-files (as SVHN ships them), and IDX files (gzipped, as Fashion-MNIST ships them).
 */

/** Random uint8 HWC images with labels 0..classes-1. */
export function randomImageSet(count: number, shape: [number, number, number], classes: number, seed: number): ImageSet {
  const rng = Rng.fromSeed(seed);
  const images = new Uint8Array(count * shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < images.length; i++) images[i] = rng.int(0, 255);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = rng.int(0, classes - 1);
  return { images, labels, count, shape, classes };
}

/** CIFAR-10 binary version: per record 1 label byte, then the R, G and B planes (32×32 row-major). */
export function cifar10BatchBytes(set: ImageSet): Uint8Array {
  const plane = 32 * 32;
  const out = new Uint8Array(set.count * (1 + 3 * plane));
  for (let n = 0; n < set.count; n++) {
    const rec = n * (1 + 3 * plane);
    out[rec] = set.labels[n];
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[rec + 1 + c * plane + p] = set.images[n * 3 * plane + p * 3 + c];
  }
  return out;
}

export function writeCifar10Batch(file: string, set: ImageSet): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, cifar10BatchBytes(set));
}

/** Writes data_batch_1..5.bin (the training set split in five) and test_batch.bin into `dir`. */
export function writeCifar10Dir(dir: string, train: ImageSet, test: ImageSet): void {
  const per = Math.ceil(train.count / 5);
  const pixels = 32 * 32 * 3;
  for (let b = 0; b < 5; b++) {
    const from = Math.min(b * per, train.count);
    const to = Math.min(from + per, train.count);
    const part: ImageSet = { ...train, count: to - from, images: train.images.subarray(from * pixels, to * pixels), labels: train.labels.subarray(from, to) };
    writeCifar10Batch(path.join(dir, `data_batch_${b + 1}.bin`), part);
  }
  writeCifar10Batch(path.join(dir, 'test_batch.bin'), test);
}

// ---- MATLAB level-5 MAT-file writer -------------------------------------------------------------------------

const MI_INT8 = 1;
const MI_UINT8 = 2;
const MI_INT32 = 5;
const MI_UINT32 = 6;
const MI_DOUBLE = 9;
const MI_MATRIX = 14;
const MI_COMPRESSED = 15;
const MX_CLASS = { double: 6, uint8: 9 } as const;

export interface MatVariable {
  name: string;
  mxClass: 'double' | 'uint8';
  dims: number[];
  /** Values in MATLAB column-major order. */
  values: ArrayLike<number>;
  /** How the values are stored: MATLAB stores a double array of small integers as miUINT8 to save space. */
  storeAs?: 'double' | 'uint8';
}

function element(type: number, body: Uint8Array): Buffer {
  // Small data element format for payloads of up to 4 bytes, as MATLAB writes short names.
  if (body.length <= 4 && type !== MI_MATRIX) {
    const out = Buffer.alloc(8);
    out.writeUInt32LE(type | (body.length << 16), 0);
    out.set(body, 4);
    return out;
  }
  const padded = Math.ceil(body.length / 8) * 8;
  const out = Buffer.alloc(8 + padded);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(body.length, 4);
  out.set(body, 8);
  return out;
}

function matrixElement(v: MatVariable): Buffer {
  const flags = Buffer.alloc(8);
  flags.writeUInt32LE(MX_CLASS[v.mxClass], 0);
  const dims = Buffer.alloc(4 * v.dims.length);
  v.dims.forEach((d, i) => dims.writeInt32LE(d, 4 * i));
  const storeAs = v.storeAs ?? v.mxClass;
  const data = storeAs === 'uint8' ? Buffer.from(Uint8Array.from(v.values)) : Buffer.from(Float64Array.from(v.values).buffer);
  const body = Buffer.concat([
    element(MI_UINT32, flags),
    element(MI_INT32, dims),
    element(MI_INT8, Buffer.from(v.name, 'latin1')),
    element(storeAs === 'uint8' ? MI_UINT8 : MI_DOUBLE, data),
  ]);
  const out = Buffer.alloc(8 + body.length);
  out.writeUInt32LE(MI_MATRIX, 0);
  out.writeUInt32LE(body.length, 4);
  out.set(body, 8);
  return out;
}

/** A level-5 MAT-file: 128-byte header, then one miMATRIX per variable, each zlib-compressed when asked (as -v7 saves). */
export function matFileBytes(vars: MatVariable[], opts: { compress: boolean }): Buffer {
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024', 0, 'latin1');
  header.fill(0, 116, 124);
  header.writeUInt16LE(0x0100, 124);
  header.write('IM', 126, 'latin1');
  const elements = vars.map((v) => {
    const m = matrixElement(v);
    if (!opts.compress) return m;
    const z = zlib.deflateSync(m);
    const tag = Buffer.alloc(8);
    tag.writeUInt32LE(MI_COMPRESSED, 0);
    tag.writeUInt32LE(z.length, 4);
    return Buffer.concat([tag, z]);
  });
  return Buffer.concat([header, ...elements]);
}

/** SVHN cropped-digits layout: X 32×32×3×N uint8 (column-major), y N×1 double with 10 for the digit 0. */
export function svhnMatBytes(set: ImageSet, opts: { compress: boolean; labelsStoredAs?: 'double' | 'uint8' }): Buffer {
  const n = set.count;
  const X = new Uint8Array(32 * 32 * 3 * n);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < 32; r++) {
      for (let c = 0; c < 32; c++) {
        for (let ch = 0; ch < 3; ch++) X[r + 32 * c + 1024 * ch + 3072 * i] = set.images[i * 3072 + (r * 32 + c) * 3 + ch];
      }
    }
  }
  const y = Array.from(set.labels, (l) => (l === 0 ? 10 : l));
  return matFileBytes(
    [
      { name: 'X', mxClass: 'uint8', dims: [32, 32, 3, n], values: X },
      { name: 'y', mxClass: 'double', dims: [n, 1], values: y, storeAs: opts.labelsStoredAs ?? 'double' },
    ],
    opts,
  );
}

export function writeSvhnMat(file: string, set: ImageSet, opts: { compress: boolean; labelsStoredAs?: 'double' | 'uint8' }): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, svhnMatBytes(set, opts));
}

// ---- IDX (MNIST / Fashion-MNIST) ------------------------------------------------------------------------------

export function idxBytes(magic: number, dims: number[], data: Uint8Array, opts: { gzip: boolean }): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const raw = Buffer.concat([header, data]);
  return opts.gzip ? zlib.gzipSync(raw) : raw;
}

/** Writes the four Fashion-MNIST files (gzipped by default, with the published names) into `dir`. */
export function writeFashionMnistDir(dir: string, train: ImageSet, test: ImageSet, opts: { gzip: boolean } = { gzip: true }): void {
  fs.mkdirSync(dir, { recursive: true });
  const ext = opts.gzip ? '.gz' : '';
  for (const [prefix, set] of [['train', train], ['t10k', test]] as const) {
    const [h, w] = set.shape;
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), idxBytes(2051, [set.count, h, w], set.images, opts));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`), idxBytes(2049, [set.count], set.labels, opts));
  }
}
