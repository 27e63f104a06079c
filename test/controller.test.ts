import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Action, type Arch, DEFAULT_SPACE, type SearchSpace, SearchSpaceSchema, applyActionsToArch, blocks, canonicalKey, paramCount, parseNotation, validateArch, widenable } from '../src/arch';
import {
  type Controller,
  ControllerConfigSchema,
  RandomController,
  RlController,
  type Sample,
  baselineStep,
  cleanAccuracy,
  controllerFromCheckpoint,
  createController,
  loadController,
  rewardOf,
  randomStepPlan,
  sampleSchemaFor,
} from '../src/controller';
import { spaceOf } from '../src/space';
import { UNK_ID, Vocabulary } from '../src/space/plain-vocab';
import { randomStartNet } from '../src/controller/startnets';
import { Rng } from '../src/util/rng';
import { assertNoLeak, setupBackend } from './helpers/tf';

const SMALL = 'C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(64,3,1), P(4,4,AVG), FC(64), SM(10)';
const startNet = (text = SMALL): Arch => parseNotation(text, [32, 32, 3], DEFAULT_SPACE);
const tmp = (name: string) => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eas-ctl-')), name);
const plain = (space: SearchSpace = DEFAULT_SPACE) => ({ kind: 'plain' as const, ...space });
/** A plain controller's samples, typed (the controller itself never knows the space). */
const plainSamples = (samples: Sample[]) => samples as Sample<Arch, Action>[];

/** Every sample must replay from the start net to its final arch, stay in the space, and respect its own masks. */
function checkSamples(start: Arch, raw: Sample[], space: SearchSpace, widerSteps: number, deeperSteps: number): void {
  const vocab = new Vocabulary(space, 8);
  const schema = sampleSchemaFor(spaceOf(plain(space)));
  const samples = raw.map((s) => schema.parse(JSON.parse(JSON.stringify(s))) as Sample<Arch, Action>);
  assert.deepEqual(samples, raw, 'a sample is what the schema of its space reads back');
  for (const s of samples) {
    assert.equal(s.actions.length, widerSteps + deeperSteps);
    assert.equal(s.decisions.length, s.actions.length);
    const replayed = applyActionsToArch(start, s.actions, space);
    assert.deepEqual(replayed, s.net);
    validateArch(s.net, space);
    let arch = start;
    s.decisions.forEach((d, k) => {
      assert.deepEqual(d.tokens, vocab.encode(arch), 'each decision records the tokens of the arch it was taken on');
      if (d.type === 'wider') {
        assert.deepEqual(d.mask, widenable(arch, space));
        d.widen.forEach((w, j) => assert.ok(!w || d.mask[j], 'masked layers are never widened'));
        assert.deepEqual(s.actions[k], { type: 'wider', layers: arch.layers.filter((_, j) => d.widen[j]).map((l) => l.id) });
      } else {
        assert.ok(d.blockMask[d.block] && d.positionMask[d.position]);
        assert.equal(d.kernelIndex === null, blocks(arch)[d.block].kind === 'fc', 'kernel asked exactly for conv blocks');
      }
      arch = applyActionsToArch(arch, [s.actions[k]], space);
    });
  }
}

describe('controller', () => {
  it("random search interleaves wider and deeper steps as the authors' does: every order, seeded, the RL order kept", () => {
    const start = parseNotation('C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), FC(64), SM(10)', [32, 32, 3], DEFAULT_SPACE);
    const random = createController('random', {}, plain(), 1);
    const orders = (c: { sample: (s: unknown, n: number, seed: number, steps?: { widerSteps: number; deeperSteps: number }) => { decisions: { type: string }[] }[] }, seed: number) =>
      c.sample(start, 40, seed, { widerSteps: 2, deeperSteps: 2 }).map((x) => x.decisions.map((d) => d.type[0]).join(''));
    const seen = new Set(orders(random, 3));
    assert.equal(seen.size, 6, `all 6 orders of 2 wider + 2 deeper steps appear in 40 networks: ${[...seen].join(' ')}`);
    assert.deepEqual(orders(random, 3), orders(random, 3), 'seeded');
    assert.deepEqual(randomStepPlan({ widerSteps: 3, deeperSteps: 0 }, Rng.fromSeed(1)), ['wider', 'wider', 'wider']);
    const rl = createController('rl', {}, plain(), 1);
    assert.deepEqual(new Set(orders(rl, 3)), new Set(['wwdd']), 'the RL controller: all wider steps, then all deeper steps (the paper)');
    rl.dispose();
  });

  before(setupBackend);

  it('encodes one token per layer from a vocabulary derived from the search space, unknown layers as UNK', () => {
    const v = new Vocabulary(DEFAULT_SPACE, 8);
    assert.equal(v.size, 2 + 11 * 3 * 1 + 9 + 2 * 36);
    const a = startNet();
    const ids = v.encode(a);
    assert.equal(ids.length, a.layers.length);
    assert.equal(ids[1], ids[3], 'identical pools share a token');
    assert.equal(new Set(ids).size, ids.length - 1, 'distinct layers get distinct tokens');
    assert.ok(ids.every((id) => id > UNK_ID));
    const odd: Arch = { ...a, layers: [{ id: 'L0', type: 'conv', filters: 17, kernel: 3, stride: 1 }, { id: 'L1', type: 'pool', op: 'max', size: 9, stride: 9 }] };
    assert.deepEqual(v.encode(odd), [UNK_ID, UNK_ID]);
  });

  it('validates its config and rejects bad start nets and sample counts clearly', () => {
    assert.throws(() => createController('rl', { encoderUnits: 0 }, plain(), 1), /invalid controller config/);
    assert.throws(() => createController('rl', { bogus: 1 } as never, plain(), 1), /invalid controller config/);
    assert.throws(() => createController('rl', {}, { kind: 'plain', convKernels: [2] }, 1), /invalid search space: convKernels.0: kernel sizes must be odd/);
    const c = createController('random', {}, plain(), 1);
    const outside: Arch = { ...startNet(), layers: [{ id: 'L0', type: 'conv', filters: 17, kernel: 3, stride: 1 }] };
    assert.throws(() => c.sample(outside, 2, 0), /start network is not valid in the search space: .*conv filters 17/);
    assert.throws(() => c.sample(startNet(), 0, 0), /positive integer/);
    assert.throws(() => c.sample({ space: 'densenet' }, 1, 0), /start network is not valid in the search space: it is not a plain network/);
  });

  it('random controller: 2000 sampled sequences from random start nets apply cleanly and stay in the space', () => {
    const rng = Rng.fromSeed(11);
    const c = createController('random', {}, plain(), 0);
    let widened = 0;
    let widenable_ = 0;
    const blockCounts: number[] = [];
    for (let k = 0; k < 200; k++) {
      const start = randomStartNet(rng, DEFAULT_SPACE);
      const samples = c.sample(start, 10, k);
      checkSamples(start, samples, DEFAULT_SPACE, 4, 5);
      for (const s of plainSamples(samples))
        for (const d of s.decisions) {
          if (d.type === 'wider') {
            widenable_ += d.mask.filter(Boolean).length;
            widened += d.widen.filter(Boolean).length;
          } else if (d.blockMask.every(Boolean) && d.blockMask.length === 3) blockCounts[d.block] = (blockCounts[d.block] ?? 0) + 1;
        }
    }
    const rate = widened / widenable_;
    assert.ok(widenable_ > 5000 && Math.abs(rate - 0.5) < 0.03, `widen rate ${rate} over ${widenable_} decisions`);
    const total = blockCounts.reduce((a, b) => a + b, 0);
    assert.ok(total > 300, `only ${total} three-block decisions`);
    for (const n of blockCounts) assert.ok(Math.abs(n / total - 1 / 3) < 0.07, `block choice not uniform: ${blockCounts}`);
  });

  it('RL controller: 300 sampled sequences from random start nets apply cleanly, stay in the space, leak no tensors', async () => {
    const rng = Rng.fromSeed(12);
    const c = createController('rl', {}, plain(), 3) as RlController;
    await assertNoLeak(() => {
      for (let k = 0; k < 30; k++) {
        const start = randomStartNet(rng, DEFAULT_SPACE);
        checkSamples(start, c.sample(start, 10, k), DEFAULT_SPACE, 4, 5);
      }
    });
    c.dispose();
  });

  it('respects widths at the top of the space, fc widths outside it and the heads’ size limits', () => {
    const start = parseNotation('C(512,3,1), C(16,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), C(32,3,1), P(2,2,MAX), FC(1024), SM(10)', [32, 32, 3], DEFAULT_SPACE);
    for (const c of [createController('rl', { maxBlocks: 2, maxPositions: 1 }, plain(), 1), createController('random', { maxBlocks: 2, maxPositions: 1 }, plain(), 1)]) {
      for (const s of plainSamples(c.sample(start, 20, 5))) {
        // The random controller may deepen first (the authors' interleaving): the first wider step is on the start net
        // only when it is the first step.
        const first = s.decisions[0];
        if (first.type === 'wider') assert.ok(!first.widen[0] && !first.widen[7], 'C(512) and FC(1024) cannot be widened');
        else assert.equal(c.kind, 'random', 'the RL controller takes its wider steps first');
        let arch = start;
        s.decisions.forEach((d, k) => {
          if (d.type === 'deeper' && c.kind === 'rl') assert.ok(d.block < 2 && d.position < 1, `rl heads are limited: block ${d.block}, position ${d.position}`);
          arch = applyActionsToArch(arch, [s.actions[k]], DEFAULT_SPACE);
          validateArch(arch, DEFAULT_SPACE);
        });
      }
      c.dispose();
    }
    // An identity fc right after the pool would need 16·16·16 = 4096 units, outside fcUnits: position 0 is masked.
    const noFcHere = parseNotation('C(16,3,1), P(2,2,MAX), FC(64), SM(10)', [32, 32, 3], DEFAULT_SPACE);
    const rc = createController('random', {}, plain(), 1);
    for (const s of plainSamples(rc.sample(noFcHere, 50, 1))) {
      let arch = noFcHere;
      s.decisions.forEach((d, k) => {
        if (d.type === 'deeper' && blocks(arch)[d.block].kind === 'fc') assert.notEqual(d.position, 0, 'no identity fc of 4096 units');
        arch = applyActionsToArch(arch, [s.actions[k]], DEFAULT_SPACE);
      });
    }
  });

  it('is seeded: the same policy, start net and seed give the same samples; another seed gives others', () => {
    const a = createController('rl', {}, plain(), 7);
    const b = createController('rl', {}, plain(), 7);
    const start = startNet();
    const s1 = a.sample(start, 6, 42);
    assert.deepEqual(b.sample(start, 6, 42), s1);
    assert.deepEqual(a.sample(start, 3, 42), s1.slice(0, 3), 'network i does not depend on n');
    assert.notDeepEqual(a.sample(start, 6, 43).map((s) => s.actions), s1.map((s) => s.actions));
    // The steps a stage asks for override the config's.
    assert.deepEqual(a.sample(start, 2, 42, { widerSteps: 1, deeperSteps: 0 }).map((s) => s.actions.length), [1, 1]);
    a.dispose();
    b.dispose();
  });

  it('rewards: tan(acc·π/2) with clipping, failed networks count as accuracy 0, bad accuracies are refused', () => {
    const cfg = ControllerConfigSchema.parse({});
    const a = paramCount(startNet());
    assert.ok(Math.abs(rewardOf(0.5, a, cfg) - 1) < 1e-12);
    assert.equal(rewardOf(1, a, cfg), rewardOf(0.99, a, cfg));
    assert.ok(Number.isFinite(rewardOf(1, a, cfg)));
    assert.equal(rewardOf(0.7, a, ControllerConfigSchema.parse({ reward: 'acc' })), 0.7);
    assert.ok(rewardOf(0.7, a, ControllerConfigSchema.parse({ reward: 'acc', paramPenalty: 1 })) < 0.7);
    assert.equal(rewardOf(0.7, 2e6, ControllerConfigSchema.parse({ reward: 'acc', paramPenalty: 0.1 })), 0.7 - 0.2);
    // The controller's penalty counts the final network's parameters in its space.
    const penalised = createController('random', { reward: 'acc', paramPenalty: 1 }, plain(), 0);
    const [s] = plainSamples(penalised.sample(startNet(), 1, 0));
    assert.equal(penalised.update([s], [0.7]).rewards[0], 0.7 - paramCount(s.net) / 1e6);
    assert.equal(cleanAccuracy(NaN, 0), 0);
    assert.equal(cleanAccuracy(null, 0), 0);
    assert.throws(() => cleanAccuracy(1.5, 3), /accuracy 3 is 1.5/);
  });

  it("baseline: the paper's EMA of previous rewards is the default; the released code's form is an option", () => {
    const paper = ControllerConfigSchema.parse({});
    assert.equal(paper.baselineUpdate, 'paper');
    // First batch: no previous rewards, centred on its own mean; later batches use only the previous baseline.
    const p1 = baselineStep(null, [1, 3], paper);
    assert.deepEqual(p1.advantages, [-1, 1]);
    assert.equal(p1.baseline, 2);
    const p2 = baselineStep(p1.baseline, [4, 4], paper);
    assert.deepEqual(p2.advantages, [2, 2], 'the current batch is not in its own baseline');
    assert.ok(Math.abs(p2.baseline - (0.95 * 2 + 0.05 * 4)) < 1e-12);
    const p3 = baselineStep(p2.baseline, [0, 0], paper);
    assert.ok(Math.abs(p3.advantages[0] + p2.baseline) < 1e-12);

    // han-cai/EAS arch_manager.py reward(): b += decay·(mean − b) before the advantages (b starts at 0).
    const released = ControllerConfigSchema.parse({ baselineUpdate: 'released-code' });
    const r1 = baselineStep(null, [1, 3], released);
    assert.ok(Math.abs(r1.baseline - 0.95 * 2) < 1e-12);
    assert.deepEqual(r1.advantages.map((x) => +x.toFixed(12)), [1 - 1.9, 3 - 1.9].map((x) => +x.toFixed(12)));
    const r2 = baselineStep(1.9, [4, 4], released);
    assert.ok(Math.abs(r2.baseline - (1.9 + 0.95 * (4 - 1.9))) < 1e-12);
    assert.ok(r2.advantages[0] < 2 - 1e-6, 'the released form mixes the current batch in, shrinking its advantage');

    // The earlier names still parse (old configs and policy checkpoints) and mean the same.
    assert.deepEqual(baselineStep(1.9, [4, 4], ControllerConfigSchema.parse({ baselineUpdate: 'reference' })), r2);
    assert.deepEqual(baselineStep(p1.baseline, [4, 4], ControllerConfigSchema.parse({ baselineUpdate: 'classic' })), p2);
    assert.throws(() => ControllerConfigSchema.parse({ baselineUpdate: 'median' }));
  });

  it('an update makes a rewarded network more likely and the others less, without leaking tensors', async () => {
    const c = createController('rl', {}, plain(), 5) as RlController;
    const start = startNet();
    const samples = c.sample(start, 10, 1);
    const before = samples.map((s) => c.logProb(s));
    assert.ok(before.every((lp) => Number.isFinite(lp) && lp < 0));
    const accs = samples.map((_, i) => (i === 0 ? 0.9 : 0.3));
    const stats = await assertNoLeak(() => c.update(samples, accs));
    assert.ok(Number.isFinite(stats.loss) && stats.entropy > 0);
    assert.equal(stats.updates, 1);
    const after = samples.map((s) => c.logProb(s));
    assert.ok(after[0] > before[0], `rewarded sample: ${before[0]} → ${after[0]}`);
    assert.ok(after.slice(1).filter((lp, i) => lp < before[i + 1]).length >= 7, 'most penalised samples become less likely');
    assert.throws(() => c.update(samples, accs.slice(1)), /one accuracy per sample/);
    const tampered = structuredClone(samples);
    const d = tampered[0].decisions[5];
    if (d.type === 'deeper') d.blockMask = d.blockMask.map(() => false);
    assert.throws(() => c.update(tampered, accs), /sample 0, decision 5: block \d+ is not a valid choice/);
    const badTokens = structuredClone(samples);
    badTokens[1].decisions[0].tokens[0] = 10_000;
    assert.throws(() => c.update(badTokens, accs), /sample 1, decision 0: token id 10000 is outside the space's vocabulary/);
    const badKernel = structuredClone(samples);
    const k = badKernel[2].decisions.find((x) => x.type === 'deeper' && x.kernelIndex !== null);
    if (k?.type === 'deeper') k.kernelIndex = 7;
    assert.throws(() => c.update(badKernel, accs), /kernel index 7 is not a valid choice/);
    c.dispose();
  });

  it('checkpoint: one file holds the whole state; load reproduces samples and the next update exactly', async () => {
    const start = startNet();
    const a = createController('rl', {}, plain(), 9) as RlController;
    const first = a.sample(start, 10, 1);
    a.update(first, first.map((_, i) => 0.4 + 0.05 * i));
    const file = tmp('policy.json');
    a.save(file);
    const b = loadController(file) as RlController;
    assert.equal(b.kind, 'rl');
    const sa = a.sample(start, 10, 2);
    assert.deepEqual(b.sample(start, 10, 2), sa);
    const accs = sa.map((_, i) => 0.8 - 0.04 * i);
    const ua = a.update(sa, accs);
    const ub = b.update(sa, accs);
    assert.deepEqual(ub, ua);
    const wa = a.weights();
    const wb = b.weights();
    for (const k of Object.keys(wa)) assert.deepEqual(wb[k], wa[k], `weights ${k} after the same update`);
    assert.deepEqual(b.sample(start, 5, 3), a.sample(start, 5, 3));
    const ckpt = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.equal(ckpt.updates, 1);
    assert.equal(ckpt.adam.step, 1);
    assert.deepEqual([ckpt.format, ckpt.version, ckpt.searchSpace.kind], ['eas-controller', 2, 'plain']);
    a.dispose();
    b.dispose();
    await assertNoLeak(() => {
      const c = loadController(file);
      c.dispose();
    });
    const r = createController('random', { widerSteps: 2 }, plain(), 0);
    r.update(r.sample(start, 2, 0), [0.5, 0.6]);
    r.save(file);
    const r2 = loadController(file);
    assert.ok(r2 instanceof RandomController);
    assert.equal(r2.config.widerSteps, 2);
    assert.deepEqual(r2.sample(start, 4, 8), r.sample(start, 4, 8));
  });

  it('checkpoint: corrupt or mismatched files fail with clear errors', () => {
    const start = startNet();
    const a = createController('rl', { maxBlocks: 4 }, plain(), 9) as RlController;
    a.sample(start, 1, 0);
    const good = a.toCheckpoint();
    a.dispose();
    const file = tmp('bad.json');
    fs.writeFileSync(file, '{not json');
    assert.throws(() => loadController(file), /is not JSON/);
    assert.throws(() => loadController(file + '.missing'), /controller checkpoint \S+bad\.json\.missing: cannot be read: ENOENT/);
    assert.throws(() => controllerFromCheckpoint({ ...good, format: 'x' }), /not a valid controller checkpoint/);
    assert.throws(() => controllerFromCheckpoint({ ...good, params: undefined }), /needs "params" and "adam"/);
    assert.throws(() => controllerFromCheckpoint({ ...good, config: { ...good.config, maxBlocks: 5 } }), /"deeper.blockEmbedding" has shape \[4, 16\], expected \[5, 16\]/);
    const params = { ...good.params! };
    delete params['wider.bias'];
    assert.throws(() => controllerFromCheckpoint({ ...good, params }), /tensor "wider.bias" is missing/);
    const truncated = { ...good.params!, 'wider.bias': { shape: [1], data: Buffer.from([1, 2]).toString('base64') } };
    assert.throws(() => controllerFromCheckpoint({ ...good, params: truncated }), /holds 2 bytes, expected 4/);
    const m = { ...good.adam!.m, extra: good.adam!.m['wider.bias'] };
    assert.throws(() => controllerFromCheckpoint({ ...good, adam: { ...good.adam!, m } }), /unexpected tensors extra/);
    assert.doesNotThrow(() => controllerFromCheckpoint(good).dispose());
  });

  it('works with a non-default space and decoder size (projected initial decoder state)', async () => {
    const space = SearchSpaceSchema.parse({ convFilters: [8, 16, 24], fcUnits: [32, 64], convKernels: [3, 5] });
    const c: Controller = createController('rl', { decoderUnits: 40, encoderUnits: 12 }, plain(space), 2);
    const start = parseNotation('C(8,3,1), P(2,2,MAX), C(16,5,1), P(2,2,AVG), FC(32), SM(5)', [16, 16, 3], space);
    const stats = await assertNoLeak(() => {
      const samples = c.sample(start, 10, 0);
      checkSamples(start, samples, space, 4, 5);
      return c.update(samples, samples.map((_, i) => i / 10));
    });
    assert.ok(Number.isFinite(stats.loss));
    c.dispose();
  });

  it('canonical keys of random-controller samples are diverse (the sampler explores)', () => {
    const c = createController('random', {}, plain(), 0);
    const keys = new Set(plainSamples(c.sample(startNet(), 50, 3)).map((s) => canonicalKey(s.net)));
    assert.ok(keys.size > 40, `${keys.size} distinct of 50`);
  });

  it('eas sample prints n networks in the paper notation (new policy and checkpoint), actions with --json', () => {
    const eas = (...args: string[]) => execFileSync(process.execPath, [path.join(__dirname, '..', 'bin', 'eas.js'), 'sample', ...args], { encoding: 'utf8', env: { ...process.env, EAS_BACKEND: tf.getBackend() } });
    const lines = eas('--policy', 'new', '--net', SMALL, '--n', '4', '--seed', '3').trim().split('\n');
    assert.equal(lines.length, 4);
    const c = createController('rl', {}, plain(), 3);
    assert.deepEqual(lines.map((l) => canonicalKey(parseNotation(l, [32, 32, 3], DEFAULT_SPACE))), plainSamples(c.sample(startNet(), 4, 3)).map((s) => canonicalKey(s.net)));
    const file = tmp('cli.json');
    c.save(file);
    c.dispose();
    const json = eas('--policy', file, '--net', SMALL, '--n', '2', '--seed', '3', '--json').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(json.map((j) => j.notation), lines.slice(0, 2));
    for (const j of json) assert.deepEqual(applyActionsToArch(startNet(), j.actions, DEFAULT_SPACE).layers.length, parseNotation(j.notation, [32, 32, 3]).layers.length);
    assert.throws(() => eas('--policy', file, '--controller', 'random', '--net', SMALL), /does not match the checkpoint/);
  });
});
