import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { type Chromium, launchChromium } from './helpers/browser';
import { freePort, waitFor } from './helpers/processes';
import { quietRuntime, tempDir } from './helpers/temporal';
import { tinySearchConfig } from './helpers/search';
import { findTemporalCli } from '../src/temporal/cli-path';
import { DEV_SERVER_ARGS } from '../src/dev/server';
import { SEARCH_ATTRIBUTES, pauseSignal, progressQuery, resumeSignal } from '../src/workflows/definitions';
import { createControlWorker } from '../src/workers/control';
import { createTrainWorker } from '../src/workers/train';
import { startOrAttachSearch } from '../src/cli/search-client';
import { readSearchResult } from '../src/store/result';
import { type UiServer, startUiServer } from '../src/ui/server';

/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) over a real search: a real Temporal dev
 * server (with its Web UI, for the step links), the real control and training workers, a tiny synthetic dataset. The
 * search starts paused, so the page is open before the first candidate exists; then it resumes and the candidates
 * must appear on the open page without a reload. Every wait is bounded.
 */

// Browser globals, for the functions that run in the page (the project's tsconfig has no DOM library).
declare const document: {
  querySelector(s: string): { textContent: string | null } | null;
  querySelectorAll(s: string): { length: number };
  body: { dataset: Record<string, string | undefined> };
};
declare const window: Record<string, unknown>;

const EventType = temporal.api.enums.v1.EventType;

let env: TestWorkflowEnvironment;
let root: string;
let ui: UiServer;
let browser: Chromium;
let page: Page;
let outside: string | undefined;

before(async () => {
  quietRuntime();
  const uiPort = await freePort();
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: findTemporalCli() }, searchAttributes: SEARCH_ATTRIBUTES, ui: true, uiPort, log: { format: 'pretty', level: 'warn' }, extraArgs: [...DEV_SERVER_ARGS] },
  });
  root = tempDir('ui');
  ui = await startUiServer({ root, port: 0, temporal: { address: env.address, namespace: 'default', webUi: `http://localhost:${uiPort}` } });
  browser = await launchChromium('ui-chromium');
  page = await browser.context.newPage();
});

after(async () => {
  await browser?.close();
  await ui?.close();
  await env?.teardown();
  for (const dir of [root, outside]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const rowsOnPage = (p: Page) => p.locator('#cand-table tbody tr').count();

test('eas ui in Chromium: the list shows a running search, candidates appear live, a candidate page has its curve and lineage, the CSV downloads', { timeout: 300_000 }, async () => {
  const name = `ui-${Date.now()}`;
  const { handle } = await startOrAttachSearch(env.client, tinySearchConfig(name, root));
  await handle.signal(pauseSignal);
  const control = await createControlWorker({ connection: env.nativeConnection, taskQueue: `${name}-control` });
  const train = await createTrainWorker({ connection: env.nativeConnection, taskQueue: `${name}-train`, devices: ['cpu'] });

  await control.runUntil(
    train.runUntil(async () => {
      // Paused before its first episode once the start network is trained (its run store exists by then).
      await waitFor('the start network', () => fs.existsSync(path.join(root, name, 'start', 'trained', 'meta.json')), 120_000, 250);

      // The list: the search is there, paused (live status from Temporal).
      await page.goto(`${ui.url}/`);
      const row = page.locator(`tr[data-id="${name}"]`);
      await row.waitFor();
      await page.waitForFunction((id) => document.querySelector(`tr[data-id="${id}"] .state`)?.textContent === 'paused', name, { timeout: 30_000 });
      assert.match(await row.innerText(), /synthetic/);
      assert.match(await row.innerText(), /RL/);
      assert.match(await row.innerText(), /0 \/ 8/);

      // The search page, opened before any candidate exists.
      await row.locator('a', { hasText: name }).click();
      await page.waitForURL(`${ui.url}/s/${name}`);
      await page.locator('#progress-chart canvas').waitFor();
      await page.waitForFunction(() => document.body.dataset.settled === '0');
      assert.equal(await rowsOnPage(page), 0);
      await page.evaluate(() => (window.__kept = 'same page'));

      await handle.signal(resumeSignal);
      // New candidates arrive on the open page: table rows and the chart's points, without a reload.
      await page.waitForFunction(() => document.querySelectorAll('#cand-table tbody tr').length >= 1, undefined, { timeout: 150_000 });
      await page.waitForFunction(() => Number(document.body.dataset.chartPoints ?? 0) >= 1, undefined, { timeout: 30_000 });
      assert.equal(await page.evaluate(() => window.__kept), 'same page', 'the page was not reloaded');

      await handle.result();
      const p = await handle.query(progressQuery);
      assert.equal(p.phase, 'done');
    }),
  );

  const result = readSearchResult(path.join(root, name, 'result.json'));
  assert.equal(result.candidates.length, 8);
  // Still the same page: all eight candidates, the finished state, the final network.
  await page.waitForFunction(() => document.querySelectorAll('#cand-table tbody tr').length === 8, undefined, { timeout: 60_000 });
  await page.waitForFunction(() => /completed|finished/.test(document.querySelector('#state')?.textContent ?? ''), undefined, { timeout: 30_000 });
  assert.equal(await page.evaluate(() => window.__kept), 'same page');
  assert.equal(await page.evaluate(() => Number(document.body.dataset.chartPoints)), result.candidates.length);
  const names = await page.locator('#cand-table tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as unknown as { dataset: Record<string, string> }).dataset.name));
  assert.deepEqual(names, result.candidates.map((c) => c.name));
  await page.locator('#final table').waitFor();
  assert.match(await page.locator('#final').innerText(), /top-1/);
  assert.match(await page.locator('#tree').innerText(), /start/);

  // CSV download: one row per candidate, in order, with the recorded accuracies.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-csv').click()]);
  const csvFile = path.join(root, 'download.csv');
  await download.saveAs(csvFile);
  const lines = fs.readFileSync(csvFile, 'utf8').trim().split(/\r\n/);
  assert.equal(download.suggestedFilename(), `${name}-candidates.csv`);
  assert.match(lines[0], /^order,name,stage,episode,index,parent,actions,notation,params,accuracy,/);
  assert.equal(lines.length, 1 + result.candidates.length);
  result.candidates.forEach((c, i) => {
    const cells = lines[i + 1].split(',');
    assert.equal(cells[1], c.name);
    if (!c.failed && !c.diverged && c.network.accuracy !== null) assert.ok(lines[i + 1].includes(String(c.network.accuracy)), `${c.name}: accuracy ${c.network.accuracy} in the CSV`);
  });

  // The JSON download: the same rows.
  const asJson = (await (await fetch(`${ui.url}/api/s/${name}/candidates.json`)).json()) as { candidates: { name: string; accuracy: number | null; notation: string }[]; pending: unknown[] };
  assert.deepEqual(asJson.candidates.map((c) => c.name), result.candidates.map((c) => c.name));
  assert.deepEqual(asJson.candidates.map((c) => c.notation), result.candidates.map((c) => c.network.notation));
  assert.equal(asJson.pending.length, 0);

  // A candidate's page: training curve (chart and table), lineage from the start network, architecture, Temporal step.
  const trained = result.candidates.find((c) => !c.cachedFrom && !c.failed)!;
  await page.locator(`#cand-table tr[data-name="${trained.name}"] a`).first().click();
  await page.waitForURL(`${ui.url}/s/${name}/c/${trained.name}`);
  await page.locator('#curve-chart svg.marks').waitFor();
  await page.waitForFunction(() => Number(document.body.dataset.curvePoints ?? 0) >= 1);
  assert.match(await page.locator('#curve-table').innerText(), /^epoch/m);
  assert.equal(await page.locator('#notation').innerText(), trained.network.notation);
  assert.ok((await page.locator('.diagram .layer').count()) >= 4);
  const lineage = await page.locator('#lineage .node').allInnerTexts();
  assert.ok(lineage.length >= 2, `lineage: ${lineage.join(' | ')}`);
  assert.match(lineage[0], /^start/);
  assert.match(lineage.at(-1)!, new RegExp(`^${trained.name}`));
  const step = await page.locator('#temporal-step').getAttribute('href');
  const m = /\/workflows\/([^/]+)\/([^/]+)\/history\/events\/(\d+)$/.exec(step ?? '');
  assert.ok(m, `Temporal step link: ${step}`);
  const history = await env.client.workflow.getHandle(name, decodeURIComponent(m[2])).fetchHistory();
  const event = history.events?.find((e) => String(e.eventId) === m[3]);
  assert.equal(event?.eventType, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
  assert.equal(event?.activityTaskScheduledEventAttributes?.activityType?.name, 'trainNetwork');
  const input = JSON.parse(Buffer.from(event!.activityTaskScheduledEventAttributes!.input!.payloads![0].data!).toString('utf8')) as { name: string };
  assert.equal(input.name, trained.name, 'the step trains this candidate');

  // Comparison page with this search: Figure 5's chart renders.
  await page.goto(`${ui.url}/compare?ids=${name}`);
  await page.locator('#compare-chart svg.marks').waitFor();
  assert.match(await page.locator('#compare-table').innerText(), new RegExp(name));
});

test('eas ui is read-only and stays inside the run store', async () => {
  fs.writeFileSync(path.join(path.dirname(root), 'outside.json'), '{"secret": true}');
  const get = (p: string, init: RequestInit = {}) => fetch(`${ui.url}${p}`, { redirect: 'manual', ...init });
  for (const p of ['/api/s/..%2F..%2Foutside.json/data', '/api/s/%2e%2e%2f%2e%2e/spec', '/s/.hidden', '/api/s/nope/data', '/assets/..%2F..%2Fpackage.json', '/assets/server.ts', '/api/s/x/c/..%2F..%2Fresult.json']) {
    const r = await get(p);
    assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
    assert.doesNotMatch(await r.text(), /secret/);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) assert.equal((await get('/api/searches', { method })).status, 405);
  // A loopback server answers only to loopback names (DNS rebinding).
  const rebinding = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${ui.url}/api/searches`, { headers: { Host: 'evil.example:80' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(rebinding, 403);
  // A symlinked folder that leads out of the run store is not a search.
  outside = tempDir('ui-outside');
  fs.writeFileSync(path.join(outside, 'config.json'), '{}');
  fs.symlinkSync(outside, path.join(root, 'escape'));
  assert.equal((await get('/api/s/escape/data')).status, 404);
  assert.ok(!((await (await get('/api/searches')).json()) as { searches: { id: string; error?: string }[] }).searches.some((s) => s.id === 'escape' && !s.error));
});
