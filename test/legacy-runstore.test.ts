import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNetwork } from '../src/checkpoint';
import { exportNetworks } from '../src/export';
import { loadRunView, writeReport } from '../src/report';
import { readSearchResult } from '../src/store/result';
import { setupBackend } from './helpers/tf';

/**
 * Run stores written before the search-space contract (issue 20) still load, report and export. The fixtures under
 * test/fixtures/legacy-runs/ were written by the code of commit cd09516 (before the change): `legacy-plain` by its
 * test helper buildRunStore (real transforms and trainings, the activities' own recordStage/writeResult; epoch tensors
 * dropped to keep it small), with config.json holding the old top-level `space`, samples holding `arch`, and
 * candidates' actions in the plain format; `legacy-densenet`, when present, by its `eas dev` on the DenseNet quickstart
 * (old DenseNet samples and policy formats).
 */
const FIXTURES = path.join(__dirname, 'fixtures', 'legacy-runs');
let root: string;

before(async () => {
  await setupBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-legacy-'));
  fs.cpSync(FIXTURES, root, { recursive: true });
});

for (const id of fs.readdirSync(FIXTURES)) {
  test(`a run store written before the space contract (${id}) loads, reports and exports`, async () => {
    const runDir = path.join(root, id);
    const legacyConfig = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
    assert.ok('space' in legacyConfig, 'the fixture has the old top-level `space`');
    const result = readSearchResult(path.join(runDir, 'result.json'));
    assert.ok(!('space' in result.config), 'the old config is read as the one searchSpace field');
    assert.equal(result.config.searchSpace.kind, legacyConfig.searchSpace?.kind ?? 'plain');

    const view = loadRunView(runDir, id);
    assert.ok(view.complete);
    assert.equal(view.candidates.length, result.candidates.length);
    assert.ok(view.candidates.length > 0);
    for (const c of view.candidates) {
      const net = loadNetwork(path.join(root, c.network.dir));
      assert.equal(net.space.notation(net.arch), c.network.notation, `${c.name}: the notation recorded then is the one the space prints now`);
      assert.equal(net.space.params(net.arch), c.network.params);
    }

    const report = await writeReport({ searchId: id, runs: root });
    assert.ok(fs.existsSync(report.html), 'report written');
    assert.match(fs.readFileSync(report.html, 'utf8'), new RegExp(id));

    const exported = await exportNetworks({ searchId: id, runs: root, top: 1 });
    assert.equal(exported.manifest.networks.length, 1);
    const dir = path.join(exported.dir, exported.manifest.networks[0].dir);
    assert.ok(fs.existsSync(path.join(dir, 'model.json')));
    const top = exported.manifest.networks[0];
    assert.equal(fs.readFileSync(path.join(dir, 'notation.txt'), 'utf8').trim(), top.notation);
    const recorded = [...result.final, ...result.candidates].map((c) => c.network).find((n) => n.name === top.name);
    assert.equal(recorded?.notation, top.notation, 'exported as recorded in the old run store');
  });
}
