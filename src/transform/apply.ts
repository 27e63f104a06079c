import type * as tf from '@tensorflow/tfjs';
import { type Action, ActionSchema, type Arch, type SearchSpace, validateArch } from '../arch';
import { DEFAULT_BN_EPSILON } from '../nn/model';
import { type Weights, cloneWeights, validateWeights } from '../nn/weights';
import { Rng, deriveSeed } from '../util/rng';
import { type DeeperOptions, DeeperOptionsSchema, MomentTracker, ParentMoments, net2deeper } from './deeper';
import { type WiderOptions, WiderOptionsSchema, net2wider } from './wider';

export interface Network {
  arch: Arch;
  weights: Weights;
}

export interface ApplyOptions {
  space: SearchSpace;
  /** Draws the Net2Wider remappings (and random splits/noise when enabled). */
  rng: Rng;
  /** Real images [n, h, w, c] for Net2Deeper's BatchNorm statistics; required when any action is 'deeper'. Not disposed. */
  batch?: tf.Tensor;
  /**
   * The parent's activation moments on `batch` (ParentMoments.compute of this arch and weights), when the caller keeps
   * them across children of the same parent; computed here otherwise.
   */
  parentMoments?: ParentMoments;
  /**
   * Symmetry breaking. Omitted = the paper's exact Eq. 1–3 (equal split, no noise); the search passes its config's
   * `transform` (TransformOptions: random split, noise 1e-2 wider / 1e-3 deeper by default).
   */
  wider?: WiderOptions;
  deeper?: DeeperOptions;
  /** Must equal the ε of the models that will run the child (buildModel's bnEpsilon). */
  bnEpsilon?: number;
}

/** A transformation step failed; `actionIndex` says which, `cause` holds the underlying (often ArchError) error. */
export class TransformError extends Error {
  constructor(
    readonly actionIndex: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`action ${actionIndex}: ${detail}`, options);
    this.name = 'TransformError';
  }
}

export function describeAction(a: Action): string {
  return a.type === 'wider' ? `wider [${a.layers.join(', ')}]` : `deeper block ${a.block} position ${a.position}${a.kernel !== undefined ? ` kernel ${a.kernel}` : ''}`;
}

/** A transformed network and its noise-free twin. */
export interface AppliedNetwork extends Network {
  /**
   * The same transformation without the symmetry-breaking noise: the same remappings, splits and BatchNorm statistics,
   * so it computes the parent's function exactly; the search checks it and saves `weights`. It is `weights` itself when
   * no noise is asked for.
   */
  exact: Weights;
}

/**
 * Apply a whole sequence of Net2Wider / Net2Deeper actions (the paper: 4 wider steps then 5 deeper steps), each on the
 * result of the previous one. Pure: the inputs are not modified; the result owns fresh weight arrays.
 * With noise, the noise-free twin is carried along (array copies), so checking the twin checks exactly what was saved,
 * up to the noise. Net2Deeper's statistics are those of the twin, read from the parent's forward pass.
 */
export function applyActions(arch: Arch, weights: Weights, actions: readonly Action[], opts: ApplyOptions): AppliedNetwork {
  validateArch(arch, opts.space);
  validateWeights(arch, weights);
  const widerOpts = WiderOptionsSchema.parse(opts.wider ?? {});
  const deeperOpts = DeeperOptionsSchema.parse(opts.deeper ?? {});
  const noisy = (widerOpts.noise ?? 0) > 0 || (deeperOpts.noise ?? 0) > 0;
  // Noise draws from its own stream, seeded from the rng's state without advancing it, so the remappings and splits are
  // the same whether (or however much) noise is added.
  const noiseRng = noisy ? Rng.fromSeed(deriveSeed(0, 'transform-noise', ...opts.rng.state())) : opts.rng;
  let current = arch;
  const w = cloneWeights(weights);
  // The twin shares every array the noise has not touched: weight arrays are replaced, never modified in place.
  const exact = noisy ? { ...w } : undefined;
  // Every Net2Deeper statistic comes from the parent's one forward pass, mapped through the steps (MomentTracker); the
  // pass runs only when some action is a deeper one.
  const deepens = actions.some((a) => (a as { type?: unknown })?.type === 'deeper');
  const parentMoments = opts.parentMoments ?? (deepens && opts.batch ? ParentMoments.compute(arch, weights, opts.batch, opts.bnEpsilon ?? DEFAULT_BN_EPSILON) : undefined);
  const moments = parentMoments ? new MomentTracker(parentMoments, arch) : undefined;
  actions.forEach((raw, i) => step(raw, i));
  function step(raw: Action, i: number): void {
    const parsed = ActionSchema.safeParse(raw);
    if (!parsed.success) throw new TransformError(i, `not a valid action: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'value'}: ${x.message}`).join('; ')}`);
    const action = parsed.data;
    try {
      if (action.type === 'wider') {
        const before = current;
        current = net2wider(current, w, action, opts.space, opts.rng, widerOpts, noiseRng, exact, (index, g) => moments?.widened(before, index, g));
      } else {
        current = net2deeper(current, w, action, opts.space, { batch: opts.batch, bnEpsilon: opts.bnEpsilon, opts: deeperOpts, rng: noiseRng, exact, moments });
      }
    } catch (err) {
      throw new TransformError(i, `${describeAction(action)} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  validateWeights(current, w);
  if (exact) validateWeights(current, exact);
  return { arch: current, weights: w, exact: exact ?? w };
}
