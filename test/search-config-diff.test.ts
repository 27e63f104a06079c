import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffConfigs, formatChanges } from '../src/util/config-diff';
import { parseSearchConfig } from '../src/config/load';
import { tinySearchConfig } from './helpers/search';

test('diffConfigs: nothing for equal values, whatever the key order', () => {
  assert.deepEqual(diffConfigs({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }), []);
  assert.deepEqual(diffConfigs(null, null), []);
  assert.deepEqual(diffConfigs({ a: undefined }, {}), []);
});

test('diffConfigs: one entry per changed leaf, with its path, sorted by key, array items by index', () => {
  const old = { seed: 7, stages: [{ epochs: 1, networks: 4 }, { epochs: 1 }], training: { lr: 0.1 }, name: 'x' };
  const neu = { seed: 8, stages: [{ epochs: 2, networks: 4 }], training: { lr: 0.1, momentum: 0.9 }, name: 'x' };
  assert.deepEqual(diffConfigs(old, neu), [
    { path: 'seed', old: 7, new: 8 },
    { path: 'stages[0].epochs', old: 1, new: 2 },
    { path: 'stages[1]', old: { epochs: 1 }, new: undefined },
    { path: 'training.momentum', old: undefined, new: 0.9 },
  ]);
  // A type change is a leaf change (no walking into one side only).
  assert.deepEqual(diffConfigs({ a: [1] }, { a: { 0: 1 } }), [{ path: 'a', old: [1], new: { 0: 1 } }]);
  assert.deepEqual(diffConfigs(1, 2), [{ path: '(root)', old: 1, new: 2 }]);
});

test('formatChanges: path: old → new, absent fields named, long values cut', () => {
  const text = formatChanges([
    { path: 'seed', old: 7, new: 8 },
    { path: 'training.momentum', old: undefined, new: 0.9 },
    { path: 'startNet.notation', old: 'C(16,3,1)', new: 'x'.repeat(200) },
  ]);
  const lines = text.split('\n');
  assert.equal(lines[0], '  seed: 7 → 8');
  assert.equal(lines[1], '  training.momentum: (absent) → 0.9');
  assert.match(lines[2], /^ {2}startNet\.notation: "C\(16,3,1\)" → "x+\.\.\.$/);
  assert.ok(lines[2].length < 120);
});

test('two real configs differing in two fields: exactly those two, defaults not counted', () => {
  const a = parseSearchConfig(tinySearchConfig('s', '/tmp/r'), 'a');
  const raw = tinySearchConfig('s', '/tmp/r');
  raw.stages = [{ ...raw.stages![0], epochs: 2 }, raw.stages![1]];
  raw.seed = 9;
  const b = parseSearchConfig(raw, 'b');
  assert.deepEqual(
    diffConfigs(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b))).map((c) => `${c.path}: ${c.old} → ${c.new}`),
    ['seed: 7 → 9', 'stages[0].epochs: 1 → 2'],
  );
});
