import { JsonFileError } from '../util/files';

/**
 * A checkpoint-like file of the run store (network, probe, policy) that is missing or unusable. Named CheckpointError
 * like src/checkpoint's (without loading tfjs): retryable while the file does not exist, non-retryable once it does.
 */
export class StoreFileError extends JsonFileError {
  override name = 'CheckpointError';
}
