/**
 * The dashboard's search page in a real browser (Debian's Chromium through playwright-core), measured in the browser:
 * time to first paint and first contentful paint (performance.getEntriesByType('paint')), until Figure 4 holds every
 * candidate, and the bytes transferred (navigation + resources, headers included, as the browser counts them) — cold
 * (fresh profile) and warm (reload, cached libraries). Also the size of one live poll when nothing changed.
 *
 *   npm run bench:overhead -- --networks 225 --per-episode 10 --epoch-seconds 20 --store bench/out/ui-store
 *   npm run bench:ui -- --store bench/out/ui-store [--search ID] [--runs 3] [--screenshot docs/ui-search.png]
 *   npm run bench:ui -- --store runs --experiment-screenshot docs/ui-experiment.png [--experiment ID]
 *
 * Prints one JSON object.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { chromium } from 'playwright-core';
import { listRunIds, loadRunView } from '../src/report/runview';
import { startUiServer } from '../src/ui/server';
import { isExperimentDir } from '../src/ui/experiment';

const opts = new Command()
  .requiredOption('--store <dir>', 'run-store root (e.g. the one bench:overhead --store wrote)')
  .option('--search <id>', 'search to open (default: the one with the most candidates)')
  .option('--runs <n>', 'cold loads to measure (median reported)', (v) => Number(v), 3)
  .option('--chromium <path>', 'Chromium binary', process.env.EAS_CHROMIUM ?? '/usr/bin/chromium')
  .option('--screenshot <png>', 'also save a screenshot of the loaded page')
  .option('--compare <ids>', 'with --compare-screenshot: searches to compare, comma-separated')
  .option('--compare-screenshot <png>', 'save a screenshot of the comparison page of --compare')
  .option('--candidate-screenshot <png>', "save a screenshot of the best candidate's page")
  .option('--experiment <id>', 'with --experiment-screenshot: the experiment (default: the first one in the store)')
  .option('--experiment-screenshot <png>', "save a screenshot of an experiment's page (only that, when the store holds no search)")
  .parse()
  .opts<{ store: string; search?: string; runs: number; chromium: string; screenshot?: string; compare?: string; compareScreenshot?: string; candidateScreenshot?: string; experiment?: string; experimentScreenshot?: string }>();

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

// Browser globals for the functions evaluated in the page (no DOM library in the project's tsconfig).
declare const document: { body: { dataset: Record<string, string | undefined> }; querySelectorAll(s: string): { length: number } };
declare const performance: { now(): number };

/** Evaluated in the page once everything is shown: paint entries and bytes from the Performance API. */
const MEASURE = `(() => {
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const sum = (k) => (nav[k] || 0) + res.reduce((a, r) => a + (r[k] || 0), 0);
  const by = (re) => res.filter((r) => re.test(r.name)).reduce((a, r) => a + (r.transferSize || 0), 0);
  return {
    firstPaintMs: paint['first-paint'] ?? -1,
    firstContentfulPaintMs: paint['first-contentful-paint'] ?? -1,
    domContentLoadedMs: nav.domContentLoadedEventEnd,
    loadMs: nav.loadEventEnd,
    transferredBytes: sum('transferSize'),
    encodedBodyBytes: sum('encodedBodySize'),
    decodedBodyBytes: sum('decodedBodySize'),
    requests: res.length + 1,
    librariesTransferredBytes: by(/\\/assets\\/vega/),
    dataTransferredBytes: by(/\\/api\\//),
  };
})()`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The experiment page of `--experiment` (else the store's first experiment), once its tables and Fig. 5 are drawn. */
async function experimentScreenshot(root: string, file: string): Promise<string> {
  const id = opts.experiment ?? fs.readdirSync(root).filter((d) => isExperimentDir(root, d)).sort()[0];
  if (!id) throw new Error(`no experiment in ${root} (an experiment's folder holds experiment.json; run one with eas experiment)`);
  const ui = await startUiServer({ root, port: 0, temporal: false });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-bench-ui-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: opts.chromium, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 }, timeout: 60_000 });
  try {
    const page = await context.newPage();
    await page.goto(`${ui.url}/e/${encodeURIComponent(id)}`);
    await page.locator('#arms-table').waitFor({ timeout: 60_000 });
    await page.locator('#fig5 svg.marks, #fig5 p').first().waitFor({ timeout: 60_000 });
    await page.waitForTimeout(500);
    await page.screenshot({ path: file, fullPage: true });
    return id;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
    await ui.close();
  }
}

async function main(): Promise<void> {
  const root = path.resolve(opts.store);
  if (opts.experimentScreenshot) {
    const exp = await experimentScreenshot(root, opts.experimentScreenshot);
    console.error(`experiment ${exp}: ${opts.experimentScreenshot}`);
  }
  const ids = listRunIds(root).filter((i) => !isExperimentDir(root, i));
  if (!ids.length && opts.experimentScreenshot) return;
  if (!ids.length) throw new Error(`no search in ${root} (write one with npm run bench:overhead -- --networks 225 --per-episode 10 --store ${opts.store})`);
  const id = opts.search ?? ids.map((i) => ({ i, n: loadRunView(path.join(root, i), i).candidates.length })).sort((a, b) => b.n - a.n)[0].i;
  const candidates = loadRunView(path.join(root, id), id).candidates.length;
  const ui = await startUiServer({ root, port: 0, temporal: false });
  const url = `${ui.url}/s/${encodeURIComponent(id)}`;
  const loads: Record<string, number>[] = [];
  let warm: Record<string, number> | undefined;
  try {
    for (let run = 0; run < opts.runs; run++) {
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-bench-ui-'));
      const context = await chromium.launchPersistentContext(profile, { executablePath: opts.chromium, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 }, timeout: 60_000 });
      try {
        const page = await context.newPage();
        const measure = async (): Promise<Record<string, number>> => {
          await page.waitForFunction((n) => Number(document.body.dataset.chartPoints ?? -1) >= n && document.querySelectorAll('#cand-table tbody tr').length >= n, candidates, { timeout: 120_000, polling: 'raf' });
          const allShownMs = await page.evaluate(() => performance.now());
          // Let the lineage tree (fetched after the first data) arrive before counting bytes.
          await page.waitForFunction(() => document.querySelectorAll('#tree details, #tree .leaf').length > 0, undefined, { timeout: 60_000 });
          await page.waitForLoadState('networkidle');
          // A string, not a function: tsx's transpiler would wrap named inner functions in a helper the page lacks.
          const m = (await page.evaluate(MEASURE)) as Record<string, number>;
          return Object.fromEntries(Object.entries({ ...m, allCandidatesShownMs: allShownMs }).map(([k, v]) => [k, Math.round(v * 10) / 10]));
        };
        await page.goto(url);
        loads.push(await measure());
        if (run === 0) {
          await page.reload();
          warm = await measure();
          if (opts.screenshot) {
            await page.waitForTimeout(500);
            await page.screenshot({ path: opts.screenshot, fullPage: false });
          }
          if (opts.candidateScreenshot) {
            const view = loadRunView(path.join(root, id), id);
            const best = view.candidates.find((c) => c.network.name === view.best?.name) ?? view.candidates[0];
            await page.goto(`${ui.url}/s/${encodeURIComponent(id)}/c/${encodeURIComponent(best.name)}`);
            await page.locator('#curve-chart svg.marks').waitFor({ timeout: 60_000 });
            await page.waitForTimeout(500);
            await page.screenshot({ path: opts.candidateScreenshot, fullPage: true });
          }
          if (opts.compare && opts.compareScreenshot) {
            await page.goto(`${ui.url}/compare?ids=${opts.compare.split(',').map(encodeURIComponent).join(',')}`);
            await page.locator('#compare-chart svg.marks').waitFor({ timeout: 60_000 });
            await page.waitForTimeout(500);
            await page.screenshot({ path: opts.compareScreenshot, fullPage: true });
          }
        }
      } finally {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
      }
    }
    // One live poll of a page that has every candidate: only what changed (here: nothing) comes back.
    const all = (await (await fetch(`${ui.url}/api/s/${encodeURIComponent(id)}/data?since=0`)).json()) as { rows: { name: string }[]; settled: number };
    const last = all.rows.at(-1)?.name ?? '';
    const pollRes = await fetch(`${ui.url}/api/s/${encodeURIComponent(id)}/data?since=${all.settled}&last=${encodeURIComponent(last)}`, { headers: { 'Accept-Encoding': 'gzip' } });
    const pollBytes = (await pollRes.arrayBuffer()).byteLength;
    const keys = Object.keys(loads[0]);
    const med = Object.fromEntries(keys.map((k) => [k, +median(loads.map((l) => l[k])).toFixed(1)]));
    console.log(
      JSON.stringify(
        {
          search: id,
          candidates,
          runs: loads.length,
          cold: med,
          coldRuns: loads,
          warm,
          idlePollBytes: pollBytes,
          chromium: opts.chromium,
          loadAverage: os.loadavg().map((l) => +l.toFixed(2)),
          note: 'cold: fresh browser profile (median of runs); warm: reload with the libraries cached. Paint times and bytes from the browser (Performance API; transferSize includes headers, gzip on).',
        },
        null,
        2,
      ),
    );
  } finally {
    await ui.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
