import { z } from 'zod';

/**
 * A plain CNN as in the paper: conv, pool and fc layers in order, then a softmax classifier.
 * Every conv and fc is followed by BatchNorm then ReLU (post-activation, as in the paper's code).
 * Each layer carries a stable `id`: weights are named after it, so names survive transformations.
 */
export const ConvSchema = z
  .object({ id: z.string().min(1), type: z.literal('conv'), filters: z.number().int().positive(), kernel: z.number().int().positive(), stride: z.number().int().positive() })
  .strict();
export const PoolSchema = z
  .object({ id: z.string().min(1), type: z.literal('pool'), op: z.enum(['max', 'avg']), size: z.number().int().positive(), stride: z.number().int().positive() })
  .strict();
export const FcSchema = z.object({ id: z.string().min(1), type: z.literal('fc'), units: z.number().int().positive() }).strict();

export const LayerSchema = z.discriminatedUnion('type', [ConvSchema, PoolSchema, FcSchema]);

export const InputShapeSchema = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);

export const ArchSchema = z
  .object({
    /** [height, width, channels] */
    input: InputShapeSchema,
    layers: z.array(LayerSchema),
    classes: z.number().int().min(2),
  })
  .strict();

export type ConvLayer = z.infer<typeof ConvSchema>;
export type PoolLayer = z.infer<typeof PoolSchema>;
export type FcLayer = z.infer<typeof FcSchema>;
export type Layer = z.infer<typeof LayerSchema>;
export type Arch = z.infer<typeof ArchSchema>;
export type InputShape = z.infer<typeof InputShapeSchema>;

/** Layers that own weights followed by BatchNorm + ReLU. */
export type WeightedLayer = ConvLayer | FcLayer;
export const isWeighted = (l: Layer): l is WeightedLayer => l.type === 'conv' || l.type === 'fc';
export const widthOf = (l: WeightedLayer): number => (l.type === 'conv' ? l.filters : l.units);

export const INPUT_SHAPES = {
  cifar10: [32, 32, 3],
  svhn: [32, 32, 3],
  'fashion-mnist': [28, 28, 1],
} as const satisfies Record<string, InputShape>;
