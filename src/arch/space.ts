import { z } from 'zod';

/** The discrete search space. Defaults are the paper's (Experiments: "Explore Plain CNN Architecture Space"). */
export const SearchSpaceSchema = z
  .object({
    convFilters: z.array(z.number().int().positive()).nonempty().default([16, 32, 64, 96, 128, 192, 256, 320, 384, 448, 512]),
    convKernels: z.array(z.number().int().positive()).nonempty().default([1, 3, 5]),
    convStrides: z.array(z.number().int().positive()).nonempty().default([1]),
    fcUnits: z.array(z.number().int().positive()).nonempty().default([64, 128, 256, 384, 512, 640, 768, 896, 1024]),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const key of ['convFilters', 'convKernels', 'convStrides', 'fcUnits'] as const) {
      const v = s[key];
      for (let i = 1; i < v.length; i++) {
        if (v[i] <= v[i - 1]) {
          ctx.addIssue({ code: 'custom', path: [key, i], message: `${key} must be strictly increasing` });
          break;
        }
      }
    }
    for (const [i, k] of s.convKernels.entries()) {
      if (k % 2 === 0) ctx.addIssue({ code: 'custom', path: ['convKernels', i], message: 'kernel sizes must be odd (identity filters need a centre)' });
    }
  });

export type SearchSpace = z.infer<typeof SearchSpaceSchema>;

export const DEFAULT_SPACE: SearchSpace = SearchSpaceSchema.parse({});

/** The next wider level in `levels` after `current`, or undefined at the top. */
export function nextWidth(levels: readonly number[], current: number): number | undefined {
  return levels.find((w) => w > current);
}
