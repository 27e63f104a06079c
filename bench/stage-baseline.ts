/**
 * The controller across stages, controller only (no training): does re-centring the baseline when a stage starts
 * (UpdateOptions.stageStart) learn the new stage better than carrying the previous stage's EMA over?
 *
 * Two stages of a synthetic search with the real RL controller (default settings, tan reward, 'paper' EMA baseline):
 * - stage 1 from the quickstart's Table-1-like start net; a hidden preference (widen the second block's conv, insert
 *   kernel-5 convs into it) gives accuracy 0.60–0.80;
 * - stage 2 from stage 1's best network, where the rewards jump as after a stage-best training (accuracy 0.85–0.95) and
 *   another preference pays (kernel-3 convs inserted into the first block).
 * Stage 1 runs once per seed; stage 2 then runs twice from the same policy checkpoint, once carrying the baseline over
 * and once re-centring it, on the same sampling seeds. Printed per seed and on average: the stage-2 mean preference
 * score (0–1) over all its episodes and over its last 5, and the share of the stage's first 5 updates whose advantages
 * all had one sign.
 *
 *   npx tsx bench/stage-baseline.ts [--seeds 6] [--episodes1 15] [--episodes2 15] [--json]
 */
import { Command } from 'commander';
import { type Arch, DEFAULT_SPACE, blocks, parseNotation } from '../src/arch';
import { type RlController, type Sample, controllerFromCheckpoint, createController } from '../src/controller';
import { initBackend } from '../src/backend';
import { deriveSeed } from '../src/util/rng';

const START = 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(2,2,MAX), C(128,3,1), P(4,4,AVG), FC(256), SM(10)';
const N = 10;

const convsIn = (a: Arch, block: number, kernel: number): number =>
  blocks(a)[block].insertAfter.map((i) => a.layers[i]).filter((l) => l.type === 'conv' && l.kernel === kernel).length;

/** Stage 1's hidden preference, 0–1: the second block's conv widened (4 levels) and kernel-5 convs in it (5). */
function pref1(a: Arch, start: Arch): number {
  const l2 = a.layers.find((l) => l.id === 'L2');
  const s2 = start.layers.find((l) => l.id === 'L2');
  const gain = l2?.type === 'conv' && s2?.type === 'conv' ? DEFAULT_SPACE.convFilters.indexOf(l2.filters) - DEFAULT_SPACE.convFilters.indexOf(s2.filters) : 0;
  return 0.5 * Math.min(1, Math.max(0, gain) / 4) + 0.5 * Math.min(1, (convsIn(a, 1, 5) - convsIn(start, 1, 5)) / 5);
}

/** Stage 2's hidden preference, 0–1: kernel-3 convs inserted into the first block (up to 5). */
const pref2 = (a: Arch, start: Arch): number => Math.min(1, Math.max(0, convsIn(a, 0, 3) - convsIn(start, 0, 3)) / 5);

interface Arm {
  mean: number;
  last5: number;
  oneSign: number;
}
interface Row {
  seed: number;
  stage1: number;
  carried: Arm;
  recentred: Arm;
}

interface StageRun {
  meanPref: number;
  lastPref: number;
  oneSignShare: number;
  best: Arch;
}

function runStage(c: RlController, start: Arch, episodes: number, seed: number, stage: number, accOf: (p: number) => number, pref: (a: Arch) => number, recentre: boolean): StageRun {
  const prefs: number[] = [];
  let oneSign = 0;
  let best: { a: Arch; p: number } = { a: start, p: -1 };
  for (let ep = 0; ep < episodes; ep++) {
    const samples: Sample[] = c.sample(start, N, deriveSeed(seed, 'stage', stage, 'episode', ep));
    const p = samples.map((s) => pref(s.net as Arch));
    const stats = c.update(samples, p.map(accOf), { stageStart: recentre && ep === 0 });
    if (ep < 5 && (stats.advantages.every((x) => x > 0) || stats.advantages.every((x) => x < 0))) oneSign++;
    prefs.push(p.reduce((a, b) => a + b, 0) / N);
    p.forEach((v, i) => {
      if (v > best.p) best = { a: samples[i].net as Arch, p: v };
    });
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { meanPref: mean(prefs), lastPref: mean(prefs.slice(-5)), oneSignShare: oneSign / Math.min(5, episodes), best: best.a };
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--seeds <n>', 'seeds', (v) => Number(v), 6)
    .option('--episodes1 <n>', 'stage-1 episodes', (v) => Number(v), 15)
    .option('--episodes2 <n>', 'stage-2 episodes', (v) => Number(v), 15)
    .option('--json', 'JSON output')
    .parse()
    .opts<{ seeds: number; episodes1: number; episodes2: number; json?: boolean }>();
  await initBackend({ backend: process.env.EAS_BACKEND ?? 'auto', log: () => {} });
  const start1 = parseNotation(START, [28, 28, 1], DEFAULT_SPACE);
  const rows: Row[] = [];
  for (let seed = 1; seed <= opts.seeds; seed++) {
    const c1 = createController('rl', {}, { kind: 'plain' }, seed) as RlController;
    const s1 = runStage(c1, start1, opts.episodes1, seed, 1, (p) => 0.6 + 0.2 * p, (a) => pref1(a, start1), false);
    const ckpt = c1.toCheckpoint();
    c1.dispose();
    const start2 = s1.best;
    const arm = (recentre: boolean) => {
      const c = controllerFromCheckpoint(ckpt) as RlController;
      try {
        return runStage(c, start2, opts.episodes2, seed, 2, (p) => 0.85 + 0.1 * p, (a) => pref2(a, start2), recentre);
      } finally {
        c.dispose();
      }
    };
    const carried = arm(false);
    const recentred = arm(true);
    rows.push({ seed, stage1: s1.meanPref, carried: { mean: carried.meanPref, last5: carried.lastPref, oneSign: carried.oneSignShare }, recentred: { mean: recentred.meanPref, last5: recentred.lastPref, oneSign: recentred.oneSignShare } });
    if (!opts.json) {
      console.log(
        `seed ${seed}: stage-1 pref ${s1.meanPref.toFixed(3)}; stage 2 carried: mean ${carried.meanPref.toFixed(3)}, last 5 ${carried.lastPref.toFixed(3)}, one-sign first updates ${carried.oneSignShare.toFixed(1)}; ` +
          `re-centred: mean ${recentred.meanPref.toFixed(3)}, last 5 ${recentred.lastPref.toFixed(3)}, one-sign ${recentred.oneSignShare.toFixed(1)}`,
      );
    }
  }
  const avg = (f: (r: Row) => number) => rows.reduce((a, r) => a + f(r), 0) / rows.length;
  const summary = {
    seeds: rows.length,
    carried: { mean: avg((r) => r.carried.mean), last5: avg((r) => r.carried.last5), oneSign: avg((r) => r.carried.oneSign) },
    recentred: { mean: avg((r) => r.recentred.mean), last5: avg((r) => r.recentred.last5), oneSign: avg((r) => r.recentred.oneSign) },
    wins: rows.filter((r) => r.recentred.last5 > r.carried.last5).length,
  };
  if (opts.json) console.log(JSON.stringify({ rows, summary }, null, 2));
  else
    console.log(
      `mean over ${summary.seeds} seeds: stage-2 preference carried ${summary.carried.mean.toFixed(3)} (last 5: ${summary.carried.last5.toFixed(3)}), re-centred ${summary.recentred.mean.toFixed(3)} (last 5: ${summary.recentred.last5.toFixed(3)}); ` +
        `re-centring better on the last 5 in ${summary.wins}/${summary.seeds} seeds; one-sign share of the first 5 updates: carried ${summary.carried.oneSign.toFixed(2)}, re-centred ${summary.recentred.oneSign.toFixed(2)}`,
    );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
