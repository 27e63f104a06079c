import type { Rng } from './rng';

/** How to draw and apply one random step of a space (the transform checks' random sequences). */
export interface RandomSteps<N, A> {
  /** A random valid wider action on `net`, or undefined when nothing can grow. */
  wider(net: N, rng: Rng): A | undefined;
  deeper(net: N, rng: Rng): A | undefined;
  apply(net: N, action: A): N;
}

/**
 * A random valid sequence of 1..(maxWider + maxDeeper) steps, wider and deeper interleaved in random order, each on
 * the result of the previous (a step that cannot be taken is skipped).
 */
export function randomStepSequence<N, A>(start: N, rng: Rng, steps: RandomSteps<N, A>, opts: { maxWider?: number; maxDeeper?: number } = {}): A[] {
  const kinds: ('wider' | 'deeper')[] = [];
  const nWider = rng.int(0, opts.maxWider ?? 2);
  const nDeeper = rng.int(nWider === 0 ? 1 : 0, opts.maxDeeper ?? 3);
  for (let i = 0; i < nWider; i++) kinds.push('wider');
  for (let i = 0; i < nDeeper; i++) kinds.push('deeper');
  rng.shuffle(kinds);
  const actions: A[] = [];
  let current = start;
  for (const kind of kinds) {
    const action = kind === 'wider' ? steps.wider(current, rng) : steps.deeper(current, rng);
    if (action === undefined) continue;
    actions.push(action);
    current = steps.apply(current, action);
  }
  return actions;
}
