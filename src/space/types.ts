import type { z } from 'zod';
import type { InputShape } from '../arch/schema';

/**
 * A search space: everything the search, the controllers, the reports and the workflow need to know about the networks
 * of one family (the paper's plain CNNs, DenseNet-BC, …), behind one contract, so none of them asks which space it is.
 *
 * This part is pure (no tensors, no files), so the workflow sandbox may use it; the weight layout, the tfjs graph and
 * the function-preserving transform are the `NetworkSpace` extension (src/space/network.ts), which the activities use.
 * Models of the shape: microsoft/archai's SearchSpace, NNI's strategies that never know the space.
 */

/** The encoder's sequence and the wider actor's mask for one network: one token per part, in network order. */
export interface NetView {
  /** Token ids (0 is padding and never appears here; unknown parts map to the space's UNK id 1). */
  tokens: number[];
  /** Whether the wider actor may widen the part behind each token. */
  widenMask: boolean[];
  /** The layer id behind each token (null where the part has no width to grow: pools, stem, transitions, …). */
  layerIds: (string | null)[];
}

/** Valid Net2Deeper choices on one network, limited to the policy heads' sizes. */
export interface DeeperMasks {
  blockMask: boolean[];
  /** Per block, per position. */
  positionMasks: boolean[][];
  /** Per block: the valid kernel-size indices for a new layer there, or null when the block takes no kernel choice. */
  kernelMasks: (boolean[] | null)[];
}

/** One Net2Deeper decision in the decoder's terms. */
export interface DeeperChoice {
  block: number;
  position: number;
  /** Index into the space's kernel choices; null where the block takes none. */
  kernelIndex: number | null;
}

/** The policy heads' sizes (ControllerConfig maxBlocks / maxPositions): choices beyond them cannot be expressed. */
export interface Heads {
  maxBlocks: number;
  maxPositions: number;
}

/** One problem with a configuration, its path in the config file (e.g. "stages.0.widerSteps"). */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** What a space checks in a search's configuration: the start net and the stages' step counts. */
export interface SpaceConfigCheck {
  /** The start network's notation (absent when it comes as a checkpoint). */
  notation?: string;
  input: InputShape;
  /** Classes of the dataset (the start net's classifier must match), and its name for messages. */
  classes: number;
  dataset: string;
  stages: readonly { widerSteps: number; deeperSteps: number }[];
}

export interface SearchSpace<N = unknown, A = unknown> {
  /** `searchSpace.kind` in a config. */
  readonly kind: string;
  /** The space's own settings as configured (`searchSpace` without `kind`). */
  readonly settings: unknown;
  /** One network of the space (what arch.json holds). */
  readonly netSchema: z.ZodType<N>;
  /** One transformation step of the space. */
  readonly actionSchema: z.ZodType<A>;

  /** Whether a parsed arch.json (or a sample's network) belongs to this space. */
  owns(raw: unknown): boolean;
  /** Structural validation: the network, or an error naming the part and the rule. */
  validate(net: N): N;
  /** The space's notation → a network for inputs of `input`; throws naming the token. */
  parse(notation: string, input: InputShape): N;
  /** Whether `text` is written in this space's notation (for messages that say which space a notation is from). */
  isNotation(text: string): boolean;
  notation(net: N): string;
  /** Equal for networks of the same architecture, whatever their layer ids. */
  key(net: N): string;
  params(net: N): number;
  /** Weighted layers, for a one-line description. */
  depth(net: N): number;

  /** The controller's view. */
  vocabSize: number;
  /** Kernel sizes the deeper actor chooses from (0: the space has no kernel choice, and no kernel head). */
  kernelChoices: number;
  view(net: N): NetView;
  /** Valid deeper choices; throws when nothing is valid. */
  deeperMasks(net: N, heads: Heads): DeeperMasks;
  /** The wider action that widens the parts where `widen` is true (indices of `view(net)`). */
  widerAction(net: N, widen: readonly boolean[]): A;
  deeperAction(net: N, choice: DeeperChoice): A;
  /** The network after one action (weights are the NetworkSpace's business); throws when the action is invalid. */
  apply(net: N, action: A): N;
  /** A short human description of an action ("wider L1, L3", "deeper block 2 after 1, kernel 3"). */
  describeAction(action: A): string;

  /** This space's checks of a search configuration (limits the start net already exceeds, steps it cannot take). */
  checkConfig(c: SpaceConfigCheck): ConfigIssue[];
}

/** A space whose types are not known statically (what `spaceOf(config.searchSpace)` gives). */
export type AnySearchSpace = SearchSpace<unknown, unknown>;
