import type { Command } from 'commander';
import { DEFAULT_SPACE, type InputShape, InputShapeSchema, parseNotation, toNotation } from '../../arch';
import { initBackend } from '../../backend';
import { type Controller, createController, loadController } from '../../controller';

interface SampleOptions {
  policy: string;
  net: string;
  input: string;
  n: string;
  seed: string;
  controller?: string;
  verbose?: boolean;
  json?: boolean;
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
    .requiredOption('--net <notation>', 'start network, e.g. "C(16,3,1), P(2,2,MAX), FC(64), SM(10)"')
    .option('--input <HxWxC>', 'input shape', '32x32x3')
    .option('--n <count>', 'number of networks', '10')
    .option('--seed <seed>', 'sampling seed (and initial weights for --policy new)', '0')
    .option('--controller <rl|random>', 'kind of new controller (with --policy new)')
    .option('--verbose', 'print the actions under each network')
    .option('--json', 'print one JSON object per network: notation, actions')
    .action(async (opts: SampleOptions) => {
      const n = parseInteger(opts.n, '--n', 1);
      const seed = parseInteger(opts.seed, '--seed', -0x80000000);
      const kind = opts.controller;
      if (kind !== undefined && kind !== 'rl' && kind !== 'random') throw new Error(`--controller must be rl or random, got "${kind}"`);
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
