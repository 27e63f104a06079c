import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { type RunView, candidateJobDir, isRunId, loadRunView, locateRun, paramsText, pointsText, ratioText, referenceLines } from '../report';
import { CHILD_CSV_COLUMNS, type ExperimentPayload, type ExperimentSummary, experimentChildIds, experimentPayload, isExperimentDir } from './experiment';
import { LocalSource, type RunSource } from './source';
import { type SearchSummary, candidateDetail, candidateRows, chartRowsFrom, compareLiveSpec, finalRows, lineageTree, liveProgressSpec, pendingRows, rowsCsv, searchSummary, toCsv, settledCount, stageRows } from './model';
import { page } from './pages';
import { RunLayout } from '../store/layout';
import { LiveStatus, type LiveOptions } from './temporal';

/**
 * `eas ui`: a read-only web server over a run store. node:http only; every route is a GET (HEAD too) on a fixed
 * pattern, search ids and candidate names are checked against their grammar and must exist in the store, and the only
 * files served from disk are the dashboard's own assets and three vendored bundles (vega, vega-lite, vega-embed) named
 * in a fixed table. Nothing here writes.
 */

export interface UiServerOptions {
  /** Storage root (the run store), a directory; ignored when `source` is given. */
  root?: string;
  /** Where the run store's files come from (default: the directory `root`); src/ui/source.ts (also s3://). */
  source?: RunSource;
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** Temporal for live status; false: none. */
  temporal?: LiveOptions | false;
  log?: (msg: string) => void;
}

export interface UiServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

export const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
export const isLoopback = (host: string): boolean => LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Bundles the pages load, looked up in the node_modules folders Node would search from here. */
const VENDOR: Record<string, { pkg: string; file: string }> = {
  'vega.min.js': { pkg: 'vega', file: 'build/vega.min.js' },
  'vega-lite.min.js': { pkg: 'vega-lite', file: 'build/vega-lite.min.js' },
  'vega-embed.min.js': { pkg: 'vega-embed', file: 'build/vega-embed.min.js' },
};
const ASSETS: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'style.css': 'text/css; charset=utf-8' };

function vendorFile(name: string): string | null {
  const v = VENDOR[name];
  if (!v) return null;
  for (const dir of module.paths) {
    const f = path.join(dir, v.pkg, v.file);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Cached {
  view: RunView;
  at: number;
  resultMtime: number;
}

const VIEW_TTL_MS = 1000;

export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const source = opts.source ?? new LocalSource(path.resolve(opts.root ?? 'runs'));
  const root = source.root;
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => {});
  const live = opts.temporal === false ? null : new LiveStatus(opts.temporal ?? {});
  const views = new Map<string, Cached>();
  const staticCache = new Map<string, { body: Buffer; gz: Buffer; etag: string; type: string }>();
  const assetsDir = path.join(__dirname, 'public');

  /** The run store of `id`, checked: valid name, a run store, inside the root once symlinks are resolved. */
  function runDirOf(id: string): string {
    if (!isRunId(id)) throw new HttpError(400, 'not a valid search id');
    let dir: string;
    try {
      dir = locateRun(root, id);
    } catch {
      throw new HttpError(404, `no search '${id}' in this run store`);
    }
    const real = fs.realpathSync(dir);
    const realRoot = fs.realpathSync(root);
    if (path.dirname(real) !== realRoot) throw new HttpError(404, `no search '${id}' in this run store`);
    return dir;
  }

  /** Valid id, made current from the source (an object store), then checked against the local copy. */
  async function synced(id: string, what: 'search' | 'experiment' = 'search'): Promise<void> {
    if (!isRunId(id)) throw new HttpError(400, `not a valid ${what} id`);
    await source.sync(id);
  }

  async function viewOf(id: string): Promise<RunView> {
    await synced(id);
    const dir = runDirOf(id);
    const resultFile = path.join(dir, 'result.json');
    const resultMtime = fs.existsSync(resultFile) ? fs.statSync(resultFile).mtimeMs : 0;
    const hit = views.get(id);
    // A finished search's view changes only with its result.json; an unfinished one is re-read at most once a second.
    if (hit && hit.resultMtime === resultMtime && (resultMtime > 0 || Date.now() - hit.at < VIEW_TTL_MS)) return hit.view;
    const view = loadRunView(dir, id);
    views.set(id, { view, at: Date.now(), resultMtime });
    return view;
  }

  async function summaryOf(id: string): Promise<SearchSummary> {
    try {
      const view = await viewOf(id);
      return searchSummary(view, live ? await live.state(id) : null);
    } catch (err) {
      return { id, dataset: null, space: null, controller: null, stage: null, stages: null, episode: null, done: 0, planned: null, pending: 0, failed: 0, best: null, bestFinal: null, stored: 'in progress', live: null, state: 'unreadable', updated: 0, error: (err as Error).message };
    }
  }

  const experiments = new Map<string, { at: number; payload: ExperimentPayload }>();

  /** The experiment page's payload: its children synced first (object store), re-read at most once a second. */
  async function experimentOf(id: string): Promise<ExperimentPayload> {
    await synced(id, 'experiment');
    if (!isExperimentDir(root, id)) throw new HttpError(404, `no experiment '${id}' in this run store`);
    const real = fs.realpathSync(path.join(root, id));
    if (path.dirname(real) !== fs.realpathSync(root)) throw new HttpError(404, `no experiment '${id}' in this run store`);
    const hit = experiments.get(id);
    if (hit && Date.now() - hit.at < VIEW_TTL_MS) return hit.payload;
    if (source.remote) await Promise.all(experimentChildIds(root, id).map((c) => source.sync(c)));
    const state = live ? await live.state(id) : null;
    const payload = experimentPayload(root, id, state);
    experiments.set(id, { at: Date.now(), payload });
    return payload;
  }

  async function experimentSummaryOf(id: string): Promise<ExperimentSummary> {
    try {
      return (await experimentOf(id)).summary;
    } catch (err) {
      return { id, kind: 'experiment', arms: [], seeds: [], done: 0, planned: 0, completed: 0, failed: 0, stored: 'in progress', live: null, state: 'unreadable', best: null, updated: 0, error: (err as Error).message };
    }
  }

  /** Searches and experiments of the store: its top-level folders, each made current first (object store). */
  async function listing(): Promise<{ searches: string[]; experiments: string[] }> {
    const ids = await source.ids();
    const searches: string[] = [];
    const experiments: string[] = [];
    await Promise.all(
      ids.map(async (id) => {
        try {
          await source.sync(id);
        } catch (err) {
          log(`reading ${source.url}/${id}: ${(err as Error).message}`);
        }
      }),
    );
    for (const id of ids) {
      if (isExperimentDir(root, id)) experiments.push(id);
      else {
        const layout = new RunLayout(path.join(root, id));
        if (fs.existsSync(layout.result()) || fs.existsSync(layout.config()) || fs.existsSync(layout.start())) searches.push(id);
      }
    }
    return { searches, experiments };
  }

  function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
    let buf = typeof body === 'string' ? Buffer.from(body) : body;
    const headers: Record<string, string> = {
      'Content-Type': type,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      'Cache-Control': 'no-store',
      ...extra,
    };
    if (type.startsWith('text/html')) headers['Content-Security-Policy'] = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-eval'; connect-src 'self'; frame-ancestors 'none'";
    if (buf.length > 1024 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && !headers['Content-Encoding']) {
      buf = zlib.gzipSync(buf, { level: 6 });
      headers['Content-Encoding'] = 'gzip';
      headers.Vary = 'Accept-Encoding';
    }
    headers['Content-Length'] = String(buf.length);
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : buf);
  }

  const json = (req: http.IncomingMessage, res: http.ServerResponse, value: unknown, extra: Record<string, string> = {}) => send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(value), extra);

  function sendStatic(req: http.IncomingMessage, res: http.ServerResponse, key: string, file: string, type: string, immutable: boolean): void {
    let entry = staticCache.get(key);
    const mtime = fs.statSync(file).mtimeMs;
    const etag = `"${Math.round(mtime).toString(36)}-${fs.statSync(file).size.toString(36)}"`;
    if (!entry || entry.etag !== etag) {
      const body = fs.readFileSync(file);
      entry = { body, gz: zlib.gzipSync(body, { level: 9 }), etag, type };
      staticCache.set(key, entry);
    }
    const cache = immutable ? 'public, max-age=86400' : 'no-cache';
    if (req.headers['if-none-match'] === entry.etag) {
      res.writeHead(304, { ETag: entry.etag, 'Cache-Control': cache });
      res.end();
      return;
    }
    const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const buf = gz ? entry.gz : entry.body;
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': String(buf.length),
      ETag: entry.etag,
      'Cache-Control': cache,
      'X-Content-Type-Options': 'nosniff',
      ...(gz ? { 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : buf);
  }

  function candidateName(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(name)) throw new HttpError(400, 'not a valid candidate name');
    return name;
  }

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' });
      res.end('read-only: GET and HEAD only\n');
      return;
    }
    // A loopback server answers only to loopback host names (no DNS rebinding from a page elsewhere).
    if (isLoopback(host)) {
      const h = String(req.headers.host ?? '').replace(/:\d+$/, '');
      if (!isLoopback(h)) throw new HttpError(403, 'this dashboard answers only to localhost');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname;
    let m: RegExpExecArray | null;

    if (p === '/favicon.ico') {
      res.writeHead(204, { 'Cache-Control': 'public, max-age=86400' });
      res.end();
      return;
    }
    if (p === '/' || p === '/index.html') return send(req, res, 200, 'text/html; charset=utf-8', page({ kind: 'list', title: 'EAS searches', root: source.url }));
    if ((m = /^\/assets\/([a-z][a-z.-]*\.(?:js|css))$/.exec(p))) {
      const name = m[1];
      if (ASSETS[name]) return sendStatic(req, res, `asset:${name}`, path.join(assetsDir, name), ASSETS[name], false);
      const v = vendorFile(name);
      if (v) return sendStatic(req, res, `vendor:${name}`, v, 'text/javascript; charset=utf-8', true);
      throw new HttpError(404, 'no such asset');
    }
    if (p === '/api/searches') {
      const ids = await listing();
      const [searches, exps] = await Promise.all([Promise.all(ids.searches.map(summaryOf)), Promise.all(ids.experiments.map(experimentSummaryOf))]);
      return json(req, res, { root: source.url, temporal: live ? { address: live.address, namespace: live.namespace, connected: live.connected, webUi: live.webUi } : null, searches, experiments: exps });
    }
    if ((m = /^\/e\/([^/]+)\/?$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      await experimentOf(id);
      return send(req, res, 200, 'text/html; charset=utf-8', page({ kind: 'experiment', title: `EAS experiment ${id}`, root: source.url, id }));
    }
    if ((m = /^\/api\/e\/([^/]+)(?:\/(children\.csv|comparison\.json))?$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      const payload = await experimentOf(id);
      if (m[2] === 'children.csv') return send(req, res, 200, 'text/csv; charset=utf-8', toCsv(CHILD_CSV_COLUMNS, payload.children), { 'Content-Disposition': `attachment; filename="${id}-children.csv"` });
      if (m[2] === 'comparison.json') return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify({ ...payload.comparison, children: payload.children }, null, 1), { 'Content-Disposition': `attachment; filename="${id}-comparison.json"` });
      return json(req, res, { ...payload, temporal: { workflow: live?.workflowUrl(id) ?? null, connected: live?.connected ?? false } });
    }
    if ((m = /^\/s\/([^/]+)\/?$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      await synced(id);
      runDirOf(id);
      return send(req, res, 200, 'text/html; charset=utf-8', page({ kind: 'search', title: `EAS search ${id}`, root: source.url, id }));
    }
    if ((m = /^\/s\/([^/]+)\/c\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      const name = candidateName(decodeURIComponent(m[2]));
      if (!candidateDetail(await viewOf(id), name)) throw new HttpError(404, `search '${id}' has no candidate '${name}'`);
      return send(req, res, 200, 'text/html; charset=utf-8', page({ kind: 'candidate', title: `${name} · ${id}`, root: source.url, id, name }));
    }
    if (p === '/compare') {
      const ids = compareIds(url);
      for (const id of ids) {
        await synced(id);
        runDirOf(id);
      }
      return send(req, res, 200, 'text/html; charset=utf-8', page({ kind: 'compare', title: `EAS compare ${ids.join(', ')}`, root: source.url, ids }));
    }
    if ((m = /^\/api\/s\/([^/]+)\/(spec|data|tree|candidates\.csv|candidates\.json)$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      const view = await viewOf(id);
      switch (m[2]) {
        case 'spec':
          return json(req, res, liveProgressSpec(view));
        case 'data':
          return json(req, res, await dataPayload(view, url));
        case 'tree':
          return json(req, res, lineageTree(view));
        case 'candidates.csv':
          return send(req, res, 200, 'text/csv; charset=utf-8', rowsCsv(candidateRows(view)), { 'Content-Disposition': `attachment; filename="${id}-candidates.csv"` });
        case 'candidates.json':
          return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify({ searchId: id, candidates: candidateRows(view), pending: pendingRows(view) }, null, 1), { 'Content-Disposition': `attachment; filename="${id}-candidates.json"` });
      }
    }
    if ((m = /^\/api\/s\/([^/]+)\/c\/([^/]+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]);
      const name = candidateName(decodeURIComponent(m[2]));
      const detail = await candidateOf(id, name);
      if (!detail) throw new HttpError(404, `search '${id}' has no candidate '${name}'`);
      const step = live && detail.row ? await live.stepLink(id, detail.curveOf) : null;
      return json(req, res, { ...detail, temporal: { step: step?.url ?? null, workflow: live?.workflowUrl(id) ?? null } });
    }
    if (p === '/api/compare') {
      const ids = compareIds(url);
      const vs = await Promise.all(ids.map(viewOf));
      return json(req, res, { spec: compareLiveSpec(vs), searches: await Promise.all(ids.map(summaryOf)) });
    }
    throw new HttpError(404, 'not found');
  }

  function compareIds(url: URL): string[] {
    const ids = [...new Set((url.searchParams.get('ids') ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
    if (ids.length < 1 || ids.length > 12) throw new HttpError(400, 'compare takes 1 to 12 search ids: /compare?ids=a,b');
    for (const id of ids) if (!isRunId(id)) throw new HttpError(400, 'not a valid search id');
    return ids;
  }

  /**
   * What the search page needs after it has `since` settled candidates (and the name of the last one, `last`): the
   * summary, the settled candidates after those, the provisional tail (replaced on each poll), what trains now, the
   * stages and the final networks. A page whose `last` does not match starts over (reset).
   */
  async function dataPayload(view: RunView, url: URL) {
    const rows = candidateRows(view);
    let since = Number(url.searchParams.get('since') ?? '0');
    if (!Number.isInteger(since) || since < 0) since = 0;
    const last = url.searchParams.get('last');
    const settled = settledCount(view);
    const reset = since > settled || (since > 0 && rows[since - 1]?.name !== last);
    if (reset) since = 0;
    const chartNew = chartRowsFrom(view, since + 1, settled + 1);
    const chartTail = chartRowsFrom(view, settled + 1);
    const state = live ? await live.state(view.searchId) : null;
    return {
      summary: searchSummary(view, state),
      reset,
      since,
      settled,
      rows: rows.slice(since, settled),
      tail: rows.slice(settled),
      chart: { points: chartNew.points, best: chartNew.best, tailPoints: chartTail.points, tailBest: chartTail.best, starts: chartNew.starts },
      pending: pendingRows(view),
      stages: stageRows(view),
      final: finalRows(view),
      start: startOf(view),
      reference: referenceOf(view),
      temporal: { workflow: live?.workflowUrl(view.searchId) ?? null, connected: live?.connected ?? false },
    };
  }

  /**
   * A candidate's page: from an object store, its training job's curve (trained/ or the latest epoch checkpoint) is
   * pulled on demand first; a reused result's curve is its original's.
   */
  async function candidateOf(id: string, name: string) {
    let view = await viewOf(id);
    if (source.remote) {
      const c = view.candidates.find((x) => x.name === name) ?? view.pending.find((x) => x.name === name);
      const original = c && 'cachedFrom' in c && c.cachedFrom ? (view.candidates.find((x) => x.name === c.cachedFrom) ?? c) : c;
      if (original) {
        const job = path.relative(view.runDir, candidateJobDir(view, original)).split(path.sep).join('/');
        await source.syncJob(id, job);
        view = await viewOf(id);
      }
    }
    return candidateDetail(view, name);
  }

  /** The start network given the final training (src/report/reference.ts) and each final network's gain over it. */
  function referenceOf(view: RunView) {
    const ref = view.reference;
    if (!ref) return null;
    const n = ref.network;
    return {
      network: n ? { name: n.name, accuracy: n.accuracy, params: n.params, paramsText: paramsText(n.params), notation: n.notation } : null,
      failed: ref.failed ? `${ref.failed.type}: ${ref.failed.message}` : null,
      gains: ref.gains.map((g) => ({ ...g, pointsText: pointsText(g.testPoints), ratioText: ratioText(g.paramRatio) })),
      lines: referenceLines(ref, view.final, view.bestFinal),
    };
  }

  /** The start network: as trained (start/), else as the first stage recorded it. */
  function startOf(view: RunView) {
    const n = view.start ?? view.stages.find((s) => s.stage === 0)?.start ?? null;
    return n ? { name: n.name, accuracy: n.accuracy, notation: n.notation, params: n.params } : null;
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) log(`error on ${req.url}: ${(err as Error).stack ?? String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = err instanceof HttpError ? err.message : `internal error: ${(err as Error).message}`;
      const wantsJson = (req.url ?? '').startsWith('/api/');
      if (wantsJson) send(req, res, status, 'application/json; charset=utf-8', JSON.stringify({ error: message }));
      else send(req, res, status, 'text/html; charset=utf-8', page({ kind: 'error', title: `${status}`, root: source.url, message }));
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return {
    url: `http://${shown}:${port}`,
    host,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await live?.close();
    },
  };
}
