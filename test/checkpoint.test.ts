import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TABLE1_START } from '../src/arch';
import { CheckpointError, loadNetwork, saveNetwork } from '../src/checkpoint/network';
import { buildModelOf } from '../src/nn';
import { assertNoLeak, setupBackend } from './helpers/tf';
import { batch, net, weightsBitwiseEqual } from './helpers/nets';

let root: string;
before(async () => {
  await setupBackend();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-ckpt-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

const saved = (() => {
  let dir: string | undefined;
  return async (): Promise<string> => {
    if (!dir) {
      dir = path.join(root, 'table1');
      const { arch, weights } = net(TABLE1_START, [28, 28, 1], 3);
      assert.equal(await saveNetwork(dir, arch, weights, { step: 7, note: 'parent' }, { model: { bnEpsilon: 1e-3 } }), true);
    }
    return dir;
  };
})();

/** A copy of the saved checkpoint with one file altered. */
async function corrupted(name: string, alter: (dir: string) => void): Promise<string> {
  const dir = path.join(root, name);
  fs.cpSync(await saved(), dir, { recursive: true });
  alter(dir);
  return dir;
}

test('round trip: arch, meta and model options equal, weights bit for bit; a finished checkpoint is never overwritten', async () => {
  const { arch, weights } = net(TABLE1_START, [28, 28, 1], 3);
  const dir = await saved();
  assert.deepEqual(fs.readdirSync(dir).sort(), ['arch.json', 'meta.json', 'model.json', 'weights.bin']);
  const loaded = loadNetwork(dir);
  assert.deepEqual(loaded.arch, arch);
  assert.ok(weightsBitwiseEqual(loaded.weights, weights));
  assert.deepEqual(loaded.meta, { step: 7, note: 'parent' });
  assert.deepEqual(loaded.modelOptions, { bnEpsilon: 1e-3 });
  const other = net(TABLE1_START, [28, 28, 1], 4);
  const before = fs.readFileSync(path.join(dir, 'weights.bin'));
  assert.equal(await saveNetwork(dir, other.arch, other.weights), false);
  assert.ok(fs.readFileSync(path.join(dir, 'weights.bin')).equals(before));
  assert.deepEqual(fs.readdirSync(root).filter((n) => n.includes('.tmp-')), [], 'no temporary directory left behind');
});

test('model.json + weights.bin load with plain tf.loadLayersModel and give the same logits', async () => {
  const dir = await saved();
  const loaded = loadNetwork(dir);
  const x = batch([28, 28, 1], 4);
  await assertNoLeak(async () => {
    const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const bin = fs.readFileSync(path.join(dir, modelJson.weightsManifest[0].paths[0]));
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    const plain = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData }));
    const ours = buildModelOf(loaded.space, loaded.arch, loaded.weights, loaded.modelOptions);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(plain.predict(x) as tf.Tensor, ours.predict(x) as tf.Tensor))).dataSync()[0]);
    assert.equal(diff, 0);
    plain.dispose();
    ours.dispose();
  });
  x.dispose();
});

const fails = (dir: string, file: string, pattern: RegExp) =>
  assert.throws(
    () => loadNetwork(dir),
    (e: unknown) => e instanceof CheckpointError && e.file === path.join(dir, file) && pattern.test(e.message),
  );

test('corrupt or inconsistent checkpoints fail with an error naming the file and the problem', async () => {
  fails(await corrupted('bad-json', (d) => fs.writeFileSync(path.join(d, 'model.json'), '{"modelTopology": ')), 'model.json', /not valid JSON/);
  fails(await corrupted('no-bin', (d) => fs.rmSync(path.join(d, 'weights.bin'))), 'weights.bin', /missing/);
  fails(await corrupted('no-meta', (d) => fs.rmSync(path.join(d, 'meta.json'))), 'meta.json', /missing/);
  fails(await corrupted('no-arch', (d) => fs.rmSync(path.join(d, 'arch.json'))), 'arch.json', /missing/);
  fails(
    await corrupted('short-bin', (d) => fs.truncateSync(path.join(d, 'weights.bin'), fs.statSync(path.join(d, 'weights.bin')).size - 4)),
    'weights.bin',
    /bytes but the manifest .* needs \d+ \(truncated\?\)/,
  );
  fails(await corrupted('long-bin', (d) => fs.appendFileSync(path.join(d, 'weights.bin'), Buffer.alloc(8))), 'weights.bin', /8 extra bytes/);
  fails(
    await corrupted('no-manifest', (d) => {
      const j = JSON.parse(fs.readFileSync(path.join(d, 'model.json'), 'utf8'));
      delete j.weightsManifest;
      fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(j));
    }),
    'model.json',
    /weightsManifest/,
  );
  // arch.json from another network: same layer ids, other widths.
  fails(
    await corrupted('wrong-arch', (d) => {
      const a = JSON.parse(fs.readFileSync(path.join(d, 'arch.json'), 'utf8'));
      a.layers[0].filters = 32;
      fs.writeFileSync(path.join(d, 'arch.json'), JSON.stringify(a));
    }),
    'model.json',
    /weights do not match arch\.json: weight "L0\/kernel": shape \[3, 3, 1, 16\] does not match the network's \[3, 3, 1, 32\]/,
  );
  fails(
    await corrupted('extra-layer', (d) => {
      const a = JSON.parse(fs.readFileSync(path.join(d, 'arch.json'), 'utf8'));
      a.layers.splice(1, 0, { id: 'L9', type: 'conv', filters: 16, kernel: 3, stride: 1 });
      fs.writeFileSync(path.join(d, 'arch.json'), JSON.stringify(a));
    }),
    'model.json',
    /do not match arch\.json/,
  );
  fails(await corrupted('bad-arch', (d) => fs.writeFileSync(path.join(d, 'arch.json'), JSON.stringify({ input: [28, 28], layers: [], classes: 10 }))), 'arch.json', /not a valid plain network: input/);
  assert.throws(() => loadNetwork(path.join(root, 'nowhere')), (e: unknown) => e instanceof CheckpointError && /directory is missing/.test(e.message));
});

test('saving weights that do not fit the arch writes nothing', async () => {
  const { arch, weights } = net('C(16,3,1), P(2,2,MAX), SM(10)', [8, 8, 1]);
  delete weights['L0/bn/gamma'];
  const dir = path.join(root, 'invalid');
  await assert.rejects(saveNetwork(dir, arch, weights), /weight "L0\/bn\/gamma": missing/);
  assert.equal(fs.existsSync(dir), false);
});

test('beforePublish runs on the written files before the checkpoint appears: its meta joins, its error leaves nothing', async () => {
  const { arch, weights } = net(TABLE1_START, [28, 28, 1], 5);
  const dir = path.join(root, 'checked');
  let sawWeights = false;
  assert.equal(
    await saveNetwork(dir, arch, weights, { parent: 'p' }, {
      beforePublish: () => {
        // The weights are written (in the temporary directory) and the checkpoint is not yet visible.
        sawWeights = fs.readdirSync(root).some((n) => n.startsWith('checked.tmp-') && fs.existsSync(path.join(root, n, 'weights.bin')));
        assert.equal(fs.existsSync(dir), false);
        return { maxAbsDiff: 1e-6 };
      },
    }),
    true,
  );
  assert.ok(sawWeights);
  assert.deepEqual(loadNetwork(dir).meta, { parent: 'p', maxAbsDiff: 1e-6 });
  const refused = path.join(root, 'refused');
  await assert.rejects(
    saveNetwork(refused, arch, weights, {}, {
      beforePublish: () => {
        throw new Error('check failed');
      },
    }),
    /check failed/,
  );
  assert.equal(fs.existsSync(refused), false);
  assert.deepEqual(fs.readdirSync(root).filter((n) => n.includes('.tmp-')), [], 'no temporary directory left behind');
});

test('a directory left half-written by a SIGKILLed writer is removed by the next publish of the same target', async () => {
  const { publishDirAtomic } = await import('../src/util/atomic');
  const target = path.join(root, 'killed', 'init');
  // A real writer, killed while it fills its temporary directory.
  const script = `
    const { publishDirAtomic } = require(${JSON.stringify(path.resolve('src/util/atomic.ts'))});
    const fs = require('node:fs');
    const path = require('node:path');
    void publishDirAtomic(${JSON.stringify(target)}, async (tmp) => {
      fs.writeFileSync(path.join(tmp, 'weights.bin'), new Uint8Array(1024));
      process.stdout.write('filling\\n');
      await new Promise(() => setInterval(() => undefined, 1000));
    });`;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the writer did not start filling within 60 s')), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('filling')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`the writer exited (${code}) before filling`)));
  });
  child.kill('SIGKILL');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the SIGKILLed writer did not exit within 30 s')), 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const siblings = () => fs.readdirSync(path.dirname(target)).sort();
  const left = siblings();
  assert.equal(left.length, 1);
  assert.match(left[0], /^init\.tmp-\d+-[0-9a-f]{8}$/, 'the killed writer left its temporary directory');
  // Names that only look alike belong to other targets and stay.
  fs.mkdirSync(path.join(root, 'killed', 'init2.tmp-1-abcdef01'));
  fs.mkdirSync(path.join(root, 'killed', 'init.tmp-keep'));
  assert.equal(await publishDirAtomic(target, (tmp) => fs.writeFileSync(path.join(tmp, 'weights.bin'), new Uint8Array(8))), true);
  assert.deepEqual(siblings(), ['init', 'init.tmp-keep', 'init2.tmp-1-abcdef01']);
  assert.deepEqual(fs.readdirSync(target), ['weights.bin']);
});

test('a report folder whose writer was killed between its two renames: the next write removes the set-aside copy', async () => {
  const { replaceDirAtomic } = await import('../src/report/output');
  const target = path.join(root, 'report-killed', 'report');
  fs.mkdirSync(path.dirname(target), { recursive: true });
  // What the kill leaves: the old folder renamed aside (another pid's suffix), the new one not yet in place.
  fs.mkdirSync(`${target}.old-1-abcdef02`);
  fs.writeFileSync(path.join(`${target}.old-1-abcdef02`, '.marker'), '');
  await replaceDirAtomic(target, '.marker', (tmp) => fs.writeFileSync(path.join(tmp, '.marker'), ''));
  assert.deepEqual(fs.readdirSync(path.dirname(target)), ['report']);
});
