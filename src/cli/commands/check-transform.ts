import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../backend';
import { runDenseTransformChecks } from '../../densenet/check';
import { runTransformChecks } from '../../transform/check';

function intArg(name: string, min: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
}

function positiveNumber(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`tolerance must be a positive number, got "${raw}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('check-transform')
    .description('apply random Net2Wider/Net2Deeper sequences to random networks and report the worst |Δlogits| (exit 1 above the tolerance)')
    .option('--trials <n>', 'number of random (network, action sequence) cases', intArg('trials', 1), 50)
    .option('--seed <s>', 'base seed (trial i depends only on seed and i)', intArg('seed', -0x80000000), 0)
    .option('--tolerance <t>', 'largest acceptable max |Δlogits|', positiveNumber, 1e-4)
    .option('--batch <n>', 'images per verification batch', intArg('batch', 1), 4)
    .addOption(new Option('--space <space>', 'architecture space: plain CNNs or DenseNet-BC').choices(['plain', 'densenet']).default('plain'))
    .option('--json', 'print exactly {"trials":N,"maxAbsDiff":x}')
    .option('-v, --verbose', 'print every trial')
    .action(async (opts: { space: 'plain' | 'densenet'; trials: number; seed: number; tolerance: number; batch: number; json?: boolean; verbose?: boolean }) => {
      await initBackend({ log: opts.json ? () => {} : undefined });
      const verbose = opts.verbose && !opts.json;
      const summary =
        opts.space === 'densenet'
          ? runDenseTransformChecks({
              trials: opts.trials,
              seed: opts.seed,
              batchSize: opts.batch,
              onTrial: verbose ? (r) => console.log(`trial ${r.trial}: ${r.maxAbsDiff.toExponential(2)}  ${r.net}  →  ${r.child}`) : undefined,
            })
          : runTransformChecks({
              trials: opts.trials,
              seed: opts.seed,
              batchSize: opts.batch,
              onTrial: verbose ? (r) => console.log(`trial ${r.trial}: ${r.maxAbsDiff.toExponential(2)}  ${r.arch}  →  ${r.child}`) : undefined,
            });
      const ok = summary.maxAbsDiff <= opts.tolerance;
      if (opts.json) {
        console.log(JSON.stringify({ trials: summary.trials, maxAbsDiff: summary.maxAbsDiff }));
      } else {
        console.log(`${summary.trials} trials, max |Δlogits| = ${summary.maxAbsDiff.toExponential(3)} (tolerance ${opts.tolerance}): ${ok ? 'OK' : 'FAILED'}`);
        if (summary.worst) {
          const w = summary.worst;
          console.log(`worst: trial ${w.trial} on ${w.input.join('×')}: ${'arch' in w ? w.arch : w.net}`);
          console.log(`  actions: ${JSON.stringify(w.actions)}`);
          console.log(`  child:   ${w.child}`);
        }
      }
      if (!ok) process.exitCode = 1;
    });
}
