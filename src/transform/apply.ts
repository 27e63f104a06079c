import type * as tf from '@tensorflow/tfjs';
import { type Action, ActionSchema, type Arch, type SearchSpace, validateArch } from '../arch';
import { DEFAULT_BN_EPSILON } from '../nn/model';
import { type Weights, cloneWeights, kernelName, validateWeights } from '../nn/weights';
import { Rng, deriveSeed } from '../util/rng';
import { type DeeperOptions, DeeperOptionsSchema, MomentTracker, ParentMoments, addRelativeNoise, arrayStd, net2deeper } from './deeper';
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
   * no noise is asked for; otherwise the two share every array but the noised kernels.
   */
  exact: Weights;
}

/**
 * Apply a whole sequence of Net2Wider / Net2Deeper actions (the paper: 4 wider steps then 5 deeper steps), each on the
 * result of the previous one. Pure: the inputs are not modified; the result owns fresh weight arrays.
 *
 * The steps build the exact (noise-free) child; the symmetry-breaking noise goes on afterwards, on copies of the kernels
 * it touches, so checking `exact` checks exactly what was saved, up to the noise, and no twin has to be carried
 * through the steps. Noise, as the authors add it (apply_noise, type 'normal': N(0, (ratio · the kernel's std)²)):
 * - Net2Wider (`wider.noise`, the authors' 1e-2): on the incoming weights of every replica, i.e. each widened parent
 *   layer's kernel entries past the layer's width in the parent (one draw per replica, however many steps made it);
 * - Net2Deeper (`deeper.noise`, the authors' 1e-3): on every tap of each inserted layer's kernel (an exact identity's
 *   gradients start on its diagonal taps only; the noise gives every tap a start).
 * It draws from its own stream, seeded from the rng's state without advancing it, so the remappings and splits are the
 * same whether (or however much) noise is added. Net2Deeper's statistics come from the parent's forward pass
 * (ParentMoments, MomentTracker).
 */
export function applyActions(arch: Arch, weights: Weights, actions: readonly Action[], opts: ApplyOptions): AppliedNetwork {
  validateArch(arch, opts.space);
  validateWeights(arch, weights);
  const widerOpts = WiderOptionsSchema.parse(opts.wider ?? {});
  const deeperOpts = DeeperOptionsSchema.parse(opts.deeper ?? {});
  const noiseSeed = deriveSeed(0, 'transform-noise', ...opts.rng.state());
  const bnEpsilon = opts.bnEpsilon ?? DEFAULT_BN_EPSILON;
  let current = arch;
  const w = cloneWeights(weights);
  const deepens = actions.some((a) => (a as { type?: unknown })?.type === 'deeper');
  const parentMoments = opts.parentMoments ?? (deepens && opts.batch ? ParentMoments.compute(arch, weights, opts.batch, bnEpsilon) : undefined);
  const moments = parentMoments ? new MomentTracker(parentMoments, arch) : undefined;
  // Where the noise goes, in the order the steps reach them: widened parent layers (with their width in the parent) and
  // inserted layers.
  const sites = new Map<string, { kind: 'wider'; parentWidth: number } | { kind: 'deeper' }>();
  actions.forEach((raw, i) => {
    const parsed = ActionSchema.safeParse(raw);
    if (!parsed.success) throw new TransformError(i, `not a valid action: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'value'}: ${x.message}`).join('; ')}`);
    const action = parsed.data;
    try {
      const before = current;
      if (action.type === 'wider') {
        current = net2wider(current, w, action, opts.space, opts.rng, widerOpts.split ?? 'equal', (index, g) => {
          moments?.widened(before, index, g);
          const id = before.layers[index].id;
          if (!sites.has(id)) sites.set(id, { kind: 'wider', parentWidth: keptUnits(g) });
        });
      } else {
        current = net2deeper(current, w, action, opts.space, { batch: opts.batch, bnEpsilon, moments });
        const known = new Set(before.layers.map((l) => l.id));
        for (const l of current.layers) if (!known.has(l.id)) sites.set(l.id, { kind: 'deeper' });
      }
    } catch (err) {
      throw new TransformError(i, `${describeAction(action)} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });
  validateWeights(current, w);
  const noisy = addSymmetryBreakingNoise(w, sites, widerOpts.noise ?? 0, deeperOpts.noise ?? 0, Rng.fromSeed(noiseSeed));
  return { arch: current, weights: noisy, exact: w };
}

/** Units a Net2Wider remapping keeps in place (G(j) = j): the layer's width before the step. */
function keptUnits(g: Int32Array): number {
  let j = 0;
  while (j < g.length && g[j] === j) j++;
  return j;
}

/** The noisy child: `exact` with noise on copies of the kernels at `sites` (see applyActions); `exact` when none. */
function addSymmetryBreakingNoise(exact: Weights, sites: Map<string, { kind: 'wider'; parentWidth: number } | { kind: 'deeper' }>, widerNoise: number, deeperNoise: number, rng: Rng): Weights {
  if (!(widerNoise > 0) && !(deeperNoise > 0)) return exact;
  const out: Weights = { ...exact };
  for (const [id, site] of sites) {
    const name = kernelName(id);
    const k = exact[name];
    if (site.kind === 'deeper') {
      if (!(deeperNoise > 0)) continue;
      const data = new Float32Array(k.data);
      addRelativeNoise(data, deeperNoise, rng);
      out[name] = { shape: k.shape, data };
      continue;
    }
    const width = k.shape[k.shape.length - 1];
    if (!(widerNoise > 0) || width <= site.parentWidth) continue;
    const data = new Float32Array(k.data);
    const sigma = widerNoise * arrayStd(data);
    // Each row of the kernel ([kh·kw·cin, width] or [in, width]) holds the replicas at [parentWidth, width).
    for (let o = 0; o < data.length; o += width) rng.addNormals(data.subarray(o + site.parentWidth, o + width), sigma);
    out[name] = { shape: k.shape, data };
  }
  return out;
}
