import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { DataFileError } from './types';

/*
 * A reader for just what MATLAB level-5 MAT-files such as SVHN's hold: the 128-byte header, miMATRIX elements
 * (possibly inside miCOMPRESSED zlib elements) of numeric classes, little-endian.
 * Why not an npm package: the one level-5 reader on npm (mat-for-js) turns arrays into nested JavaScript arrays,
 * which cannot hold SVHN's extra set (1.6 G values); here numeric data stays a typed array (a view, for uint8).
 */

const HEADER_BYTES = 128;
const TAG_BYTES = 8;

const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16 } as const;

/** mxCLASS codes of numeric arrays, by the name the reader reports. */
const NUMERIC_CLASSES: Record<number, MatClass> = { 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32' };
export type MatClass = 'double' | 'single' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32';

export type MatData = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export interface MatArray {
  name: string;
  /** The MATLAB class of the variable (what `class(x)` says). */
  mxClass: MatClass;
  /** MATLAB dimensions; data is in MATLAB's column-major order (first index fastest). */
  dims: number[];
  /** Values as stored: MATLAB may store a double array with small integer values as uint8 to save space. */
  data: MatData;
}

interface Element {
  type: number;
  /** Payload, without the tag. */
  body: Uint8Array;
  /** Offset of the next element. */
  next: number;
}

function readElement(buf: Uint8Array, view: DataView, at: number, where: string, file: string): Element {
  if (at + 4 > buf.length) throw new DataFileError(file, `${where}: truncated data element tag at byte ${at}`);
  const first = view.getUint32(at, true);
  // Small data element format: type and size packed in the first 4 bytes, data in the next 4.
  if (first >>> 16 !== 0) {
    const type = first & 0xffff;
    const size = first >>> 16;
    if (size > 4 || at + 8 > buf.length) throw new DataFileError(file, `${where}: malformed small data element at byte ${at}`);
    return { type, body: buf.subarray(at + 4, at + 4 + size), next: at + 8 };
  }
  if (at + TAG_BYTES > buf.length) throw new DataFileError(file, `${where}: truncated data element tag at byte ${at}`);
  const type = first;
  const size = view.getUint32(at + 4, true);
  const start = at + TAG_BYTES;
  if (start + size > buf.length) {
    throw new DataFileError(file, `${where}: data element at byte ${at} declares ${size} bytes but only ${buf.length - start} remain (file truncated?)`);
  }
  // Elements are padded to 8 bytes, except compressed ones, whose size is the exact zlib stream length.
  const padded = type === MI.COMPRESSED ? size : Math.ceil(size / 8) * 8;
  return { type, body: buf.subarray(start, start + size), next: Math.min(start + padded, buf.length) };
}

/** A copy in a fresh, aligned ArrayBuffer (Buffer#slice would return a view of the whole file instead). */
function ownBytes(bytes: Uint8Array): ArrayBuffer {
  return new Uint8Array(bytes).buffer;
}

function typedData(type: number, body: Uint8Array, where: string, file: string): MatData {
  // Copy anything wider than a byte: the body's offset need not be aligned for a typed-array view.
  const copy = (bytesPer: number) => {
    if (body.length % bytesPer !== 0) throw new DataFileError(file, `${where}: ${body.length} data bytes is not a multiple of ${bytesPer}`);
    return ownBytes(body);
  };
  switch (type) {
    case MI.UINT8:
      return body;
    case MI.INT8:
      return new Int8Array(body.buffer, body.byteOffset, body.length);
    case MI.UINT16:
      return new Uint16Array(copy(2));
    case MI.INT16:
      return new Int16Array(copy(2));
    case MI.UINT32:
      return new Uint32Array(copy(4));
    case MI.INT32:
      return new Int32Array(copy(4));
    case MI.SINGLE:
      return new Float32Array(copy(4));
    case MI.DOUBLE:
      return new Float64Array(copy(8));
    default:
      throw new DataFileError(file, `${where}: unsupported numeric storage type ${type}`);
  }
}

/** Parse the body of an miMATRIX element; returns null for arrays this reader does not model (cell, struct, sparse, char…). */
function parseMatrix(body: Uint8Array, file: string, index: number): MatArray | null {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const where = `variable #${index + 1}`;
  const flags = readElement(body, view, 0, `${where} array flags`, file);
  if (flags.type !== MI.UINT32 || flags.body.length < 8) throw new DataFileError(file, `${where}: malformed array flags subelement`);
  const flagWord = new DataView(flags.body.buffer, flags.body.byteOffset, 8).getUint32(0, true);
  const classCode = flagWord & 0xff;
  const complex = (flagWord & 0x800) !== 0;
  const dimsEl = readElement(body, view, flags.next, `${where} dimensions`, file);
  if (dimsEl.type !== MI.INT32) throw new DataFileError(file, `${where}: dimensions subelement has type ${dimsEl.type}, expected miINT32`);
  const dims = Array.from(new Int32Array(ownBytes(dimsEl.body)));
  const nameEl = readElement(body, view, dimsEl.next, `${where} name`, file);
  const name = Buffer.from(nameEl.body).toString('latin1');
  const mxClass = NUMERIC_CLASSES[classCode];
  if (!mxClass) return null;
  if (complex) throw new DataFileError(file, `variable '${name}': complex arrays are not supported`);
  const real = readElement(body, view, nameEl.next, `variable '${name}' data`, file);
  const data = typedData(real.type, real.body, `variable '${name}'`, file);
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new DataFileError(file, `variable '${name}': ${data.length} values stored but dimensions ${dims.join('×')} need ${expected}`);
  }
  return { name, mxClass, dims, data };
}

function inflate(body: Uint8Array, file: string, index: number): Uint8Array {
  try {
    return zlib.inflateSync(body);
  } catch (err) {
    throw new DataFileError(file, `compressed element #${index + 1} is not a valid zlib stream (${(err as Error).message}); the file is truncated or corrupt`);
  }
}

/** Parse a level-5 MAT-file held in memory; variables by name. */
export function parseMat(buf: Uint8Array, file: string): Map<string, MatArray> {
  if (buf.length < HEADER_BYTES) throw new DataFileError(file, `only ${buf.length} bytes; a level-5 MAT-file starts with a 128-byte header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const text = Buffer.from(buf.subarray(0, 116)).toString('latin1');
  const endian = String.fromCharCode(buf[126], buf[127]);
  const version = view.getUint16(124, true);
  if (endian === 'MI') throw new DataFileError(file, 'big-endian MAT-files are not supported');
  if (endian !== 'IM' || !text.startsWith('MATLAB')) throw new DataFileError(file, 'not a level-5 MAT-file (bad header: expected "MATLAB…" text and the "IM" endian indicator)');
  if (version !== 0x0100) {
    throw new DataFileError(file, `MAT-file version 0x${version.toString(16)} is not level 5 (v7.3 HDF5 files are not supported: re-save with -v7)`);
  }
  const vars = new Map<string, MatArray>();
  let at = HEADER_BYTES;
  for (let index = 0; at < buf.length; index++) {
    const el = readElement(buf, view, at, `element #${index + 1}`, file);
    at = el.next;
    let matrix: Uint8Array;
    if (el.type === MI.COMPRESSED) {
      const inner = inflate(el.body, file, index);
      const innerView = new DataView(inner.buffer, inner.byteOffset, inner.byteLength);
      const innerEl = readElement(inner, innerView, 0, `compressed element #${index + 1}`, file);
      if (innerEl.type !== MI.MATRIX) continue;
      matrix = innerEl.body;
    } else if (el.type === MI.MATRIX) {
      matrix = el.body;
    } else {
      continue;
    }
    const arr = parseMatrix(matrix, file, index);
    if (arr) vars.set(arr.name, arr);
  }
  return vars;
}

export function readMatFile(file: string): Map<string, MatArray> {
  return parseMat(fs.readFileSync(file), file);
}
