import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';

/** A JSON file that cannot be read, or whose content is not what its reader expects; the message names the file. */
export class JsonFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${detail}`, options);
    this.name = 'JsonFileError';
  }
}

/** An error naming a file, as thrown by readJsonFile: the caller's own class keeps its classification (see activities/errors). */
export type FileErrorClass = new (file: string, detail: string, options?: { cause?: unknown }) => Error;

/**
 * A JSON file another process wrote (a run-store artifact, a checkpoint's meta), validated by `schema`: the error names
 * the file, `what` it should be and the first fields that are off, instead of an undefined read later.
 */
export function readJsonFile<T>(file: string, schema: z.ZodType<T>, what: string, ErrorClass: FileErrorClass = JsonFileError): T {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ErrorClass(file, `cannot read the ${what} (${(err as Error).message})`, { cause: err });
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new ErrorClass(file, `not a valid ${what}: ${r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export function readJsonIfExists<T>(file: string): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** Append one line (a log of attempts, say); a torn last line is the worst a crash can leave. */
export function appendLine(file: string, line: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, line.endsWith('\n') ? line : line + '\n');
}
