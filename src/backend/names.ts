/**
 * Backend names, free of tfjs so that configuration checks (and the workflow bundle) can use them without loading an
 * engine. src/backend/index.ts loads what these names map to.
 */
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Names users write (config, EAS_BACKEND) mapped to what we load. */
export const BACKEND_ALIASES: Readonly<Record<string, BackendName>> = {
  'tfjs-node-gpu': 'tensorflow-gpu',
  gpu: 'tensorflow-gpu',
  'tensorflow-gpu': 'tensorflow-gpu',
  'tfjs-node': 'tensorflow',
  node: 'tensorflow',
  tensorflow: 'tensorflow',
  native: 'native',
  onednn: 'native',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** Every name a configuration may give: 'auto' (the fastest that loads) or one of the aliases. */
export const BACKEND_CHOICES = ['auto', ...Object.keys(BACKEND_ALIASES)] as [string, ...string[]];
