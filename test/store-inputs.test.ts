import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InputsChangedError, canonicalJson, claimConfig, claimInputs, inputsFile, inputsHash, readInputs } from '../src/store/inputs';
import { inStore, storageRoot, toStore } from '../src/store/root';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'eas-inputs-'));

describe('artifacts keyed by their inputs', () => {
  test('canonical JSON: key order and undefined fields do not matter, values do', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, 2], c: undefined } }), canonicalJson({ a: { d: [1, 2] }, b: 1 }));
    assert.equal(inputsHash({ b: 1, a: 2 }), inputsHash({ a: 2, b: 1 }));
    assert.notEqual(inputsHash({ a: [1, 2] }), inputsHash({ a: [2, 1] }));
    assert.match(inputsHash({}), /^[0-9a-f]{64}$/);
  });

  test('first claim records the inputs beside the output; the same inputs pass; other inputs are refused naming the file and fields', () => {
    const dir = tmp();
    const output = path.join(dir, 'candidate-00', 'init');
    const inputs = { start: 's/start/trained', actions: [{ type: 'wider', layers: ['L0'] }], seed: 5, transform: { wider: { split: 'random', noise: 0.01 } } };
    claimInputs(output, inputs);
    const rec = readInputs(output)!;
    assert.equal(rec.sha256, inputsHash(inputs));
    assert.deepEqual(rec.inputs, JSON.parse(canonicalJson(inputs)));
    claimInputs(output, { ...inputs }); // same inputs, other key order: fine
    const changed = { ...inputs, seed: 6, transform: { wider: { split: 'equal', noise: 0.01 } } };
    assert.throws(
      () => claimInputs(output, changed, 'the transformed network s1-e000-c00'),
      (err: unknown) => {
        assert.ok(err instanceof InputsChangedError);
        assert.equal(err.file, inputsFile(output));
        assert.match(err.message, new RegExp(`${inputsFile(output).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        assert.match(err.message, /seed: 5 → 6/);
        assert.match(err.message, /transform\.wider\.split: "random" → "equal"/);
        assert.match(err.message, /start a new search/);
        return true;
      },
    );
    // The recorded inputs are untouched by the refused claim.
    assert.equal(readInputs(output)!.sha256, inputsHash(inputs));
  });

  test('a corrupt inputs record names its file', () => {
    const dir = tmp();
    const output = path.join(dir, 'policy-0001.json');
    fs.writeFileSync(inputsFile(output), '{"sha256": 3}');
    assert.throws(() => claimInputs(output, { a: 1 }), new RegExp(`policy-0001\\.json\\.inputs\\.json: expected \\{ sha256, inputs \\}`));
  });

  test('config.json of a run folder: written once, compared on every later use', () => {
    const dir = tmp();
    const file = path.join(dir, 'config.json');
    const config = { name: 'x', seed: 1, stages: [{ networks: 4, epochs: 1 }] };
    claimConfig(file, config);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), config);
    claimConfig(file, { stages: [{ epochs: 1, networks: 4 }], seed: 1, name: 'x' });
    assert.throws(
      () => claimConfig(file, { ...config, stages: [{ networks: 4, epochs: 2 }] }),
      (err: unknown) => err instanceof InputsChangedError && err.file === file && /stages\[0\]\.epochs: 1 → 2/.test(err.message),
    );
  });
});

describe('run-store paths relative to the root', () => {
  test('two roots naming the same folder (one through a symlink) resolve the same recorded path', () => {
    const real = tmp();
    const link = path.join(tmp(), 'mounted-elsewhere');
    fs.symlinkSync(real, link);
    const onControl = path.join(real, 'search-1', 'stage-1', 'best', 'trained');
    fs.mkdirSync(onControl, { recursive: true });
    fs.writeFileSync(path.join(onControl, 'arch.json'), '{}');
    const recorded = toStore(real, onControl);
    assert.equal(recorded, 'search-1/stage-1/best/trained');
    const onTrainer = inStore(link, recorded);
    assert.equal(onTrainer, path.join(link, 'search-1', 'stage-1', 'best', 'trained'));
    assert.equal(fs.readFileSync(path.join(onTrainer, 'arch.json'), 'utf8'), '{}');
    assert.equal(toStore(link, onTrainer), recorded);
  });

  test('a path outside the root is refused; an override wins over EAS_STORAGE_ROOT and the configured root', () => {
    assert.throws(() => toStore('/runs', '/elsewhere/x'), /not inside the run store/);
    const saved = process.env.EAS_STORAGE_ROOT;
    try {
      process.env.EAS_STORAGE_ROOT = '/mnt/shared-runs';
      assert.equal(storageRoot('runs'), '/mnt/shared-runs');
      assert.equal(storageRoot('runs', '/host/own'), '/host/own');
      delete process.env.EAS_STORAGE_ROOT;
      assert.equal(storageRoot('runs'), path.resolve('runs'));
    } finally {
      if (saved === undefined) delete process.env.EAS_STORAGE_ROOT;
      else process.env.EAS_STORAGE_ROOT = saved;
    }
  });
});
