import { z } from 'zod';
import { SearchSpaceSchema } from '../arch/space';
import { DenseSpaceSchema } from '../densenet/schema';

/**
 * `searchSpace` of a config, one discriminated union: the paper's plain CNNs (`kind: plain`, the default: conv filters,
 * kernels, strides, fc units) or DenseNet-BC (`kind: densenet`: growth rates, bottleneck factor, layers per block).
 * Each kind's fields are its space's settings; src/space/index.ts `spaceOf` turns them into the space.
 */
export const PlainSpaceConfigSchema = z.object({ kind: z.literal('plain'), ...SearchSpaceSchema.shape }).strict();
export const DenseSpaceConfigSchema = z.object({ kind: z.literal('densenet'), ...DenseSpaceSchema.shape }).strict();

export const SearchSpaceConfigSchema = z.discriminatedUnion('kind', [PlainSpaceConfigSchema, DenseSpaceConfigSchema]).superRefine((s, ctx) => {
  // The per-kind rules (strictly increasing levels, odd kernels) of the spaces' own schemas, at the same paths.
  const { kind, ...rest } = s;
  const r = (kind === 'plain' ? SearchSpaceSchema : DenseSpaceSchema).safeParse(rest);
  if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
});
export type SearchSpaceConfig = z.infer<typeof SearchSpaceConfigSchema>;
export type PlainSpaceConfig = z.infer<typeof PlainSpaceConfigSchema>;
export type DenseSpaceConfig = z.infer<typeof DenseSpaceConfigSchema>;

export const DEFAULT_SEARCH_SPACE: SearchSpaceConfig = SearchSpaceConfigSchema.parse({ kind: 'plain' });

/** The settings of a space config without its `kind`. */
export function settingsOf<C extends SearchSpaceConfig>(c: C): Omit<C, 'kind'> {
  const { kind: _kind, ...rest } = c;
  return rest;
}
