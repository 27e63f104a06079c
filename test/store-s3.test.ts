import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { InputsChangedError, claimInputs, inputsFile } from '../src/store/inputs';
import { LocalRunStore, MARKER_SUFFIX, type RunStore, S3RunStore, StoreIntegrityError, openStore, parseS3Url } from '../src/store/storage';
import { storageRoot } from '../src/store/root';
import { publishDirAtomic, writeJsonAtomic } from '../src/util/atomic';
import { type SeaweedServer, startSeaweed } from './helpers/seaweed';

/**
 * The storage contract, run against both implementations: a local directory and an S3-compatible object store (a real
 * SeaweedFS `weed mini`). Two "hosts" are two store instances: the same directory (local), or two caches of one bucket
 * prefix (s3) — nothing shared between them but the bucket.
 */
const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), `eas-store-${p}-`));

interface Impl {
  name: string;
  /** Two hosts' views of one fresh store. */
  fresh(): { a: RunStore; b: RunStore };
}

let weed: SeaweedServer;
const savedEnv = { ...process.env };

before(async () => {
  weed = await startSeaweed();
  Object.assign(process.env, weed.env);
});
after(async () => {
  for (const k of Object.keys(weed?.env ?? {})) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await weed?.stop();
});

const impls: Impl[] = [
  {
    name: 'local directory',
    fresh() {
      const dir = tmp('local');
      return { a: new LocalRunStore(dir), b: new LocalRunStore(dir) };
    },
  },
  {
    name: 's3 (SeaweedFS)',
    fresh() {
      const url = weed.url();
      return { a: new S3RunStore(url, tmp('cache-a')), b: new S3RunStore(url, tmp('cache-b')) };
    },
  },
];

async function writeFolder(store: RunStore, stored: string, files: Record<string, string>): Promise<boolean> {
  return publishDirAtomic(store.localPath(stored), (dir) => {
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), content);
    }
  });
}

const read = (store: RunStore, stored: string) => fs.readFileSync(store.localPath(stored), 'utf8');

for (const impl of impls) {
  describe(`run store contract: ${impl.name}`, () => {
    test('a published file and folder are seen by another host; nothing unpublished is', async () => {
      const { a, b } = impl.fresh();
      assert.equal(await b.isPublished('s/result.json'), false);
      assert.equal(await b.pull('s/result.json'), false);
      writeJsonAtomic(a.localPath('s/result.json'), { ok: 1 });
      await writeFolder(a, 's/start/init', { 'arch.json': '{"a":1}', 'weights.bin': 'WWWW', 'sub/x.txt': 'x' });
      await a.publish('s/result.json');
      await a.publish('s/start/init');
      assert.equal(await b.isPublished('s/result.json'), true);
      assert.equal(await b.isPublished('s/start/init'), true);
      assert.equal(await b.pull('s/result.json'), true);
      assert.equal(await b.pull('s/start/init'), true);
      assert.deepEqual(JSON.parse(read(b, 's/result.json')), { ok: 1 });
      assert.equal(read(b, 's/start/init/weights.bin'), 'WWWW');
      assert.equal(read(b, 's/start/init/sub/x.txt'), 'x');
      assert.deepEqual(await b.list('s'), ['result.json', 'start']);
      assert.deepEqual(await b.list('s/start'), ['init']);
      await assert.rejects(a.publish('s/nothing-here'), /does not exist/);
    });

    test('publish is first-wins: a second publish keeps the first artifact unless it replaces', async () => {
      const { a, b } = impl.fresh();
      writeJsonAtomic(a.localPath('s/samples.json'), { v: 1 });
      assert.equal(await a.publish('s/samples.json'), impl.name.startsWith('s3'));
      // Another host computed it too (with other bytes): the published one stands and that host's copy follows it.
      writeJsonAtomic(b.localPath('s/samples.json'), impl.name.startsWith('s3') ? { v: 2 } : { v: 1 });
      assert.equal(await b.publish('s/samples.json'), false);
      assert.deepEqual(JSON.parse(read(b, 's/samples.json')), { v: 1 });
      writeJsonAtomic(b.localPath('s/result.json'), { r: 1 });
      await b.publish('s/result.json', { replace: true });
      writeJsonAtomic(b.localPath('s/result.json'), { r: 2 });
      await b.publish('s/result.json', { replace: true });
      assert.equal(await a.pull('s/result.json'), true);
      assert.deepEqual(JSON.parse(read(a, 's/result.json')), { r: 2 });
    });

    test('a retried step reuses an output only for the same inputs, across hosts', async () => {
      const { a, b } = impl.fresh();
      const out = 's/stage-1/episode-000/candidate-00/init';
      claimInputs(a.localPath(out), { seed: 5, actions: ['wider'] }, 'the transformed network');
      await a.publish(inputsFile(out));
      await b.pull(inputsFile(out));
      claimInputs(b.localPath(out), { actions: ['wider'], seed: 5 }, 'the transformed network'); // same inputs: fine
      assert.throws(() => claimInputs(b.localPath(out), { seed: 6, actions: ['wider'] }, 'the transformed network'), InputsChangedError);
    });

    test('a writer killed mid-write leaves nothing readable as finished, and the sweep removes it', async () => {
      const { a, b } = impl.fresh();
      const target = 's/stage-1/best/work/epoch-0002';
      await writeFolder(a, 's/stage-1/best/work/epoch-0001', { 'state.json': '{}', 'tensors.bin': 'T1' });
      await a.publish('s/stage-1/best/work/epoch-0001');
      if (a instanceof S3RunStore) {
        // An upload cut short: data objects, no commit marker.
        const client = new S3Client({ forcePathStyle: true });
        const { bucket, prefix } = parseS3Url(a.url);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${target}.eas-v-zzzz-0123abcd/state.json`, Body: '{}' }));
        client.destroy();
      } else {
        // A temporary folder of a process (not this one) killed before its rename.
        fs.mkdirSync(`${a.localPath(target)}.tmp-999999-0123abcd`, { recursive: true });
        fs.writeFileSync(`${a.localPath(target)}.tmp-999999-0123abcd/state.json`, '{}');
      }
      assert.equal(await b.isPublished(target), false);
      assert.equal(await b.pull(target), false);
      assert.deepEqual(await b.list('s/stage-1/best/work'), ['epoch-0001']);
      // Young leftovers stay (their writer may be alive); old ones go; the published artifact is untouched.
      assert.deepEqual(await b.sweep('s/stage-1', { olderThanMs: 3_600_000 }), []);
      const removed = await b.sweep('s/stage-1', { olderThanMs: 0 });
      assert.equal(removed.length, 1, `removed ${removed.join(', ')}`);
      assert.ok(removed[0]!.startsWith(target), removed[0]);
      assert.equal(await b.pull('s/stage-1/best/work/epoch-0001'), true);
      assert.equal(read(b, 's/stage-1/best/work/epoch-0001/tensors.bin'), 'T1');
    });
  });
}

describe('run store on s3: integrity of the cache and of the bucket', () => {
  test('a cached file whose hash differs is refetched; a cached one that matches is reused', async () => {
    const url = weed.url();
    const a = new S3RunStore(url, tmp('cache-a'));
    const b = new S3RunStore(url, tmp('cache-b'));
    await writeFolder(a, 's/start/init', { 'arch.json': '{"a":1}', 'weights.bin': 'WWWW' });
    await a.publish('s/start/init');
    await b.pull('s/start/init');
    const weights = b.localPath('s/start/init/weights.bin');
    const before = fs.statSync(weights).mtimeMs;
    await b.pull('s/start/init');
    assert.equal(fs.statSync(weights).mtimeMs, before, 'a matching cached file is not downloaded again');
    fs.writeFileSync(weights, 'XXXX'); // corrupted in the cache
    fs.writeFileSync(b.localPath('s/start/init/stray.txt'), 'not published');
    await b.pull('s/start/init');
    assert.equal(fs.readFileSync(weights, 'utf8'), 'WWWW');
    assert.equal(fs.existsSync(b.localPath('s/start/init/stray.txt')), false);
  });

  test('an object whose bytes differ from its commit marker is refused, naming the key', async () => {
    const url = weed.url();
    const a = new S3RunStore(url, tmp('cache-a'));
    writeJsonAtomic(a.localPath('s/config.json'), { seed: 1 });
    await a.publish('s/config.json');
    const { bucket, prefix } = parseS3Url(url);
    const client = new S3Client({ forcePathStyle: true });
    const marker = JSON.parse(await (await client.send(new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: bucket, Key: `${prefix}/s/config.json${MARKER_SUFFIX}` }))).Body!.transformToString()) as { version: string };
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/s/config.json.eas-v-${marker.version}`, Body: '{"seed":2}' }));
    client.destroy();
    const b = new S3RunStore(url, tmp('cache-b'));
    await assert.rejects(b.pull('s/config.json'), (err: unknown) => err instanceof StoreIntegrityError && /sha256 .* differs/.test(err.message) && err.message.includes('s/config.json.eas-v-'));
    assert.equal(fs.existsSync(b.localPath('s/config.json')), false);
  });

  test('openStore: s3:// roots resolve to this host\'s cache (EAS_CACHE_DIR); directories stay directories', () => {
    const cache = tmp('cachedir');
    const saved = { cache: process.env.EAS_CACHE_DIR, root: process.env.EAS_STORAGE_ROOT };
    try {
      process.env.EAS_CACHE_DIR = cache;
      delete process.env.EAS_STORAGE_ROOT;
      const s = openStore('s3://my-bucket/some/prefix/');
      assert.equal(s.kind, 's3');
      assert.equal(s.url, 's3://my-bucket/some/prefix');
      assert.equal(s.root, path.join(cache, 'my-bucket', 'some', 'prefix'));
      assert.equal(storageRoot('s3://my-bucket/some/prefix'), s.root);
      assert.equal(openStore('runs').kind, 'local');
      assert.equal(openStore('runs').root, path.resolve('runs'));
      assert.throws(() => openStore('s3://Bad_Bucket/x'), /expected s3:\/\/<bucket>\/<prefix>/);
    } finally {
      if (saved.cache === undefined) delete process.env.EAS_CACHE_DIR;
      else process.env.EAS_CACHE_DIR = saved.cache;
      if (saved.root !== undefined) process.env.EAS_STORAGE_ROOT = saved.root;
    }
  });
});
