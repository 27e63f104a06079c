import type * as tf from '@tensorflow/tfjs';
import type { DenseAction } from '../densenet/actions';
import { predictDenseLogits } from '../densenet/model';
import { GRAPHS } from './graphs';
import type { DenseNet } from '../densenet/schema';
import { applyDenseActions } from '../densenet/transform';
import type { ModelOptions } from '../nn/model';
import type { Weights } from '../nn/weights';
import { Rng } from '../util/rng';
import { DenseNetSpace } from './densenet';
import type { NetworkSpace, TransformContext, Transformed } from './network';

/** The DenseNet space with its weights: Eq. 4 growth widening and dense-layer insertion (src/densenet/transform.ts). */
export class DenseNetworkSpace extends DenseNetSpace implements NetworkSpace<DenseNet, DenseAction> {
  readonly weightSpecs = GRAPHS.densenet.weightSpecs;
  readonly graph = GRAPHS.densenet.graph;
  readonly inputShape = GRAPHS.densenet.inputShape;

  transform(parent: { net: DenseNet; weights: Weights }, actions: readonly DenseAction[], ctx: TransformContext): Transformed<DenseNet> {
    // One application gives the noisy child and its noise-free twin. The authors' DenseNet search puts the wider noise
    // (1e-2) on inserted layers too, so transform.wider.noise is the noise of every step here.
    const child = applyDenseActions(parent.net, parent.weights, actions, this.settings, Rng.fromSeed(ctx.seed), { split: ctx.transform.wider.split, noise: ctx.transform.wider.noise });
    return { net: child.net, weights: child.weights, exact: child.exact };
  }

  logits(net: DenseNet, weights: Weights, batch: tf.Tensor, opts: ModelOptions = {}): Float32Array {
    return predictDenseLogits(net, weights, batch, opts);
  }
}
