/** Derive a deterministic 32-bit seed from a base seed and a path of labels (e.g. stage, episode, candidate). */
export function deriveSeed(base: number, ...labels: (string | number)[]): number {
  // FNV-1a over the textual path: stable across processes and platforms, and free of Node APIs so workflows may use it.
  let h = 0x811c9dc5 ^ (base | 0);
  const text = labels.join('/');
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}
