/** The loss became NaN or infinite: the run cannot continue with this recipe (e.g. the learning rate is too high). */
export class DivergedError extends Error {
  readonly kind = 'diverged' as const;
  constructor(
    message: string,
    readonly epoch?: number,
    readonly step?: number,
  ) {
    super(message);
    this.name = 'DivergedError';
  }
}

/** The job cannot run as specified (bad spec, missing/corrupt network or data files, mismatched checkpoint). */
export class BadInputError extends Error {
  readonly kind = 'bad-input' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BadInputError';
  }
}

/** The trainer process died without reporting a result (crash, OOM kill, signal, protocol violation). */
export class TrainerCrashedError extends Error {
  readonly kind = 'crashed' as const;
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderrTail: string,
  ) {
    super(message);
    this.name = 'TrainerCrashedError';
  }
}

/** The trainer reported an unexpected internal error (a bug, not bad input). */
export class TrainerInternalError extends Error {
  readonly kind = 'internal' as const;
  constructor(message: string) {
    super(message);
    this.name = 'TrainerInternalError';
  }
}

/** Training was stopped through an AbortSignal. */
export class TrainAbortedError extends Error {
  readonly kind = 'aborted' as const;
  constructor(message = 'training was aborted') {
    super(message);
    this.name = 'TrainAbortedError';
  }
}
