import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseNotation } from '../src/arch';
import { loadNetwork, saveNetwork } from '../src/checkpoint';
import { initWeights } from '../src/nn';
import { Rng } from '../src/util/rng';
import { BadInputError, DivergedError, TrainAbortedError, TrainerCrashedError } from '../src/train/errors';
import { runTrainJob, TRAINER_CHILD } from '../src/train/process';
import { executeTrainJob, type TrainJobSpecInput } from '../src/train/job';
import { listEpochCheckpoints, loadEpochCheckpoint } from '../src/train/checkpoint';
import type { EpochMessage } from '../src/train/protocol';
import { setupBackend } from './helpers/tf';
import { weightsBitwiseEqual } from './helpers/nets';

const SHAPE: [number, number, number] = [8, 8, 3];
const arch = parseNotation('C(8,3,1), P(2,2,MAX), C(8,3,1), FC(16), SM(4)', SHAPE);
let root: string;
let startNet: string;

function spec(name: string, over: Partial<TrainJobSpecInput> = {}): TrainJobSpecInput {
  return {
    network: startNet,
    dataset: { name: 'synthetic', seed: 3, synthetic: { train: 704, test: 96, shape: SHAPE, classes: 4, noise: 64 } },
    mode: 'final',
    epochs: 3,
    recipe: { batchSize: 32, learningRate: 0.1, dropout: { conv: 0.1, fc: 0.1, skipFirstConv: true } },
    seed: 21,
    workDir: path.join(root, name, 'work'),
    output: path.join(root, name, 'out'),
    backend: process.env.EAS_TEST_BACKEND ?? 'wasm',
    progressIntervalMs: 0,
    ...over,
  };
}

/** Every epoch-* entry in workDir is a complete, loadable checkpoint. */
function assertOnlyCompleteCheckpoints(workDir: string): number[] {
  const entries = fs.readdirSync(workDir).filter((n) => /^epoch-\d+$/.test(n));
  for (const name of entries) loadEpochCheckpoint(path.join(workDir, name));
  return entries.map((n) => Number(n.slice(6))).sort((a, b) => a - b);
}

before(async () => {
  await setupBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-train-proc-'));
  startNet = path.join(root, 'start');
  await saveNetwork(startNet, arch, initWeights(arch, Rng.fromSeed(5)));
});

describe('trainer child process', () => {
  test('trains end to end in a child, reports epochs, publishes the network and its result once', async () => {
    const epochs: EpochMessage[] = [];
    let progress = 0;
    const s = spec('e2e');
    const result = await runTrainJob(s, { onEpoch: (e) => void epochs.push(e), onProgress: () => void progress++ });
    assert.deepEqual(
      epochs.map((e) => e.epoch),
      [1, 2, 3],
    );
    assert.equal(progress, 3 * 22, 'one progress message per batch (704 / 32 = 22 batches per epoch)');
    for (const e of epochs) assert.ok(fs.existsSync(path.join(e.checkpoint, 'state.json')), `${e.checkpoint} is a finished checkpoint`);
    assert.equal(result.mode, 'final');
    assert.equal(result.valAcc, undefined);
    assert.ok(result.testAcc! >= 0.8, `test accuracy ${result.testAcc}`);
    assert.equal(result.testAcc, epochs[2].valAcc);
    assert.equal(result.epochsRun, 3);
    assert.equal(result.evalImages, 96);
    assert.ok(result.params > 0);
    const saved = loadNetwork(s.output);
    assert.deepEqual(saved.arch, arch);
    assert.deepEqual((saved.meta as { trainResult: unknown }).trainResult, result);
    // The last epoch checkpoint and the published network hold the same weights.
    assert.ok(weightsBitwiseEqual(saved.weights, loadEpochCheckpoint(epochs[2].checkpoint).weights));

    // A retry after success returns the recorded result without starting a trainer.
    const again = await runTrainJob({ ...s, network: path.join(root, 'does-not-exist') }, { onEpoch: () => assert.fail('must not train again') });
    assert.deepEqual(again, result);
  });

  test('killed mid-run leaves only complete epoch checkpoints; resuming from the last gives the uninterrupted weights', async () => {
    const s = spec('kill');
    const stop = new AbortController();
    let killedAt: { epoch: number; batch: number } | undefined;
    await assert.rejects(
      runTrainJob(s, {
        signal: stop.signal,
        onProgress: (p) => {
          // In the middle of epoch 2, after epoch 1's checkpoint was written.
          if (p.epoch === 2 && p.batch === 11 && !killedAt) {
            killedAt = { epoch: p.epoch, batch: p.batch };
            stop.abort();
          }
        },
      }),
      TrainAbortedError,
    );
    assert.ok(killedAt);
    assert.ok(!fs.existsSync(s.output), 'no output after a kill');
    const complete = assertOnlyCompleteCheckpoints(s.workDir);
    assert.ok(complete.includes(1) && !complete.includes(3), `checkpoints after the kill: ${complete.join(', ')}`);

    const last = listEpochCheckpoints(s.workDir).at(-1)!;
    const resumed = await runTrainJob({ ...s, resumeFrom: last.dir });
    assert.equal(resumed.resumedFrom, last.dir);
    assert.equal(resumed.epochsRun, 3 - last.epoch);
    assert.deepEqual(
      resumed.history.map((h) => h.epoch),
      [1, 2, 3],
    );
    assert.deepEqual(assertOnlyCompleteCheckpoints(s.workDir), [1, 2, 3]);

    // The uninterrupted run of the first test used the same spec apart from its directories.
    const uninterrupted = loadNetwork(spec('e2e').output).weights;
    assert.ok(weightsBitwiseEqual(loadNetwork(s.output).weights, uninterrupted), 'kill + resume must reach the uninterrupted weights bitwise');
  });

  test('divergence and bad input come back as typed errors', async () => {
    await assert.rejects(runTrainJob(spec('diverge', { epochs: 1, recipe: { batchSize: 32, learningRate: 1e30, schedule: 'constant' } })), (e: Error) => {
      assert.ok(e instanceof DivergedError, `got ${e.name}: ${e.message}`);
      assert.equal(e.epoch, 1);
      assert.ok(e.step! >= 1);
      return true;
    });
    await assert.rejects(runTrainJob(spec('missing-net', { network: path.join(root, 'nope') })), (e: Error) => e instanceof BadInputError && /network: .*nope/.test(e.message));
    await assert.rejects(
      runTrainJob(spec('wrong-shape', { dataset: { name: 'synthetic', synthetic: { train: 200, test: 50, shape: [6, 6, 3], classes: 4 } } })),
      (e: Error) => e instanceof BadInputError && /8×8×3/.test(e.message),
    );
    // Spec errors are caught in the parent, naming the field.
    await assert.rejects(runTrainJob({ ...spec('bad-spec'), epochs: 0 }), (e: Error) => e instanceof BadInputError && /epochs/.test(e.message));
    // In-process execution classifies the same way.
    await assert.rejects(executeTrainJob(spec('missing-net2', { network: path.join(root, 'nope') })), BadInputError);
  });

  test('a trainer that dies without reporting is a TrainerCrashedError with its exit code and output', async () => {
    const s = spec('crash');
    await assert.rejects(
      runTrainJob(s, { env: { ...process.env, NODE_OPTIONS: `--require ${path.join(__dirname, 'fixtures', 'train-exit-early.cjs')}` } }),
      (e: Error) => {
        assert.ok(e instanceof TrainerCrashedError, `got ${e.name}: ${e.message}`);
        assert.equal(e.exitCode, 9);
        assert.match(e.stderrTail, /simulated trainer crash/);
        return true;
      },
    );
    assert.ok(fs.existsSync(TRAINER_CHILD));
  });

  test('eas train runs a notation end to end and prints the final accuracy; a rerun returns the recorded result', async () => {
    const out = path.join(root, 'cli');
    const args = ['bin/eas.js', 'train', '--net', 'C(8,3,1), P(4,4,MAX), FC(16), SM(10)', '--dataset', 'synthetic', '--epochs', '1', '--mode', 'search'];
    const more = ['--limit-train', '320', '--limit-test', '100', '--batch-size', '32', '--out', out, '--backend', process.env.EAS_TEST_BACKEND ?? 'wasm'];
    const run = () => promisify(execFile)(process.execPath, [...args, ...more], { cwd: path.join(__dirname, '..') });
    const first = await run();
    assert.match(first.stdout, /val accuracy \d+\.\d+% \(100 images\) after 1 epochs/);
    assert.match(first.stderr, /epoch 1\/1: loss/);
    assert.ok(fs.existsSync(path.join(out, 'network', 'meta.json')));
    assert.ok(fs.existsSync(path.join(out, 'work', 'epoch-0001', 'state.json')));
    const second = await run();
    assert.equal(second.stdout.replace(/this call [\d.]+ s/, ''), first.stdout.replace(/this call [\d.]+ s/, ''));
    assert.doesNotMatch(second.stderr, /epoch 1\/1: loss/, 'the rerun must not train');
  });

  test("eas train --dropout: dropout after every conv but the first (the paper's SVHN setting); bad rates are named", async () => {
    const out = path.join(root, 'cli-dropout');
    const base = ['bin/eas.js', 'train', '--net', 'C(8,3,1), P(2,2,MAX), C(8,3,1), P(4,4,MAX), FC(16), SM(10)', '--dataset', 'synthetic', '--epochs', '1', '--mode', 'search'];
    const more = ['--limit-train', '320', '--limit-test', '100', '--batch-size', '32', '--backend', process.env.EAS_TEST_BACKEND ?? 'wasm'];
    const run = (extra: string[]) => promisify(execFile)(process.execPath, [...base, ...more, ...extra], { cwd: path.join(__dirname, '..') });
    const r = await run(['--dropout', '0.2', '--fc-dropout', '0.1', '--out', out]);
    assert.match(r.stderr, /dropout conv 0\.2 \(not after the first\) fc 0\.1/);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'network', 'meta.json'), 'utf8')) as { recipe: { dropout: unknown } };
    assert.deepEqual(meta.recipe.dropout, { conv: 0.2, fc: 0.1, skipFirstConv: true });
    const model = JSON.parse(fs.readFileSync(path.join(out, 'network', 'model.json'), 'utf8')) as { modelTopology: { model_config?: { config: { layers: { class_name: string; name: string; config: { rate?: number } }[] } }; config?: { layers: { class_name: string; name: string; config: { rate?: number } }[] } } };
    const layers = (model.modelTopology.model_config ?? model.modelTopology).config!.layers;
    const drops = layers.filter((l) => l.class_name === 'Dropout').map((l) => [l.name, l.config.rate]);
    assert.deepEqual(drops, [['L2_dropout', 0.2], ['L4_dropout', 0.1]], 'no dropout after the first conv (L0)');
    await assert.rejects(run(['--dropout', '1.5', '--out', path.join(root, 'cli-bad')]), (e: { stderr: string }) => /--dropout must be a rate in \[0, 1\), got "1\.5"/.test(e.stderr));
  });
});
