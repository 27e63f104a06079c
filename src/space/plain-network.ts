import type * as tf from '@tensorflow/tfjs';
import type { Action, Arch } from '../arch';
import type { ModelOptions } from '../nn/model';
import { GRAPHS } from './graphs';
import type { Weights } from '../nn/weights';
import { ParentMoments, applyActions, predictLogits } from '../transform';
import { Rng } from '../util/rng';
import type { NetworkSpace, TransformContext, Transformed } from './network';
import { PlainSpace } from './plain';

/** The plain space with its weights: Net2Wider / Net2Deeper of src/transform (BatchNorm statistics from the parent's moments). */
export class PlainNetworkSpace extends PlainSpace implements NetworkSpace<Arch, Action> {
  readonly weightSpecs = GRAPHS.plain.weightSpecs;
  readonly graph = GRAPHS.plain.graph;
  readonly inputShape = GRAPHS.plain.inputShape;

  /**
   * One application yields the configured (noisy) child and its noise-free twin: the same remappings, splits and
   * BatchNorm statistics (the parent's moments on the probe batch, mapped onto the child, kept per parent in `memo`).
   */
  transform(parent: { net: Arch; weights: Weights }, actions: readonly Action[], ctx: TransformContext): Transformed<Arch> {
    const n = ctx.batch.shape[0];
    const parentMoments = ctx.memo(`moments ${n}`, () => ParentMoments.compute(parent.net, parent.weights, ctx.batch, ctx.bnEpsilon));
    const child = applyActions(parent.net, parent.weights, actions, {
      space: this.settings,
      rng: Rng.fromSeed(ctx.seed),
      batch: ctx.batch,
      parentMoments,
      wider: ctx.transform.wider,
      deeper: ctx.transform.deeper,
      bnEpsilon: ctx.bnEpsilon,
    });
    return { net: child.arch, weights: child.weights, exact: child.exact };
  }

  logits(net: Arch, weights: Weights, batch: tf.Tensor, opts: ModelOptions = {}): Float32Array {
    return predictLogits({ arch: net, weights }, batch, opts);
  }
}
