import type { Command } from 'commander';
import { type InputShape, InputShapeSchema } from '../../arch';
import { initBackend } from '../../backend';
import { type Controller, type SearchSpaceConfigInput, createController, loadController } from '../../controller';
import { SearchSpaceConfigSchema, spaceOf } from '../../space';

interface SampleOptions {
  policy: string;
  net: string;
  input: string;
  n: string;
  seed: string;
  controller?: string;
  verbose?: boolean;
  json?: boolean;
  growthRates?: string;
}

/**
 * The space of a new policy: the start net's notation picks it (a DenseNet "D(…)" samples in the DenseNet space, with
 * --growth-rates or the paper's {40, …, 64}; anything else in the paper's plain space).
 */
function newSearchSpace(opts: SampleOptions): SearchSpaceConfigInput {
  const dense = spaceOf(SearchSpaceConfigSchema.parse({ kind: 'densenet' })).isNotation(opts.net);
  if (!dense) {
    if (opts.growthRates !== undefined) throw new Error('--growth-rates applies to DenseNet start nets only');
    return { kind: 'plain' };
  }
  if (opts.growthRates === undefined) return { kind: 'densenet' };
  const rates = opts.growthRates.split(',').map((g) => Number(g.trim()));
  const r = SearchSpaceConfigSchema.safeParse({ kind: 'densenet', growthRates: rates });
  if (!r.success) throw new Error(`--growth-rates must be strictly increasing positive integers, e.g. 40,44,48 (got "${opts.growthRates}")`);
  return r.data;
}

function parseInput(text: string): InputShape {
  const dims = text.toLowerCase().split('x').map((d) => Number(d.trim()));
  const r = InputShapeSchema.safeParse(dims);
  if (!r.success) throw new Error(`--input must look like 32x32x3 (height x width x channels), got "${text}"`);
  return r.data;
}

function parseInteger(text: string, what: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`${what} must be an integer ≥ ${min}, got "${text}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('sample')
    .description('sample networks from a meta-controller policy (a checkpoint, or a new one) and print them in the paper notation')
    .requiredOption('--policy <ckpt|new>', 'controller checkpoint file, or "new" for a freshly initialised controller')
    .requiredOption('--net <notation>', 'start network, e.g. "C(16,3,1), P(2,2,MAX), FC(64), SM(10)", or a DenseNet-BC "C(24,3), D(12*6), T(48), D(12*6), SM(10)"')
    .option('--input <HxWxC>', 'input shape', '32x32x3')
    .option('--n <count>', 'number of networks', '10')
    .option('--seed <seed>', 'sampling seed (and initial weights for --policy new)', '0')
    .option('--controller <rl|random>', 'kind of new controller (with --policy new)')
    .option('--growth-rates <list>', 'DenseNet start nets: growth rates the wider actor chooses from (with --policy new)', undefined)
    .option('--verbose', 'print the actions under each network')
    .option('--json', 'print one JSON object per network: notation, actions')
    .action(async (opts: SampleOptions) => {
      const n = parseInteger(opts.n, '--n', 1);
      const seed = parseInteger(opts.seed, '--seed', -0x80000000);
      const kind = opts.controller;
      if (kind !== undefined && kind !== 'rl' && kind !== 'random') throw new Error(`--controller must be rl or random, got "${kind}"`);
      await initBackend({ log: opts.verbose ? undefined : () => {} });
      let controller: Controller;
      if (opts.policy === 'new') controller = createController(kind ?? 'rl', {}, newSearchSpace(opts), seed);
      else {
        if (opts.growthRates !== undefined) throw new Error('--growth-rates applies to --policy new only (a checkpoint carries its space)');
        controller = loadController(opts.policy);
        if (kind !== undefined && kind !== controller.kind) {
          controller.dispose();
          throw new Error(`--controller ${kind} does not match the checkpoint's controller (${controller.kind})`);
        }
      }
      try {
        const space = controller.space;
        if (!space.isNotation(opts.net)) throw new Error(`--net is not written in the notation of the policy's search space (${space.kind})`);
        // Steps per network: the controller config's (a checkpoint's own, else the defaults).
        for (const s of controller.sample(space.parse(opts.net, parseInput(opts.input)), n, seed)) {
          const notation = space.notation(s.net);
          if (opts.json) console.log(JSON.stringify({ notation, actions: s.actions }));
          else {
            console.log(notation);
            if (opts.verbose) for (const a of s.actions) console.log(`  ${JSON.stringify(a)}`);
          }
        }
      } finally {
        controller.dispose();
      }
    });
}
