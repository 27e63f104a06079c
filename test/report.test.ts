import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Resvg } from '@resvg/resvg-js';
import { STATUS, lineages, loadRunView, progressData, stageBestSource, writeReport } from '../src/report';
import { bestCandidate, isScored } from '../src/search/rules';
import { readSearchResult } from '../src/store/result';
import { type BuiltRunStore, buildRunStore } from './helpers/runstore';
import { setupBackend } from './helpers/tf';

/** Decode an 8-bit non-interlaced PNG (what resvg writes) into its raw pixel rows, undoing the scanline filters. */
function decodePng(buf: Buffer): { width: number; height: number; channels: number; pixels: Uint8Array } {
  assert.deepEqual([...buf.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      assert.equal(data[12], 0, 'not interlaced');
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[data[9]];
      assert.ok(channels, `colour type ${data[9]}`);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const pred = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      pixels[y * stride + x] = (line[x] + pred) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function distinctColours(png: ReturnType<typeof decodePng>): number {
  const seen = new Set<string>();
  for (let i = 0; i < png.pixels.length; i += png.channels) seen.add(png.pixels.subarray(i, i + png.channels).join(','));
  return seen.size;
}

/** An SVG must parse as XML/SVG (resvg's parser) and render to a non-empty image. */
function assertSvg(file: string, mustContain: string[]): void {
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  const r = new Resvg(text);
  assert.ok(r.width > 100 && r.height > 100, `${file}: ${r.width}×${r.height}`);
  for (const s of mustContain) assert.ok(text.includes(s), `${file} mentions ${s}`);
}

describe('eas report', () => {
  let root: string;
  let demo: BuiltRunStore;
  let live: BuiltRunStore;

  before(async () => {
    await setupBackend();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-report-'));
    demo = await buildRunStore({ root, id: 'demo' });
    await buildRunStore({ root, id: 'demo-random', controller: 'random', seed: 11 });
    live = await buildRunStore({ root, id: 'live', complete: false });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a finished search: page with every candidate, Figure 4 and 5 as SVG and PNG, lineage, tables', async () => {
    const result = readSearchResult(path.join(demo.runDir, 'result.json'));
    const r = await writeReport({ searchId: 'demo', runs: root });
    assert.equal(r.dir, path.join(demo.runDir, 'report'));
    assert.equal(r.complete, true);
    assert.deepEqual(r.compare, { searchId: 'demo-random', source: 'sibling' });
    const html = fs.readFileSync(r.html, 'utf8');
    for (const c of result.candidates) {
      assert.ok(html.includes(`<td>${c.name}</td>`), `table row of ${c.name}`);
      assert.ok(html.includes(c.network.notation), `notation of ${c.name}`);
    }
    for (const f of result.final) assert.ok(html.includes(f.network.name) && html.includes(`${(f.network.accuracy! * 100).toFixed(2)}%`), `final ${f.network.name}`);
    assert.ok(html.includes('cached from s1-e000-c00') || html.includes('yes (s1-e000-c00)'), 'reused candidate flagged');
    assert.ok(html.includes('sibling run'), 'says how the comparison run was found');
    assert.ok(!html.includes('in progress</span>'));
    // Self-contained: figures inline, files linked relatively.
    assert.equal((html.match(/<svg /g) ?? []).length, 2);
    assert.ok(html.includes('href="progress.png"') && html.includes('href="compare.png"'));

    assert.deepEqual(r.pngs.map((p) => path.basename(p)), ['progress.png', 'compare.png']);
    for (const file of r.pngs) {
      const buf = fs.readFileSync(file);
      assert.ok(buf.length > 10_000, `${file} has ${buf.length} bytes`);
      const png = decodePng(buf);
      assert.ok(png.width >= 600 && png.height >= 300, `${file}: ${png.width}×${png.height}`);
      assert.ok(distinctColours(png) > 50, `${file}: pixels are not uniform (${distinctColours(png)} colours)`);
    }
    // Text is drawn (glyphs, anti-aliased): the plot area is not only white/grid: the title row holds dark pixels.
    const progress = decodePng(fs.readFileSync(r.pngs[0]));
    let dark = 0;
    for (let y = 0; y < 40; y++) for (let x = 0; x < 400; x++) if (progress.pixels[(y * progress.width + x) * progress.channels] < 80) dark++;
    assert.ok(dark > 200, `title text drawn (${dark} dark pixels)`);

    assertSvg(path.join(r.dir, 'progress.svg'), ['Figure 4', 'stage 1', 'stage 2', 'running best']);
    assertSvg(path.join(r.dir, 'compare.svg'), ['Figure 5', 'demo-random', 'episode mean', 'running best']);
    assert.equal(fs.readdirSync(root).filter((f) => f.includes('.tmp-') || f.includes('.old-')).length, 0);
    assert.equal(fs.readdirSync(demo.runDir).filter((f) => f.includes('.tmp-') || f.includes('.old-')).length, 0);
  });

  test('lineage follows start → stage-1 candidate → s1-best → stage-2 candidate → top-k with the actions', () => {
    const view = loadRunView(demo.runDir);
    const source = stageBestSource(view, 0)!;
    const stage1 = demo.candidates.filter((c) => c.stage === 0 && !c.cachedFrom);
    assert.equal(source.network.accuracy, Math.max(...stage1.map((c) => c.network.accuracy!)));
    const ls = lineages(view);
    assert.equal(ls.length, view.final.length);
    for (const l of ls) {
      const f = view.final.find((x) => x.network.name === l.target)!;
      assert.deepEqual(
        l.steps.map((s) => s.name),
        ['start', source.name, 's1-best', f.from, f.network.name],
      );
      const viaStage2 = l.steps[3].via;
      assert.ok(viaStage2?.kind === 'transform');
      assert.deepEqual(viaStage2.actions, view.candidates.find((c) => c.name === f.from)!.actions);
      assert.equal(l.steps[4].metric, 'test');
    }
  });

  test('a failed candidate: plotted at reward 0 with its own mark, never the best or the running best', () => {
    const view = loadRunView(demo.runDir, 'demo');
    const top = bestCandidate(view.candidates)!;
    const failed = { ...top, failed: { step: 'train' as const, type: 'CheckpointCorrupt', message: 'weights.bin: truncated' } };
    const cands = view.candidates.map((c) => (c === top ? failed : c));
    const withFailure = { ...view, candidates: cands, best: bestCandidate(cands)?.network ?? null };
    assert.notEqual(bestCandidate(cands)?.name, top.name);
    const data = progressData(withFailure);
    const point = data.points.find((p) => p.name === top.name);
    assert.equal(point?.status, STATUS.failed);
    assert.equal(point?.accuracy, 0);
    // The running best ends at the best accuracy among the candidates that did not fail.
    const expected = Math.max(...cands.filter((c) => isScored(c)).map((c) => c.network.accuracy!));
    assert.equal(data.best.at(-1)?.best, expected);
  });

  test('a search in progress (no result.json) is reported from stage summaries and candidate outcomes', async () => {
    assert.ok(!fs.existsSync(path.join(live.runDir, 'result.json')));
    const out = path.join(root, 'live-report');
    const r = await writeReport({ searchId: 'live', runs: root, out });
    assert.equal(r.complete, false);
    assert.equal(r.compare, null);
    const html = fs.readFileSync(r.html, 'utf8');
    assert.ok(html.includes('in progress'));
    for (const c of live.candidates) assert.ok(html.includes(`<td>${c.name}</td>`), c.name);
    for (const n of live.pendingNames) assert.ok(html.includes(n), `pending ${n}`);
    assert.ok(html.includes('No comparison run'));
    const view = loadRunView(live.runDir);
    assert.deepEqual(view.candidates.map((c) => c.name), live.candidates.map((c) => c.name));
    assert.deepEqual(view.candidates.map((c) => c.network.accuracy), live.candidates.map((c) => c.network.accuracy));
    assert.deepEqual(view.pending.map((p) => p.name), live.pendingNames);
    assert.equal(view.stages[1].start?.name, 's1-best');
    const png = decodePng(fs.readFileSync(r.pngs[0]));
    assert.ok(distinctColours(png) > 50);
    assertSvg(path.join(out, 'progress.svg'), ['in progress']);

    // A sample repeating an architecture evaluated earlier in the stage gets no job folder: it is shown as reused.
    const copy = path.join(root, 'live-copy');
    fs.cpSync(live.runDir, copy, { recursive: true });
    const samplesFile = path.join(copy, 'stage-2', 'episode-000', 'samples.json');
    const samples = JSON.parse(fs.readFileSync(samplesFile, 'utf8')) as { samples: unknown[] };
    samples.samples.push(samples.samples[0]);
    fs.writeFileSync(samplesFile, JSON.stringify(samples));
    const copied = loadRunView(copy, 'live-copy');
    const reused = copied.candidates.at(-1)!;
    assert.equal(reused.name, 's2-e000-c02');
    assert.equal(reused.cachedFrom, 's2-e000-c00');
    assert.equal(reused.network.accuracy, copied.candidates.find((c) => c.name === 's2-e000-c00')!.network.accuracy);
  });

  test('--compare names the comparison run; re-running replaces the report; bad input is named', async () => {
    const first = await writeReport({ searchId: 'demo-random', runs: root, compare: 'demo' });
    assert.deepEqual(first.compare, { searchId: 'demo', source: 'option' });
    assert.ok(fs.readFileSync(first.html, 'utf8').includes('given with --compare'));
    const again = await writeReport({ searchId: 'demo-random', runs: root, compare: 'demo' });
    assert.equal(again.dir, first.dir);

    await assert.rejects(writeReport({ searchId: 'missing', runs: root }), /missing.*no run store/);
    await assert.rejects(writeReport({ searchId: 'demo', runs: root, compare: 'nothing' }), /nothing/);
    const foreign = path.join(root, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'keep.txt'), 'mine');
    await assert.rejects(writeReport({ searchId: 'demo', runs: root, out: foreign }), /foreign.*not written by this command/);
    assert.equal(fs.readFileSync(path.join(foreign, 'keep.txt'), 'utf8'), 'mine');
    const broken = path.join(root, 'broken');
    fs.cpSync(live.runDir, broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'stage-1', 'summary.json'), '{"stage": 0}');
    await assert.rejects(writeReport({ searchId: 'broken', runs: root }), /stage-1\/summary\.json: not a valid stage summary/);
  });

  test('CLI: eas report prints the page and PNG paths', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'report', 'demo', '--runs', root], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [path.join(demo.runDir, 'report', 'index.html'), path.join(demo.runDir, 'report', 'progress.png'), path.join(demo.runDir, 'report', 'compare.png')]);
    const env = { ...process.env, EAS_STORAGE_ROOT: root };
    const viaEnv = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'report', 'live'], { encoding: 'utf8', env });
    assert.equal(viaEnv.status, 0, viaEnv.stderr);
    assert.match(viaEnv.stderr, /in progress/);
    const bad = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'report', 'nope', '--runs', root], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /nope.*no run store for search 'nope'/);
  });
});

test('accuracy axes get the decimals their range needs', async () => {
  const { accuracyAxisFormat } = await import('../src/report/figures');
  assert.equal(accuracyAxisFormat([0.5, 0.9]), '.0%');
  assert.equal(accuracyAxisFormat([0.926, 0.9304]), '.2%');
  assert.equal(accuracyAxisFormat([0.92, 0.93]), '.1%');
  assert.equal(accuracyAxisFormat([]), '.0%');
});
