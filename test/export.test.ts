import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parseNotation } from '../src/arch';
import { loadSplits } from '../src/data/protocol';
import { ExportManifestSchema, ExportedNetworkSchema, exportNetworks } from '../src/export';
import { readSearchResult } from '../src/store/result';
import { type BuiltRunStore, buildRunStore } from './helpers/runstore';
import { assertNoLeak, setupBackend } from './helpers/tf';

/** Plain tfjs has no file:// handler: an IOHandler over the exported model.json and weights.bin. */
function filesHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
      const bins = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
      const all = Buffer.concat(bins);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy, userDefinedMetadata: json.userDefinedMetadata };
    },
  };
}

/**
 * Reload an exported network with plain tf.loadLayersModel and measure its accuracy on the split it was scored on,
 * feeding RAW 0–255 pixels (the model normalises them itself), the way a user without eas would.
 */
async function reproduce(dir: string): Promise<{ recorded: number; measured: number }> {
  const rec = ExportedNetworkSchema.parse(JSON.parse(fs.readFileSync(path.join(dir, 'accuracy.json'), 'utf8')));
  const d = rec.evaluation.dataset;
  const splits = await loadSplits({ dataset: d.name, dataDir: d.dataDir, mode: rec.evaluation.mode, seed: d.seed, validationSize: d.validationSize, limit: d.limit, download: d.download, synthetic: d.synthetic });
  assert.equal(splits.eval.count, rec.evaluation.images);
  assert.deepEqual(rec.input.normalization, splits.normalization, 'the exported normalisation is the one training used');
  const [h, w, c] = splits.eval.shape;
  const raw = new Float32Array(splits.eval.count * h * w * c);
  for (let i = 0; i < splits.eval.count; i++) raw.set(splits.eval.rawImage(i), i * h * w * c);
  const labels = splits.eval.labels();
  const measured = await assertNoLeak(async () => {
    const model = await tf.loadLayersModel(filesHandler(dir));
    try {
      assert.equal(model.layers[1].name, 'input_normalization');
      const predicted = tf.tidy(() => (model.predict(tf.tensor4d(raw, [splits.eval.count, h, w, c])) as tf.Tensor).argMax(-1).dataSync());
      let correct = 0;
      for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
      return correct / labels.length;
    } finally {
      model.dispose();
    }
  });
  return { recorded: rec.accuracy, measured };
}

describe('eas export', () => {
  let root: string;
  let demo: BuiltRunStore;
  let live: BuiltRunStore;

  before(async () => {
    await setupBackend();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-export-'));
    demo = await buildRunStore({ root, id: 'demo', seed: 5 });
    live = await buildRunStore({ root, id: 'live', complete: false, seed: 5 });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test('final networks by test accuracy, each a plain TF.js Layers model reproducing its recorded test accuracy', async () => {
    const result = readSearchResult(path.join(demo.runDir, 'result.json'));
    const r = await exportNetworks({ searchId: 'demo', runs: root, top: 5 });
    assert.equal(r.dir, path.join(demo.runDir, 'export'));
    const manifest = ExportManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(r.dir, 'export.json'), 'utf8')));
    assert.equal(manifest.selectedBy, 'test accuracy of the final networks');
    // All final networks (fewer than --top), best first.
    const expected = [...result.final].sort((a, b) => b.network.accuracy! - a.network.accuracy!);
    assert.deepEqual(manifest.networks.map((n) => n.name), expected.map((f) => f.network.name));
    assert.deepEqual(manifest.networks.map((n) => n.from), expected.map((f) => f.from));

    for (const n of manifest.networks) {
      const dir = path.join(r.dir, n.dir);
      for (const f of ['model.json', 'weights.bin', 'arch.json', 'notation.txt', 'history.json', 'accuracy.json', 'README.md']) assert.ok(fs.existsSync(path.join(dir, f)), `${n.dir}/${f}`);
      assert.equal(n.metric, 'test');
      const notation = fs.readFileSync(path.join(dir, 'notation.txt'), 'utf8').trim();
      assert.equal(notation, expected.find((f) => f.network.name === n.name)!.network.notation);
      // The notation and arch.json describe the same network.
      assert.deepEqual(parseNotation(notation, demo.config.dataset.synthetic!.shape as [number, number, number]).layers.map((l) => l.type), JSON.parse(fs.readFileSync(path.join(dir, 'arch.json'), 'utf8')).layers.map((l: { type: string }) => l.type));
      const history = JSON.parse(fs.readFileSync(path.join(dir, 'history.json'), 'utf8')) as { history: { epoch: number; valAcc: number | null }[] };
      assert.equal(history.history.length, 1);
      assert.equal(history.history.at(-1)!.valAcc, n.accuracy);

      const { recorded, measured } = await reproduce(dir);
      assert.equal(recorded, expected.find((f) => f.network.name === n.name)!.network.accuracy);
      assert.equal(measured, recorded, `${n.name}: measured ${measured}, recorded ${recorded}`);
    }
  });

  test('--top limits the count; without final networks the candidates are ranked by validation accuracy', async () => {
    const one = await exportNetworks({ searchId: 'demo', runs: root, top: 1, out: path.join(root, 'one') });
    assert.equal(one.manifest.networks.length, 1);
    const best = readSearchResult(path.join(demo.runDir, 'result.json')).bestFinal!;
    assert.deepEqual(fs.readdirSync(one.dir).sort(), [`1-${best.name}`, 'README.md', 'export.json']);

    const r = await exportNetworks({ searchId: 'live', runs: root, top: 2 });
    assert.equal(r.manifest.complete, false);
    assert.equal(r.manifest.selectedBy, 'validation accuracy of the search candidates');
    const ranked = live.candidates.filter((c) => !c.cachedFrom).sort((a, b) => b.network.accuracy! - a.network.accuracy!);
    assert.deepEqual(r.manifest.networks.map((n) => n.accuracy), ranked.slice(0, 2).map((c) => c.network.accuracy));
    for (const n of r.manifest.networks) {
      assert.equal(n.metric, 'validation');
      const { recorded, measured } = await reproduce(path.join(r.dir, n.dir));
      assert.equal(measured, recorded, `${n.name}: measured ${measured}, recorded ${recorded}`);
    }
  });

  test('bad input is named; the CLI prints the exported models', async () => {
    await assert.rejects(exportNetworks({ searchId: 'demo', runs: root, top: 0 }), /--top must be a positive integer/);
    await assert.rejects(exportNetworks({ searchId: 'absent', runs: root }), /absent.*no run store/);
    // A missing checkpoint is reported with its path, and nothing is published.
    const broken = path.join(root, 'broken');
    fs.cpSync(demo.runDir, broken, { recursive: true });
    fs.rmSync(path.join(broken, 'export'), { recursive: true, force: true });
    const result = JSON.parse(fs.readFileSync(path.join(broken, 'result.json'), 'utf8')) as { searchId: string; final: { network: { dir: string } }[] };
    result.searchId = 'broken';
    // (network dirs may be absolute or relative to the storage root)
    for (const f of result.final) f.network.dir = f.network.dir.replace(/(^|\/)demo\//, '$1broken/');
    fs.writeFileSync(path.join(broken, 'result.json'), JSON.stringify(result));
    fs.rmSync(path.join(broken, 'final', 'top-1', 'trained', 'weights.bin'));
    await assert.rejects(exportNetworks({ searchId: 'broken', runs: root }), /top-1\/trained\/weights\.bin.*missing/);
    assert.ok(!fs.existsSync(path.join(broken, 'export')));

    const cli = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'export', 'demo', '--runs', root, '--top', '1', '--out', path.join(root, 'cli-export')], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const lines = cli.stdout.trim().split('\n');
    assert.match(lines[0], /^1\ttop-\d\ttest \d+\.\d\d%\t\d+ params\t.*cli-export\/1-top-\d\/model\.json$/);
    assert.equal(lines.at(-1), path.join(root, 'cli-export'));
  });
});
