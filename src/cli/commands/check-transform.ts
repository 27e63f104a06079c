import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../backend';
import { runDenseTransformChecks } from '../../densenet/check';
import { type CheckTransform, EXACT_TRANSFORM, SEARCH_TRANSFORM, runTransformChecks } from '../../transform/check';

/**
 * Which transformations are checked. 'exact' (default): the search's random split without noise, the mode the
 * tolerance is meant for; 'equal': the paper's Eq. 1–3 (equal split); 'search': the search's defaults, whose noise
 * (1e-2 of the kernel's std when widening, 1e-3 when deepening) changes the function by design, so its figure measures
 * how far the noise moves the logits rather than a preservation error.
 */
const MODES: Record<'exact' | 'equal' | 'search', CheckTransform> = {
  exact: EXACT_TRANSFORM,
  equal: { wider: { split: 'equal', noise: 0 }, deeper: { noise: 0 } },
  search: SEARCH_TRANSFORM,
};
type Mode = keyof typeof MODES;

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
    .addOption(
      new Option('--transform <mode>', "exact: random split, no noise (checked against the tolerance); equal: the paper's equal split; search: the search's defaults with noise (inexact by design)")
        .choices(Object.keys(MODES))
        .default('exact'),
    )
    .addOption(new Option('--space <space>', 'architecture space: plain CNNs or DenseNet-BC (random splits, exact)').choices(['plain', 'densenet']).default('plain'))
    .option('--json', 'print exactly {"trials":N,"maxAbsDiff":x} for the chosen --transform mode')
    .option('-v, --verbose', 'print every trial')
    .action(async (opts: { space: 'plain' | 'densenet'; trials: number; seed: number; tolerance: number; batch: number; transform: Mode; json?: boolean; verbose?: boolean }) => {
      await initBackend({ log: opts.json ? () => {} : undefined });
      const verbose = opts.verbose && !opts.json;
      if (opts.space === 'densenet') {
        const summary = runDenseTransformChecks({
          trials: opts.trials,
          seed: opts.seed,
          batchSize: opts.batch,
          onTrial: verbose ? (r) => console.log(`trial ${r.trial}: ${r.maxAbsDiff.toExponential(2)}  ${r.net}  →  ${r.child}`) : undefined,
        });
        const ok = summary.maxAbsDiff <= opts.tolerance;
        if (opts.json) console.log(JSON.stringify({ trials: summary.trials, maxAbsDiff: summary.maxAbsDiff }));
        else {
          console.log(`${summary.trials} DenseNet trials, max |Δlogits| = ${summary.maxAbsDiff.toExponential(3)} (tolerance ${opts.tolerance}): ${ok ? 'OK' : 'FAILED'}`);
          if (summary.worst) console.log(`worst: trial ${summary.worst.trial}: ${summary.worst.net}  →  ${summary.worst.child}`);
        }
        if (!ok) process.exitCode = 1;
        return;
      }
      const summary = runTransformChecks({
        trials: opts.trials,
        seed: opts.seed,
        batchSize: opts.batch,
        transform: MODES[opts.transform],
        onTrial: verbose ? (r) => console.log(`trial ${r.trial}: ${r.maxAbsDiff.toExponential(2)}  ${r.arch}  →  ${r.child}`) : undefined,
      });
      const ok = summary.maxAbsDiff <= opts.tolerance;
      if (opts.json) {
        console.log(JSON.stringify({ trials: summary.trials, maxAbsDiff: summary.maxAbsDiff }));
      } else {
        console.log(`${summary.trials} trials (${opts.transform} transforms), max |Δlogits| = ${summary.maxAbsDiff.toExponential(3)} (tolerance ${opts.tolerance}): ${ok ? 'OK' : 'FAILED'}`);
        if (summary.worst) {
          const w = summary.worst;
          console.log(`worst: trial ${w.trial} on ${w.input.join('×')}: ${w.arch}`);
          console.log(`  actions: ${JSON.stringify(w.actions)}`);
          console.log(`  child:   ${w.child}`);
        }
      }
      if (!opts.json && opts.transform !== 'search') {
        // The same cases under the search's defaults, for information: noise moves the logits on purpose.
        const noisy = runTransformChecks({ trials: opts.trials, seed: opts.seed, batchSize: opts.batch, transform: SEARCH_TRANSFORM });
        console.log(
          `with the search's defaults (random split, noise ${SEARCH_TRANSFORM.wider.noise} wider / ${SEARCH_TRANSFORM.deeper.noise} deeper): max |Δlogits| = ${noisy.maxAbsDiff.toExponential(3)} ` +
            '(not held to the tolerance: the noise changes the function by design)',
        );
      }
      if (!ok) process.exitCode = 1;
    });
}
