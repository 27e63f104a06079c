import type * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from '../nn/model';
import type { NetGraphs } from '../nn/network';
import type { Weights } from '../nn/weights';
import type { TransformOptions } from '../transform/options';
import type { SearchSpace } from './types';

/**
 * The tensor half of a search space (the activities', trainers' and checkpoints' view; the workflow never loads it):
 * the weight layout and tfjs graph (NetGraphs, src/nn/network.ts, on which models, checkpoints and training are built)
 * and the function-preserving transform with its noise-free twin.
 */

/** What a transform may use besides the parent: its seed, probe images and the search's symmetry breaking. */
export interface TransformContext {
  /** Seeds the remappings and splits; the noise draws from a stream derived from it. */
  seed: number;
  /** Real, normalised images [n, h, w, c] (Net2Deeper's BatchNorm statistics). Not disposed. */
  batch: tf.Tensor4D;
  transform: TransformOptions;
  /** The ε of the models that will run the child. */
  bnEpsilon?: number;
  /**
   * A cache of what is derived from the parent alone (e.g. its activation moments on `batch`), kept across the
   * children of one parent by the caller: `memo(key, compute)` returns the cached value or computes and keeps it.
   */
  memo<T>(key: string, compute: () => T): T;
}

/** The child with the configured symmetry-breaking noise, and its noise-free twin (what the preservation check runs). */
export interface Transformed<N> {
  net: N;
  weights: Weights;
  /** Same remappings, splits and statistics without the noise: computes the parent's function exactly. */
  exact: Weights;
}

export interface NetworkSpace<N = unknown, A = unknown> extends SearchSpace<N, A>, NetGraphs<N> {
  /** Apply the actions in order to the parent's network and weights (pure: the parent is not modified). */
  transform(parent: { net: N; weights: Weights }, actions: readonly A[], ctx: TransformContext): Transformed<N>;
  /** Logits on a batch in inference mode (the preservation check); the cheapest exact way the space has. */
  logits(net: N, weights: Weights, batch: tf.Tensor, opts?: ModelOptions): Float32Array;
}

export type AnyNetworkSpace = NetworkSpace<unknown, unknown>;
