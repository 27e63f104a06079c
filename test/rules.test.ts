import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestCandidate, bestNetwork, firstByKey, isScored, rankCandidates, rankNetworks, repeatedFailure, rewardOf, topCandidates } from '../src/search/rules';

const cand = (name: string, accuracy: number | null, extra: { diverged?: boolean; cachedFrom?: string; failed?: boolean; key?: string } = {}) => ({
  name,
  network: { accuracy, key: extra.key ?? name },
  diverged: extra.diverged ?? false,
  cachedFrom: extra.cachedFrom ?? null,
  failed: extra.failed ? { step: 'train' as const, type: 'CheckpointCorrupt', message: 'boom' } : null,
});

test('reward: accuracy for a scored candidate, 0 when diverged, failed or unmeasured', () => {
  assert.equal(rewardOf(cand('a', 0.7)), 0.7);
  assert.equal(rewardOf(cand('b', 0.9, { diverged: true })), 0);
  assert.equal(rewardOf(cand('c', 0.9, { failed: true })), 0);
  assert.equal(rewardOf(cand('d', null)), 0);
  // Records written before failures were recorded have no `failed` field.
  const { failed: _, ...old } = cand('e', 0.4);
  assert.equal(rewardOf(old), 0.4);
  assert.equal(isScored(old), true);
});

test('best: highest accuracy, first on ties, never diverged, failed, reused or unmeasured', () => {
  const cs = [
    cand('a', 0.5),
    cand('b', 0.99, { failed: true }),
    cand('c', 0.98, { diverged: true }),
    cand('d', 0.8),
    cand('e', 0.8),
    cand('f', 0.97, { cachedFrom: 'a' }),
    cand('g', null),
  ];
  assert.equal(bestCandidate(cs)?.name, 'd');
  assert.deepEqual(
    rankCandidates(cs).map((c) => c.name),
    ['d', 'e', 'a'],
  );
  assert.deepEqual(
    topCandidates(cs, 2).map((c) => c.name),
    ['d', 'e'],
  );
  assert.deepEqual(
    topCandidates(cs, 10).map((c) => c.name),
    ['d', 'e', 'a'],
  );
  assert.deepEqual(topCandidates(cs, 0), []);
  assert.equal(bestCandidate([cand('x', 0.9, { failed: true }), cand('y', null)]), undefined);
  assert.equal(bestCandidate([]), undefined);
});

test('ranking keeps the input order on ties and does not mutate its input', () => {
  const cs = [cand('a', 0.5), cand('b', 0.5), cand('c', 0.5)];
  const before = cs.map((c) => c.name);
  assert.deepEqual(
    rankCandidates(cs).map((c) => c.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    cs.map((c) => c.name),
    before,
  );
});

test('final networks: by accuracy, unmeasured ones left out', () => {
  const finals: { from: string; network: { name: string; accuracy: number | null } }[] = [
    { from: 'a', network: { name: 'top-1', accuracy: 0.91 } },
    { from: 'b', network: { name: 'top-2', accuracy: 0.93 } },
    { from: 'c', network: { name: 'top-3', accuracy: null } },
  ];
  assert.deepEqual(
    rankNetworks(finals).map((f) => f.network.name),
    ['top-2', 'top-1'],
  );
  assert.equal(bestNetwork(finals)?.name, 'top-2');
  assert.equal(bestNetwork([]), null);
});

test('first by key: one original per architecture; reused records never count as originals', () => {
  const cs = [cand('a', 0.5, { key: 'K1' }), cand('b', 0.6, { key: 'K1', cachedFrom: 'a' }), cand('c', 0.7, { key: 'K2' }), cand('d', 0.1, { key: 'K1' })];
  const m = firstByKey(cs);
  assert.deepEqual([...m.keys()], ['K1', 'K2']);
  assert.equal(m.get('K1')?.name, 'a');
  assert.equal(m.get('K2')?.name, 'c');
});

test('repeated failure: the last n fresh outcomes failed with the same type, else null; n = 0 is off', () => {
  const fail = (type: string, message = type) => ({ failed: { step: 'train' as const, type, message }, cachedFrom: null });
  const ok = { failed: null, cachedFrom: null };
  const data = (i: number) => fail('DataUnavailable', `missing ${i}`);
  // Exactly n, all the same type: the latest failure is returned.
  assert.deepEqual(repeatedFailure([data(1), data(2), data(3)], 3), data(3).failed);
  // Only the last n count: an older success or another type before them does not matter.
  assert.deepEqual(repeatedFailure([ok, fail('Timeout'), data(1), data(2), data(3)], 3), data(3).failed);
  // Fewer than n outcomes, a success or another type among the last n: no pause.
  assert.equal(repeatedFailure([data(1), data(2)], 3), null);
  assert.equal(repeatedFailure([data(1), ok, data(2), data(3)], 3), null);
  assert.equal(repeatedFailure([data(1), fail('Timeout'), data(2)], 3), null);
  assert.equal(repeatedFailure([data(1), data(2), fail('Timeout')], 3), null);
  // A diverged candidate is a result, not a failure.
  assert.equal(repeatedFailure([data(1), { failed: null, cachedFrom: null }, data(2)], 2), null);
  // Reused results are neither counted nor break the run: they are copies, not new tries.
  const reused = { failed: data(0).failed, cachedFrom: 'earlier' };
  assert.equal(repeatedFailure([data(1), reused, reused], 3), null);
  assert.deepEqual(repeatedFailure([data(1), { failed: null, cachedFrom: 'x' }, data(2), data(3)], 3), data(3).failed);
  // Records written before failures were recorded (no `failed`) count as outcomes that did not fail.
  assert.equal(repeatedFailure([{ cachedFrom: null }, data(1)], 2), null);
  // n = 0 (off), and nonsense n, never pause.
  assert.equal(repeatedFailure([data(1), data(2)], 0), null);
  assert.equal(repeatedFailure([data(1), data(2)], -1), null);
  assert.equal(repeatedFailure([data(1), data(2)], 1.5), null);
  assert.equal(repeatedFailure([], 1), null);
  assert.deepEqual(repeatedFailure([data(1)], 1), data(1).failed);
});
