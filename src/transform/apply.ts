import type * as tf from '@tensorflow/tfjs';
import { type Action, ActionSchema, type Arch, type SearchSpace, validateArch } from '../arch';
import { DEFAULT_BN_EPSILON } from '../nn/model';
import { type Weights, cloneWeights, validateWeights } from '../nn/weights';
import type { Rng } from '../util/rng';
import { type DeeperOptions, DeeperOptionsSchema, net2deeper } from './deeper';
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

/**
 * Apply a whole sequence of Net2Wider / Net2Deeper actions (the paper: 4 wider steps then 5 deeper steps), each on the
 * result of the previous one. Pure: the inputs are not modified; the result owns fresh weight arrays.
 */
export function applyActions(arch: Arch, weights: Weights, actions: readonly Action[], opts: ApplyOptions): Network {
  validateArch(arch, opts.space);
  validateWeights(arch, weights);
  const widerOpts = WiderOptionsSchema.parse(opts.wider ?? {});
  const deeperOpts = DeeperOptionsSchema.parse(opts.deeper ?? {});
  let current = arch;
  const w = cloneWeights(weights);
  actions.forEach((raw, i) => {
    const parsed = ActionSchema.safeParse(raw);
    if (!parsed.success) throw new TransformError(i, `not a valid action: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'value'}: ${x.message}`).join('; ')}`);
    const action = parsed.data;
    try {
      if (action.type === 'wider') {
        current = net2wider(current, w, action, opts.space, opts.rng, widerOpts);
      } else {
        current = net2deeper(current, w, action, opts.space, opts.batch, opts.bnEpsilon ?? DEFAULT_BN_EPSILON, deeperOpts, opts.rng);
      }
    } catch (err) {
      throw new TransformError(i, `${describeAction(action)} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
  validateWeights(current, w);
  return { arch: current, weights: w };
}
