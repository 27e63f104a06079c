import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArchError, DEFAULT_SPACE, TABLE1_START, applyActionsToArch, blocks, canonicalKey, deeperPositionMask, paramCount, parseNotation, shapes, toNotation, widenable } from '../src/arch';

test('Table 1 notation round-trips exactly', () => {
  const arch = parseNotation(TABLE1_START, [32, 32, 3], DEFAULT_SPACE);
  assert.equal(toNotation(arch), TABLE1_START);
  assert.equal(toNotation(parseNotation('C(16, 3, 1), P(2, 2, max), FC(64), SM(10)', [32, 32, 3])), 'C(16,3,1), P(2,2,MAX), FC(64), SM(10)');
});

test('shapes and blocks of the Table 1 net, on 32×32×3 and 28×28×1', () => {
  const a = parseNotation(TABLE1_START, [32, 32, 3]);
  assert.deepEqual(shapes(a).layers.map((s) => s.out), [[32, 32, 16], [16, 16, 16], [16, 16, 32], [8, 8, 32], [8, 8, 64], [4, 4, 64], [4, 4, 128], [1, 1, 128], [256]]);
  assert.deepEqual(blocks(a), [
    { kind: 'conv', insertAfter: [0] },
    { kind: 'conv', insertAfter: [2] },
    { kind: 'conv', insertAfter: [4] },
    { kind: 'conv', insertAfter: [6] },
    { kind: 'fc', insertAfter: [7, 8] },
  ]);
  const f = parseNotation(TABLE1_START, [28, 28, 1]);
  assert.deepEqual(shapes(f).layers[7].out, [1, 1, 128]);
});

test('parameter count by hand', () => {
  // C(16,3,1) on 8×8×1: 3*3*1*16 + 2*16 = 176; P; FC(64) on 4*4*16=256: 256*64 + 128 = 16512; SM(10): 64*10+10 = 650
  const a = parseNotation('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [8, 8, 1]);
  assert.equal(paramCount(a), 176 + 16512 + 650);
});

test('invalid architectures name the layer and the rule', () => {
  assert.throws(() => parseNotation('C(16,3,1), FC(64), C(16,3,1), SM(10)', [8, 8, 1]), (e: unknown) => e instanceof ArchError && e.layer === 2 && e.rule === 'fc-on-top');
  assert.throws(() => parseNotation('C(17,3,1), SM(10)', [8, 8, 1], DEFAULT_SPACE), (e: unknown) => e instanceof ArchError && e.layer === 0 && e.rule === 'conv-filters-in-space');
  assert.throws(() => parseNotation('C(16,3,1), P(8,8,MAX), SM(10)', [4, 4, 1]), (e: unknown) => e instanceof ArchError && e.layer === 1 && e.rule === 'pool-window');
  assert.throws(() => parseNotation('C(16,3,1)', [4, 4, 1]), /SM\(classes\)/);
  assert.throws(() => parseNotation('C(16,3), SM(10)', [4, 4, 1]), /takes 3 arguments/);
});

test('actions change the architecture as the paper describes', () => {
  const a = parseNotation(TABLE1_START, [32, 32, 3]);
  const b = applyActionsToArch(a, [
    { type: 'wider', layers: ['L0', 'L8'] },
    { type: 'deeper', block: 1, position: 0, kernel: 5 },
    { type: 'deeper', block: 4, position: 1 },
  ], DEFAULT_SPACE);
  assert.equal(toNotation(b), 'C(32,3,1), P(2,2,MAX), C(32,3,1), C(32,5,1), P(2,2,MAX), C(64,3,1), P(2,2,MAX), C(128,3,1), P(4,4,AVG), FC(384), FC(384), SM(10)');
  assert.equal(new Set(b.layers.map((l) => l.id)).size, b.layers.length);
  assert.notEqual(canonicalKey(a), canonicalKey(b));
  // An identity fc right after the global pool needs 128 units: in the space; after a 96-filter conv it would not be.
  assert.deepEqual(deeperPositionMask(a, DEFAULT_SPACE)[4], [true, true]);
  const c = parseNotation('C(96,3,1), P(32,32,AVG), SM(10)', [32, 32, 3]);
  assert.deepEqual(deeperPositionMask(c, DEFAULT_SPACE)[1], [false]);
  assert.deepEqual(widenable(parseNotation('C(512,3,1), P(2,2,MAX), FC(64), SM(10)', [4, 4, 1]), DEFAULT_SPACE), [false, false, true]);
});
