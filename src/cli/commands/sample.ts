import type { Command } from 'commander';
import { DEFAULT_SPACE, type InputShape, InputShapeSchema, parseNotation, toNotation } from '../../arch';
import { initBackend } from '../../backend';
import { type Controller, createController, loadController } from '../../controller';
import { ControllerConfigSchema } from '../../controller/config';
import { isDenseNotation, parseDenseNotation, toDenseNotation } from '../../densenet/notation';
import { type DenseSpace, DenseSpaceSchema } from '../../densenet/schema';
import { type DenseSearchController, createDenseController, denseControllerFromCheckpoint, readDensePolicy } from '../../densenet/search';

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
 * A start net in the DenseNet notation samples in the DenseNet space: --policy new (rl or random; growth rates from
 * --growth-rates, default the paper's {40, …, 64}) or a DenseNet search's policy checkpoint (its space and config).
 */
function sampleDenseNets(opts: SampleOptions, n: number, seed: number, kind: 'rl' | 'random' | undefined): void {
  let space: DenseSpace;
  let controller: DenseSearchController;
  // Steps per network: the controller config's (a checkpoint's own, else the defaults: 4 wider, 5 deeper).
  let steps = ControllerConfigSchema.parse({});
  if (opts.policy === 'new') {
    const rates = opts.growthRates?.split(',').map((g) => Number(g.trim()));
    const r = DenseSpaceSchema.safeParse(rates ? { growthRates: rates } : {});
    if (!r.success) throw new Error(`--growth-rates must be strictly increasing positive integers, e.g. 40,44,48 (got "${opts.growthRates}")`);
    space = r.data;
    controller = createDenseController(kind ?? 'rl', ControllerConfigSchema.parse({}), space, seed);
  } else {
    if (opts.growthRates !== undefined) throw new Error('--growth-rates applies to --policy new only (a checkpoint carries its space)');
    const policy = readDensePolicy(opts.policy);
    if (kind !== undefined && kind !== policy.kind) throw new Error(`--controller ${kind} does not match the checkpoint's controller (${policy.kind})`);
    space = policy.space;
    steps = policy.config;
    controller = denseControllerFromCheckpoint(policy);
  }
  let samples;
  try {
    const start = parseDenseNotation(opts.net, parseInput(opts.input), space.bottleneckFactor);
    samples = controller.sample(start, n, seed, { widerSteps: steps.widerSteps, deeperSteps: steps.deeperSteps });
  } finally {
    controller.dispose();
  }
  for (const s of samples) {
    const notation = toDenseNotation(s.net, space.bottleneckFactor);
    if (opts.json) console.log(JSON.stringify({ notation, actions: s.actions }));
    else {
      console.log(notation);
      if (opts.verbose) for (const a of s.actions) console.log(`  ${JSON.stringify(a)}`);
    }
  }
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
      if (isDenseNotation(opts.net)) {
        await initBackend({ log: opts.verbose ? undefined : () => {} });
        return sampleDenseNets(opts, n, seed, kind);
      }
      await initBackend({ log: opts.verbose ? undefined : () => {} });
      let controller: Controller;
      if (opts.policy === 'new') controller = createController({}, DEFAULT_SPACE, seed, kind ?? 'rl');
      else {
        controller = loadController(opts.policy);
        if (kind !== undefined && kind !== controller.kind) {
          controller.dispose();
          throw new Error(`--controller ${kind} does not match the checkpoint's controller (${controller.kind})`);
        }
      }
      try {
        const start = parseNotation(opts.net, parseInput(opts.input), controller.space);
        for (const s of controller.sample(start, n, seed)) {
          if (opts.json) console.log(JSON.stringify({ notation: toNotation(s.arch), actions: s.actions }));
          else {
            console.log(toNotation(s.arch));
            if (opts.verbose) for (const a of s.actions) console.log(`  ${JSON.stringify(a)}`);
          }
        }
      } finally {
        controller.dispose();
      }
    });
}
