import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng';

test('Rng.normals: standard normal in bulk, seeded, independent of normal()', () => {
  const z = Rng.fromSeed(7).normals(200_001);
  assert.equal(z.length, 200_001);
  let s = 0;
  let s2 = 0;
  let beyond2 = 0;
  for (const v of z) {
    s += v;
    s2 += v * v;
    if (Math.abs(v) > 2) beyond2++;
  }
  const mean = s / z.length;
  const std = Math.sqrt(s2 / z.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
  // P(|Z| > 2) = 4.55 %: the shape is normal, not just the first two moments.
  assert.ok(Math.abs(beyond2 / z.length - 0.0455) < 0.003, `P(|z| > 2) = ${beyond2 / z.length}`);
  assert.deepEqual(Rng.fromSeed(7).normals(1000), z.subarray(0, 1000), 'same seed, same draws');
  assert.notDeepEqual(Rng.fromSeed(8).normals(1000), z.subarray(0, 1000));
  assert.ok(new Set(z.subarray(0, 1000)).size > 980, 'draws do not repeat in short runs');
  const base = Float32Array.from({ length: 1001 }, (_, i) => i / 100);
  const added = new Float32Array(base);
  Rng.fromSeed(7).addNormals(added, 0.5);
  added.forEach((v, i) => assert.equal(v, Math.fround(base[i] + 0.5 * z[i]), `addNormals[${i}] adds the same draws, scaled`));
});
