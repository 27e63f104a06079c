import type { SearchSpaceConfig } from './config';
import { DenseNetworkSpace } from './densenet-network';
import type { AnyNetworkSpace } from './network';
import { PlainNetworkSpace } from './plain-network';
import { type SpaceOptions, buildSpace } from './index';

export * from './network';

/** The tensor half of the space a config's `searchSpace` names (activities, training, checkpoints; not the workflow). */
export function networkSpaceOf(config: SearchSpaceConfig, opts: SpaceOptions = {}): AnyNetworkSpace {
  return buildSpace<AnyNetworkSpace>(config, { plain: (s) => new PlainNetworkSpace(s, opts) as AnyNetworkSpace, densenet: (s) => new DenseNetworkSpace(s) as AnyNetworkSpace });
}

/** The space whose notation `text` is written in (a DenseNet has D(…) blocks), with default settings, unbounded. */
export function networkSpaceOfNotation(text: string): AnyNetworkSpace {
  const dense = new DenseNetworkSpace();
  return dense.isNotation(text) ? (dense as AnyNetworkSpace) : (new PlainNetworkSpace({}, { unbounded: true }) as AnyNetworkSpace);
}
