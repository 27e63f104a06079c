import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Page } from 'playwright-core';
import { type Chromium, launchChromium } from './helpers/browser';
import { buildRunStore } from './helpers/runstore';
import { tempDir } from './helpers/temporal';
import { type SeaweedServer, startSeaweed } from './helpers/seaweed';
import { setupBackend } from './helpers/tf';
import { createControlActivities } from '../src/activities/control';
import { childId } from '../src/experiment/config';
import { compareExperiment } from '../src/experiment/compare';
import { type ChildOutcome, ChildOutcomeSchema, ExperimentRecordSchema } from '../src/experiment/records';
import { loadExperiment } from '../src/experiment/results';
import { ExperimentLayout, RunLayout, jobPaths } from '../src/store/layout';
import { networkRef } from '../src/store/network-ref';
import { readSearchResult } from '../src/store/result';
import { S3RunStore } from '../src/store/storage';
import { executeTrainJob } from '../src/train/job';
import { recipeFor } from '../src/train/recipe';
import { writeJsonAtomic } from '../src/util/atomic';
import { deriveSeed } from '../src/util/seed';
import { type UiServer, startUiServer } from '../src/ui/server';

/**
 * Experiments on the dashboard, and the dashboard over an object store.
 *
 * The store: an experiment "uix" of arms rl and random (searches) and a reference arm, × seeds 1 and 2. The four
 * searches are real small searches (test/helpers/runstore.ts buildRunStore: real Net2Net transforms, real training);
 * each also gets its start-net reference (the start network trained by the final recipe, for real) written into its
 * result.json by the control activity writeResult, as the workflow does. The experiment's records are written through
 * H4's schemas: the four searches ended (completed), the two reference children not started yet.
 *
 * 1. In Chromium: the list shows the experiment (arms, seeds, 4 / 6 children); its page shows the per-arm statistics
 *    and the paired comparison exactly as `eas compare` computes them (compareExperiment), Fig. 5, the arms × seeds
 *    grid linking to each child's search page; that page shows the final networks against the reference; the CSV and
 *    JSON downloads work.
 * 2. `eas ui --runs s3://…` (the real CLI as a process) over the same store uploaded to a real SeaweedFS S3 server:
 *    the list comes from the bucket, the experiment's numbers are the same, a candidate's training curve is pulled on
 *    demand (and nothing else heavy is), and a result published after the dashboard started shows up without restart.
 */

declare const document: { querySelectorAll(s: string): { length: number }; body: { dataset: Record<string, string | undefined> } };

const EXP = 'uix';
const SEEDS = [1, 2];
const SEARCH_ARMS = ['rl', 'random'] as const;
const EAS = path.join(__dirname, '..', 'bin', 'eas.js');

let root: string;
let ui: UiServer;
let browser: Chromium;
let page: Page;

/** The start network given the final training, for real, recorded in result.json by writeResult (the workflow's activity). */
async function addReference(root: string, id: string): Promise<void> {
  const layout = new RunLayout(path.join(root, id));
  const r = readSearchResult(layout.result());
  const job = layout.finalReference();
  const { work, trained } = jobPaths(job);
  const out = await executeTrainJob({
    network: jobPaths(layout.start()).trained,
    dataset: { ...r.config.dataset, seed: deriveSeed(r.config.seed, 'data') },
    mode: 'final',
    epochs: r.config.final.epochs,
    recipe: recipeFor(r.config.training, 'final'),
    seed: deriveSeed(r.config.seed, 'train', 'reference'),
    workDir: work,
    output: trained,
    backend: r.config.backend,
  });
  const network = networkRef(root, 'reference', trained, out.testAcc ?? null);
  writeJsonAtomic(path.join(job, 'outcome.json'), { network, trainAccuracy: out.trainAcc, loss: out.loss, epochs: out.epochs, diverged: false, resumedFromEpoch: 0 });
  const { writeResult } = createControlActivities({ runner: { run: () => Promise.reject(new Error('no control child')) } });
  await writeResult({ runDir: id, searchId: id, config: r.config, start: r.start, stagesRecorded: r.stages.length, final: r.final, policyUpdates: r.policyUpdates, stopped: false, reference: { network, failed: null } });
}

/** uix: 2 search arms × 2 seeds built for real, the reference arm planned; records through the experiment's schemas. */
async function buildExperiment(root: string): Promise<void> {
  const plans = SEEDS.flatMap((seed) => [...SEARCH_ARMS.map((arm) => ({ id: childId(EXP, arm, seed), arm, kind: 'search' as const, seed })), { id: childId(EXP, 'reference', seed), arm: 'reference', kind: 'reference' as const, seed }]);
  const layout = new ExperimentLayout(path.join(root, EXP));
  writeJsonAtomic(
    layout.record(),
    ExperimentRecordSchema.parse({ experimentId: EXP, arms: [{ name: 'rl', kind: 'search' }, { name: 'random', kind: 'search' }, { name: 'reference', kind: 'reference' }], seeds: SEEDS, concurrency: 2, children: plans, referenceBudget: null, config: { name: EXP } }),
  );
  let t = Date.UTC(2026, 0, 1);
  for (const p of plans.filter((x) => x.kind === 'search')) {
    await buildRunStore({ root, id: p.id, controller: p.arm as 'rl' | 'random', seed: p.seed });
    await addReference(root, p.id);
    const outcome: ChildOutcome = ChildOutcomeSchema.parse({ ...p, status: 'completed', resultFile: `${p.id}/result.json`, startedAt: t, endedAt: t + 60_000 + p.seed * 1000, error: null });
    t += 120_000;
    writeJsonAtomic(layout.child(p.id), outcome);
  }
}

before(async () => {
  await setupBackend();
  root = tempDir('ui-exp');
  await buildExperiment(root);
  ui = await startUiServer({ root, port: 0, temporal: false });
  browser = await launchChromium('ui-exp-chromium');
  page = await browser.context.newPage();
});

after(async () => {
  await browser?.close();
  await ui?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

test('eas ui in Chromium: an experiment in the list, its page (arms, statistics, Fig. 5, arms × seeds), a child search with its reference, downloads', { timeout: 240_000 }, async () => {
  const expected = compareExperiment(loadExperiment(root, EXP));
  assert.equal(expected.arms.length, 3);

  await page.goto(`${ui.url}/`);
  const row = page.locator(`#experiments tr[data-id="${EXP}"]`);
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /rl, random, reference/);
  assert.match(text, /4 \/ 6/);
  assert.match(text, /in progress/);
  // The children are searches of their own, in the searches list.
  for (const seed of SEEDS) for (const arm of SEARCH_ARMS) await page.locator(`#searches tr[data-id="${childId(EXP, arm, seed)}"]`).waitFor();

  await row.locator('a', { hasText: EXP }).click();
  await page.waitForURL(`${ui.url}/e/${EXP}`);
  await page.locator('#arms-table tbody tr').nth(2).waitFor();
  // Per arm: the mean and CI of the final test accuracy as compareExperiment gives them.
  for (const a of expected.arms) {
    const cells = await page.locator(`#arms-table tr[data-arm="${a.arm}"]`).innerText();
    const ft = a.metrics.finalTest;
    if (ft) {
      assert.ok(cells.includes(pct(ft.mean)) && cells.includes(`[${pct(ft.lo)}, ${pct(ft.hi)}]`), `${a.arm}: ${cells}`);
      assert.match(cells, new RegExp(`${a.completed} / ${a.seeds}`));
    } else assert.match(cells, /0 \/ 2/);
  }
  // Paired: rl − random on each metric, with its Wilcoxon p-value.
  const pairs = expected.pairs.filter((p) => p.a === 'rl' && p.b === 'random');
  assert.ok(pairs.length >= 2);
  for (const p of pairs) {
    const cells = await page.locator(`#pairs-table tr[data-pair="rl-random"][data-metric="${p.metric}"]`).innerText();
    assert.ok(cells.includes(p.wilcoxon.p === null ? '—' : p.wilcoxon.p.toFixed(4)), `${p.metric}: ${cells}`);
    assert.match(cells, new RegExp(`${p.wins} / ${p.losses}`));
  }
  // Fig. 5: every seed's running best and each arm's band, drawn.
  await page.locator('#fig5 svg.marks').waitFor();
  assert.equal(expected.curves.length, 4);
  // Arms × seeds: a link to each search child.
  assert.equal(await page.locator('#grid-table a[data-child]').count(), 4);
  assert.match(await page.locator('#children-table').innerText(), /planned/);

  // Downloads: the children as CSV, the comparison as JSON.
  const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-children-csv').click()]);
  assert.equal(csv.suggestedFilename(), `${EXP}-children.csv`);
  const csvFile = path.join(browser.profile, 'children.csv');
  await csv.saveAs(csvFile);
  const lines = fs.readFileSync(csvFile, 'utf8').trim().split(/\r\n/);
  assert.match(lines[0], /^id,arm,kind,seed,status,finalTest,/);
  assert.equal(lines.length, 1 + 6);
  const asJson = (await (await fetch(`${ui.url}/api/e/${EXP}/comparison.json`)).json()) as { arms: { arm: string; metrics: { finalTest: { mean: number } | null } }[]; pairs: unknown[] };
  assert.deepEqual(asJson.arms.map((a) => a.metrics.finalTest?.mean ?? null), expected.arms.map((a) => a.metrics.finalTest?.mean ?? null));
  assert.equal(asJson.pairs.length, expected.pairs.length);

  // From the grid to a child's search page: its final networks against the reference.
  const child = childId(EXP, 'rl', 2);
  await page.locator(`#grid-table a[data-child="${child}"]`).click();
  await page.waitForURL(`${ui.url}/s/${child}`);
  await page.locator('#final-table tr.reference').waitFor();
  const result = readSearchResult(path.join(root, child, 'result.json'));
  assert.ok(result.reference?.network && result.gains?.length, 'the child has its reference');
  const finals = await page.locator('#final').innerText();
  assert.match(finals, /same final training/);
  for (const g of result.gains!) {
    const r = Math.round(g.testPoints! * 100) / 100;
    const shown = `${r > 0 ? '+' : r < 0 ? '−' : '±'}${Math.abs(r).toFixed(2)} pt`;
    assert.ok((await page.locator(`#final-table tr[data-name="${g.name}"] .gain`).innerText()).includes(shown), `${g.name}: ${shown}`);
  }
  assert.ok((await page.locator('#reference-verdict li').count()) >= 1);
  // The search's CSV still downloads.
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-csv').click()]);
  assert.equal(dl.suggestedFilename(), `${child}-candidates.csv`);
  const searchCsv = path.join(browser.profile, 'search.csv');
  await dl.saveAs(searchCsv);
  assert.equal(fs.readFileSync(searchCsv, 'utf8').trim().split(/\r\n/).length, 1 + result.candidates.length);

  // Experiment ids are checked like search ids: nothing outside the store, a search is not an experiment.
  for (const p of ['/e/..%2F..%2Fetc', '/api/e/%2e%2e%2f%2e%2e', '/api/e/.hidden', `/api/e/${child}`, '/e/nope', `/api/e/${EXP}/..%2Fexperiment.json`]) {
    const r = await fetch(`${ui.url}${p}`);
    assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
  }
  assert.equal((await fetch(`${ui.url}/api/e/${EXP}`, { method: 'POST' })).status, 405);
});

/** Every artifact of the local store published to the bucket the way the workers publish them (folders: networks, checkpoints). */
async function upload(store: S3RunStore, dir: string, rel = '', hold: Set<string> = new Set()): Promise<void> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const stored = rel ? `${rel}/${e.name}` : e.name;
    if (hold.has(stored)) continue;
    if (e.isDirectory()) {
      if (/^(?:init|trained|epoch-\d+)$/.test(e.name)) await store.publish(stored);
      else await upload(store, path.join(dir, e.name), stored, hold);
    } else if (e.isFile()) await store.publish(stored);
  }
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess; said: () => string }> {
  const child = spawn(process.execPath, [EAS, 'ui', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  child.stderr!.on('data', (b: Buffer) => (said += b.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`eas ui did not listen within 90 s: ${said}`));
    }, 90_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^eas ui: (\S+)/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      resolve({ url: m[1], child, said: () => said });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`eas ui exited (${code}): ${said}`));
    });
  });
}

/** Bytes of the files under `dir`. */
function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += fs.statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

test('eas ui --runs s3://…: the list, the experiment and the searches from a real S3 server (SeaweedFS), pulled lazily, live', { timeout: 300_000 }, async (t) => {
  let s3: SeaweedServer | undefined;
  let cli: ChildProcess | undefined;
  const cache = tempDir('ui-s3-cache');
  const saved = { ...process.env };
  try {
    s3 = await startSeaweed();
    Object.assign(process.env, s3.env);
    const url = s3.url('runs');
    const held = childId(EXP, 'random', 1);
    const writer = new S3RunStore(url, root);
    // Everything but one search's result.json: that search looks unfinished until it is published.
    await upload(writer, root, '', new Set([`${held}/result.json`]));

    const started = await startCli(['--runs', url, '--port', '0', '--no-temporal'], { ...s3.env, EAS_CACHE_DIR: cache });
    cli = started.child;
    const get = async <T>(p: string): Promise<T> => {
      const r = await fetch(`${started.url}${p}`, { signal: AbortSignal.timeout(60_000) });
      assert.equal(r.status, 200, `${p}: ${r.status} ${await r.clone().text()}`);
      return (await r.json()) as T;
    };

    type List = { root: string; searches: { id: string; stored: string; done: number }[]; experiments: { id: string; done: number; planned: number }[] };
    let at = performance.now();
    const list = await get<List>('/api/searches');
    t.diagnostic(`first list from the bucket (pulls what the pages need): ${Math.round(performance.now() - at)} ms; cache ${bytesUnder(cache)} bytes of the store's ${bytesUnder(root)}`);
    await new Promise((r) => setTimeout(r, 11_000));
    at = performance.now();
    await get<List>('/api/searches');
    t.diagnostic(`a list poll after the TTLs (re-listing only): ${Math.round(performance.now() - at)} ms`);
    assert.equal(list.root, url);
    assert.deepEqual(list.experiments.map((e) => [e.id, e.done, e.planned]), [[EXP, 4, 6]]);
    const ids = SEEDS.flatMap((seed) => SEARCH_ARMS.map((arm) => childId(EXP, arm, seed)));
    assert.deepEqual(list.searches.map((s) => s.id).sort(), [...ids].sort());
    assert.equal(list.searches.find((s) => s.id === held)?.stored, 'in progress');
    for (const id of ids.filter((i) => i !== held)) assert.equal(list.searches.find((s) => s.id === id)?.stored, 'finished', id);

    // The experiment page's numbers from the bucket: the comparison of the held child's arm lacks it for now.
    const local = compareExperiment(loadExperiment(root, EXP));
    const exp = await get<{ comparison: typeof local }>(`/api/e/${EXP}`);
    assert.deepEqual(exp.comparison.arms.find((a) => a.arm === 'rl'), local.arms.find((a) => a.arm === 'rl'));

    // A finished search: the same candidates as on disk; only what the pages need was pulled (no network weights).
    const child = childId(EXP, 'rl', 1);
    const data = await get<{ rows: { name: string; accuracy: number | null }[]; reference: { network: unknown } | null }>(`/api/s/${child}/data?since=0`);
    const result = readSearchResult(path.join(root, child, 'result.json'));
    assert.deepEqual(data.rows.map((r) => r.name), result.candidates.map((c) => c.name));
    assert.ok(data.reference?.network, 'the reference, from the bucket');
    const trained = result.candidates.find((c) => !c.cachedFrom)!;
    const jobRel = new RunLayout(child).candidate(trained);
    assert.ok(!fs.existsSync(path.join(cache, s3.bucket, 'runs', jobRel, 'trained')), 'no network pulled before its page asks');
    assert.ok(!fs.existsSync(path.join(cache, s3.bucket, 'runs', jobRel, 'init')));
    // Its candidate page pulls its training curve.
    const detail = await get<{ curve: unknown[]; curveDone: boolean }>(`/api/s/${child}/c/${trained.name}`);
    assert.ok(detail.curve.length >= 1 && detail.curveDone, 'the curve, pulled on demand');
    assert.ok(fs.existsSync(path.join(cache, s3.bucket, 'runs', jobRel, 'trained', 'meta.json')));

    // Live: the held result is published now; the running dashboard shows the search finished (bounded wait).
    await writer.publish(`${held}/result.json`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const l = await get<List>('/api/searches');
      if (l.searches.find((s) => s.id === held)?.stored === 'finished') break;
      assert.ok(Date.now() < deadline, `${held} still shown unfinished after 60 s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const again = await get<{ comparison: typeof local }>(`/api/e/${EXP}`);
    assert.deepEqual(again.comparison.arms, local.arms, 'the experiment from the bucket has the numbers of the local store');

    // In the browser: the experiment page served from the bucket.
    await page.goto(`${started.url}/e/${EXP}`);
    await page.locator('#fig5 svg.marks').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#arms-table tbody tr').length === 3);
  } finally {
    if (cli && cli.exitCode === null) {
      const gone = new Promise((r) => cli!.once('exit', r));
      cli.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (cli.exitCode === null) cli.kill('SIGKILL');
    }
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await s3?.stop();
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
