import * as fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';

/**
 * Which failures a retry could fix. Temporal retries an activity (bounded by the workflow's retry policy, possibly on
 * another host) unless the failure is non-retryable; non-retryable is kept for what cannot get better by trying again.
 *
 * Works on the error's name and fields rather than its class, so that an error serialised by a child process (the
 * control child, the trainer) is classified the same as one thrown here, and so that this module pulls in no tfjs.
 */

/** What is needed to classify an error: its name, message, and (checkpoint/data errors) the file it names, (fs) its code. */
export interface ErrorLike {
  name: string;
  message: string;
  file?: string;
  code?: string;
  /** Set by a thrower that knows: wins over the rules below. */
  nonRetryable?: boolean;
  /** An explicit failure type (ApplicationFailure.type). */
  type?: string;
}

export interface Classified {
  /** The ApplicationFailure type the workflow sees. */
  type: string;
  nonRetryable: boolean;
  message: string;
}

/** The transformed network does not compute its parent's function: a bug or numerical trouble that repeats on every try. */
export class FunctionNotPreservedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FunctionNotPreservedError';
  }
}

export { NON_RETRYABLE_TYPES } from './options';

// Filesystem errors that a later try (or another host's view of a network filesystem) can fix.
const TRANSIENT_FS_CODES = new Set(['ENOENT', 'ESTALE', 'EIO', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'ETIMEDOUT', 'ECONNRESET', 'ENOSPC', 'EACCES']);

/**
 * The rules:
 * - bad configuration or input, an invalid architecture, a function that is not preserved, an artifact made from other
 *   inputs: non-retryable (ConfigError, BadInput, ArchError, FunctionNotPreserved, InputsChanged);
 * - a checkpoint error naming a file that does not exist (yet, or on this host's view of a shared store): retryable
 *   (CheckpointMissing); naming a file that exists but is corrupt: non-retryable (CheckpointCorrupt);
 * - a data file that cannot be used on this host (missing, truncated copy): retryable (DataUnavailable), another host or
 *   a repaired copy can do it, and the workflow's attempts are bounded;
 * - filesystem errors (ENOENT, ESTALE, EIO, …), a crashed child process, anything unknown: retryable.
 */
export function classifyError(err: ErrorLike, exists: (file: string) => boolean = fs.existsSync): Classified {
  const message = err.message;
  if (err.type !== undefined && err.nonRetryable !== undefined) return { type: err.type, nonRetryable: err.nonRetryable, message };
  switch (err.name) {
    case 'ConfigError':
      return { type: 'ConfigError', nonRetryable: true, message };
    case 'ZodError':
    case 'BadInputError':
      return { type: 'BadInput', nonRetryable: true, message };
    case 'ArchError':
    case 'TransformError':
    case 'WeightsError':
      return { type: 'ArchError', nonRetryable: true, message };
    case 'FunctionNotPreservedError':
      return { type: 'FunctionNotPreserved', nonRetryable: true, message };
    case 'InputsChangedError':
      return { type: 'InputsChanged', nonRetryable: true, message };
    case 'CheckpointError':
    case 'ControllerCheckpointError':
      return err.file !== undefined && exists(err.file)
        ? { type: 'CheckpointCorrupt', nonRetryable: true, message }
        : { type: 'CheckpointMissing', nonRetryable: false, message };
    case 'DataFileError':
    case 'DatasetUnavailableError':
      return { type: 'DataUnavailable', nonRetryable: false, message };
  }
  if (err.code !== undefined && TRANSIENT_FS_CODES.has(err.code)) return { type: `FileSystem:${err.code}`, nonRetryable: false, message };
  return { type: err.name || 'Error', nonRetryable: err.nonRetryable ?? false, message };
}

/** The classifiable fields of a thrown value (what a child process sends its parent). */
export function errorLike(err: unknown): ErrorLike & { stack?: string } {
  if (err instanceof Error) {
    const e = err as Error & { file?: unknown; code?: unknown; type?: unknown; nonRetryable?: unknown };
    return {
      name: e.name,
      message: e.message,
      stack: e.stack,
      ...(typeof e.file === 'string' ? { file: e.file } : {}),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
      ...(typeof e.nonRetryable === 'boolean' ? { nonRetryable: e.nonRetryable } : {}),
    };
  }
  return { name: 'Error', message: String(err) };
}

export { StoreFileError } from '../store/errors';

/** Any failure as the ApplicationFailure the workflow sees: typed, and non-retryable only when a retry cannot help. */
export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const c = classifyError(errorLike(err));
  return ApplicationFailure.create({ type: c.type, message: c.message, nonRetryable: c.nonRetryable, cause: err instanceof Error ? err : undefined });
}
