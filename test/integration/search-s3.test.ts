import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startDevServer, tempDir } from '../helpers/temporal';
import { tinySearchConfig } from '../helpers/search';
import { type WorkerProcess, spawnWorker, stopWorker, waitFor } from '../helpers/processes';
import { startSeaweed } from '../helpers/seaweed';
import { startOrAttachSearch } from '../../src/cli/search-client';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/definitions';
import { MARKER_SUFFIX, S3RunStore, parseS3Url, pullSearch } from '../../src/store/storage';
import { readSearchResult } from '../../src/store/result';

/**
 * A real search with its run store on S3 (SeaweedFS), hosts sharing no directory: the control worker and each training
 * worker have their own cache. The first training worker is SIGKILLed mid-training; a second one, with an empty cache,
 * resumes the step from the last epoch checkpoint published to the bucket. No credential reaches the workflow history
 * or the workers' logs.
 */
test('search on an s3:// run store: separate caches per worker, a killed training resumes on an empty cache from its last epoch, no secret in history or logs', async () => {
  const weed = await startSeaweed();
  const env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const saved = { ...process.env };
  const workers: WorkerProcess[] = [];
  try {
    Object.assign(process.env, weed.env, { EAS_CACHE_DIR: tempDir('s3-client-cache') });
    delete process.env.EAS_STORAGE_ROOT;
    const url = weed.url('runs');
    const name = `s3-${Date.now()}`;
    const cfg = tinySearchConfig(name, url, {
      startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(4)', epochs: 40 },
      dataset: { name: 'synthetic', validationSize: 64, synthetic: { train: 1600, test: 128, shape: [8, 8, 1], classes: 4, seed: 3 } },
      stages: [{ networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 }],
      timeouts: { epochHeartbeat: '4s', training: '1h' },
    });
    const caches = { control: tempDir('s3-control'), train1: tempDir('s3-train1'), train2: tempDir('s3-train2') };
    const workerEnv = (cache: string) => ({ ...weed.env, EAS_CACHE_DIR: cache });
    const { handle, config } = await startOrAttachSearch(env.client, cfg);
    workers.push(await spawnWorker('control', env.address, config.taskQueues.control, workerEnv(caches.control)));
    const first = await spawnWorker('train', env.address, config.taskQueues.train, workerEnv(caches.train1));
    workers.push(first);

    const observer = new S3RunStore(url, tempDir('s3-observer'));
    const startWork = `${name}/start/work`;
    let published: string[] = [];
    await waitFor(
      "the start net's first epoch checkpoint in the bucket",
      () => {
        void observer.list(startWork).then((l) => (published = l));
        return published.includes('epoch-0001');
      },
      180_000,
      250,
    );
    assert.equal(await observer.isPublished(`${name}/start/trained`), false, 'killed before the training finished');
    first.child.kill('SIGKILL');
    await first.exited;
    const lastBeforeKill = (await observer.list(startWork)).filter((n) => /^epoch-\d+$/.test(n)).sort().at(-1)!;
    workers.push(await spawnWorker('train', env.address, config.taskQueues.train, workerEnv(caches.train2)));

    const result = await handle.result();
    assert.equal(result.candidates, 2);
    assert.equal(result.policyUpdates, 1);

    // The retry ran on the second worker, whose cache started empty, from a published epoch checkpoint.
    await observer.pull(`${name}/start/attempts.jsonl`);
    const tries = fs.readFileSync(observer.localPath(`${name}/start/attempts.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { attempt: number; resumedFromEpoch: number });
    const resumed = tries.find((t) => t.attempt >= 2);
    assert.ok(resumed && resumed.resumedFromEpoch >= Number(/\d+/.exec(lastBeforeKill)![0]), `retry resumed from epoch ${resumed?.resumedFromEpoch}, last published before the kill ${lastBeforeKill}; attempts ${JSON.stringify(tries)}`);
    assert.ok(fs.existsSync(path.join(caches.train2, weed.bucket, 'runs', name, 'start', 'trained', 'model.json')), 'the second worker trained the start net');

    // The result is read back from the bucket alone (a fresh cache), as eas result/report/export do.
    const readerRoot = await pullSearch(url, name);
    const back = readSearchResult(path.join(readerRoot, name, 'result.json'));
    assert.equal(back.candidates.length, 2);
    assert.equal(back.start.name, 'start');
    assert.equal(typeof back.bestFinal?.accuracy, 'number');
    for (const c of back.candidates) assert.ok(fs.existsSync(path.join(readerRoot, c.network.dir, 'arch.json')), `${c.network.dir} pulled`);

    // The CLI readers with --runs s3://… on a host with an empty cache: eas result, and eas export --to s3://….
    const cli = (args: string[]) => {
      const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'eas.js'), ...args], {
        env: { ...process.env, EAS_CACHE_DIR: tempDir('s3-cli-cache') },
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `eas ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout + r.stderr;
    };
    assert.match(cli(['result', name, '--runs', url]), new RegExp(`search ${name}`));
    const exportUrl = weed.url('exports');
    cli(['export', name, '--runs', url, '--top', '1', '--to', exportUrl]);
    const exported = new S3Client({ forcePathStyle: true });
    const listed = await exported.send(new ListObjectsV2Command({ Bucket: weed.bucket, Prefix: `${parseS3Url(exportUrl).prefix}/` }));
    exported.destroy();
    const exportedKeys = (listed.Contents ?? []).map((o) => o.Key!.slice(parseS3Url(exportUrl).prefix.length + 1));
    assert.ok(exportedKeys.includes('export.json') && exportedKeys.some((k) => k.endsWith('/model.json')), `exported: ${exportedKeys.join(', ')}`);

    // Every finished artifact has its marker; count the uploads no marker names (the killed attempt's, at most).
    const { bucket, prefix } = parseS3Url(url);
    const client = new S3Client({ forcePathStyle: true });
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/${name}/`, ContinuationToken: token }));
      keys.push(...(r.Contents ?? []).map((o) => o.Key!));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    client.destroy();
    const markers = keys.filter((k) => k.endsWith(MARKER_SUFFIX)).length;
    assert.ok(markers > 10, `${markers} commit markers`);
    console.log(`[s3 search] ${keys.length} objects, ${markers} commit markers, resumed from epoch ${resumed.resumedFromEpoch} (last published before the kill: ${lastBeforeKill})`);

    // No secret in the workflow history, nor in any worker's output.
    // Every string and payload of the history, payload bytes decoded (they are JSON, base64 in the history's JSON form).
    const texts: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === 'string') texts.push(v);
      else if (v instanceof Uint8Array) texts.push(Buffer.from(v).toString('utf8'));
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    collect(await env.client.workflow.getHandle(handle.workflowId).fetchHistory());
    const history = texts.join('\n');
    for (const secret of [weed.env.AWS_SECRET_ACCESS_KEY, weed.env.AWS_ACCESS_KEY_ID]) {
      assert.equal(history.includes(secret), false, 'a credential is in the workflow history');
      for (const w of workers) assert.equal(w.output().includes(secret), false, 'a credential is in a worker log');
    }
    assert.ok(history.includes(url), 'the history names the store by its URL');
  } finally {
    for (const w of workers) await stopWorker(w, 'SIGKILL');
    await env.teardown();
    await weed.stop();
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});
