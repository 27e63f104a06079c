import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { ApplicationFailure } from '@temporalio/common';
import { parseNotation } from '../src/arch';
import { ArchError } from '../src/arch/errors';
import { loadNetwork, saveNetwork } from '../src/checkpoint';
import { ConfigError } from '../src/config/search-config';
import { ControllerCheckpointError, readCheckpoint } from '../src/controller/checkpoint';
import { DataFileError, DatasetUnavailableError } from '../src/data/types';
import { initWeights } from '../src/nn';
import { BadInputError, TrainerCrashedError } from '../src/train/errors';
import { TransformError } from '../src/transform';
import { InputsChangedError } from '../src/store/inputs';
import { ChildCrashedError, ChildTaskError } from '../src/activities/child-pool';
import { FunctionNotPreservedError, StoreFileError, classifyError, errorLike, toFailure } from '../src/activities/errors';
import { NON_RETRYABLE_TYPES } from '../src/activities/options';
import { Rng } from '../src/util/rng';

const classify = (err: unknown) => classifyError(errorLike(err));
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'eas-classify-'));

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('error classification: retry what another host or a later try could fix', () => {
  test('a checkpoint that is missing is retryable; one that exists but is corrupt is not', async () => {
    const dir = tmp();
    const missing = await thrown(() => loadNetwork(path.join(dir, 'not-yet')));
    assert.deepEqual([classify(missing).type, classify(missing).nonRetryable], ['CheckpointMissing', false]);

    const arch = parseNotation('C(4,3,1), FC(8), SM(2)', [8, 8, 1]);
    const net = path.join(dir, 'net');
    await saveNetwork(net, arch, initWeights(arch, Rng.fromSeed(1)));
    fs.writeFileSync(path.join(net, 'arch.json'), '{ not json');
    const corrupt = await thrown(() => loadNetwork(net));
    assert.equal(corrupt instanceof Error && corrupt.name, 'CheckpointError');
    assert.deepEqual([classify(corrupt).type, classify(corrupt).nonRetryable], ['CheckpointCorrupt', true]);
  });

  test('a policy checkpoint: missing retryable, not JSON non-retryable', async () => {
    const dir = tmp();
    const missing = await thrown(() => readCheckpoint(path.join(dir, 'policy-0001.json')));
    assert.ok(missing instanceof ControllerCheckpointError);
    assert.equal(classify(missing).nonRetryable, false);
    fs.writeFileSync(path.join(dir, 'bad.json'), 'x');
    const bad = await thrown(() => readCheckpoint(path.join(dir, 'bad.json')));
    assert.deepEqual([classify(bad).type, classify(bad).nonRetryable], ['CheckpointCorrupt', true]);
  });

  test('data on this host that cannot be used is retryable (another host may have it)', () => {
    assert.deepEqual(classify(new DataFileError('/data/train-images-idx3-ubyte', 'truncated')), { type: 'DataUnavailable', nonRetryable: false, message: '/data/train-images-idx3-ubyte: truncated' });
    // The dataset missing on this host (locateDataset), as the trainer reports it: the same stable, retryable type.
    const missing = new DatasetUnavailableError("dataset 'cifar10' not found (downloading not allowed) on host h: its files belong in /d/cifar10.", 'cifar10', '/d/cifar10');
    assert.deepEqual([classify(missing).type, classify(missing).nonRetryable], ['DataUnavailable', false]);
  });

  test('filesystem errors (ENOENT, ESTALE) are retryable', () => {
    const err = Object.assign(new Error('ESTALE: stale file handle'), { code: 'ESTALE' });
    assert.deepEqual([classify(err).type, classify(err).nonRetryable], ['FileSystem:ESTALE', false]);
    const enoent = (() => {
      try {
        fs.readFileSync('/nonexistent/eas/file');
      } catch (e) {
        return e;
      }
    })();
    assert.equal(classify(enoent).nonRetryable, false);
  });

  test('what cannot get better is non-retryable: bad config, bad input, invalid architecture, unpreserved function, changed inputs', () => {
    const zodErr = z.object({ a: z.number() }).safeParse({ a: 'x' }).error!;
    const cases: [unknown, string][] = [
      [new ConfigError('config.yaml', [{ path: 'stages', message: 'bad' }]), 'ConfigError'],
      [zodErr, 'BadInput'],
      [new BadInputError('spec: epochs must be positive'), 'BadInput'],
      [new ArchError(2, 'kernel', 'even kernel'), 'ArchError'],
      [new TransformError(0, 'wider L9 failed'), 'ArchError'],
      [new FunctionNotPreservedError('differs by 0.3'), 'FunctionNotPreserved'],
      [new InputsChangedError('/runs/x/config.json', [{ path: 'seed', old: 1, new: 2 }], 'this search folder'), 'InputsChanged'],
    ];
    for (const [err, type] of cases) {
      const c = classify(err);
      assert.equal(c.type, type, String(err));
      assert.equal(c.nonRetryable, true, type);
      assert.ok((NON_RETRYABLE_TYPES as readonly string[]).includes(c.type), `${c.type} is listed in NON_RETRYABLE_TYPES`);
    }
  });

  test('crashes and unknown errors are retryable', () => {
    for (const err of [new TrainerCrashedError('killed', null, 'SIGKILL', ''), new ChildCrashedError('killed', null, 'SIGKILL'), new Error('something odd'), 'a string']) {
      assert.equal(classify(err).nonRetryable, false, String(err));
    }
  });

  test('an error serialised by a child process classifies as the original', async () => {
    const original = await thrown(() => loadNetwork('/nonexistent/eas/net'));
    const crossed = new ChildTaskError(JSON.parse(JSON.stringify(errorLike(original))));
    assert.deepEqual(classify(crossed), classify(original));
    const storeErr = new StoreFileError('/nonexistent/probe.json', 'missing');
    assert.deepEqual(classify(new ChildTaskError(JSON.parse(JSON.stringify(errorLike(storeErr))))).type, 'CheckpointMissing');
  });

  test('toFailure: an ApplicationFailure with the type and the retry decision', () => {
    const f = toFailure(new FunctionNotPreservedError('s1-e000-c01: differs by 0.5'));
    assert.ok(f instanceof ApplicationFailure);
    assert.equal(f.type, 'FunctionNotPreserved');
    assert.equal(f.nonRetryable, true);
    assert.match(f.message, /differs by 0.5/);
    const g = toFailure(new DataFileError('/d/f', 'short'));
    assert.equal(g.nonRetryable, false);
    const given = ApplicationFailure.create({ type: 'X', nonRetryable: true, message: 'kept' });
    assert.equal(toFailure(given), given);
  });
});
