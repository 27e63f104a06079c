import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type HostProcess, TestNetwork } from '../helpers/netns';
import { searchOutcome, tinySearchConfig } from '../helpers/search';
import { writeFashionMnistDir } from '../helpers/datasets';
import { sleep } from '../helpers/processes';
import { type SeaweedServer, startSeaweed } from '../helpers/seaweed';
import { findTemporalCli } from '../../src/temporal/cli-path';
import { DEV_SERVER_ARGS } from '../../src/dev/server';
import { startOrAttachSearch } from '../../src/cli/search-client';
import type { SearchConfigInput } from '../../src/config/search-config';
import { makeSynthetic } from '../../src/data/synthetic';
import { jobPaths, RunLayout } from '../../src/store/layout';
import { epochDirName } from '../../src/train/checkpoint';
import { type SearchResult, readSearchResult } from '../../src/store/result';
import { S3RunStore, MARKER_SUFFIX, s3Client } from '../../src/store/storage';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/definitions';

/**
 * Several hosts with no shared filesystem: Linux network namespaces on one bridge. "server" runs the Temporal dev
 * server and the S3 server (SeaweedFS `weed mini`); "control" the control worker; "traina" and "trainb" a training
 * worker each. Every host has its own /tmp (its data, its cache of the run store, its working directory); the run
 * store is s3://… on the server host, the only thing the hosts share.
 *
 * Three runs of the same small search (under three names), one after the other on the same workers, whose caches start
 * empty: an undisturbed one; one where the host training the start network has its link cut for longer than the
 * heartbeat timeout, then restored; one where every process of the host training it is SIGKILLed (the worker and its
 * trainer: a host crash). Each disturbed run must go to the end with the planned candidates and policy
 * updates, resume the cut-off training on the other host from its last epoch checkpoint, leave no object readable as
 * finished that is not (every commit marker's files present with their recorded sha256), and give exactly the
 * undisturbed run's networks and accuracies (same seed, one engine thread: same numbers).
 */

// Network namespaces need root and iproute2 (CI runs as root and installs it): without them the test fails, naming
// what is missing (TestNetwork.create), rather than being skipped.
const PLAN = { candidates: 4, updates: 2 };
const START_EPOCHS = 30;
const HEARTBEAT_S = 4;
const BUCKET = 'eas-multihost';
const ROOT = `s3://${BUCKET}/runs`;
const TEMPORAL_PORT = 7233;
/** The three runs take turns on the same workers (a worker costs a minute to start on a loaded machine). */
const QUEUES = { control: 'mh-control', train: 'mh-train' };
const EAS = path.join(__dirname, '..', '..', 'bin', 'eas.js');
const t0 = Date.now();
const log = (msg: string) => process.env.EAS_TEST_VERBOSE && console.error(`[multihost ${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);

function mhConfig(name: string): SearchConfigInput {
  return tinySearchConfig(name, ROOT, {
    // Read from each host's own data folder (EAS_DATA_DIR), written there separately: the same bytes on every host.
    dataset: { name: 'fashion-mnist', validationSize: 128 },
    // Long enough that the start network is still training after its first epoch checkpoint.
    startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(14,14,AVG), FC(64), SM(10)', epochs: START_EPOCHS },
    stages: [{ networks: PLAN.candidates, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 2, bestEpochs: 0 }],
    final: { topK: 1, epochs: 1 },
    backend: 'auto',
    timeouts: { epochHeartbeat: `${HEARTBEAT_S}s`, training: '1h' },
    retry: {
      control: { maximumAttempts: 20, initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '1s' },
      train: { maximumAttempts: 20, initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '1s' },
    },
    taskQueues: QUEUES,
  });
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => (sock.destroy(), resolve(ok));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.setTimeout(1000, () => done(false));
  });
}

async function waitListening(what: string, host: string, port: number, proc: HostProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await listening(host, port))) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited with ${proc.child.exitCode}:\n${proc.output().slice(-3000)}`);
    if (Date.now() > end) throw new Error(`${what} did not listen on ${host}:${port} within ${timeoutMs / 1000} s:\n${proc.output().slice(-3000)}`);
    await sleep(200);
  }
}

/** Polls `probe` (sync or async) until it gives a truthy value; fails after `timeoutMs`. */
async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

const SA_TYPE: Record<string, string> = { KEYWORD: 'Keyword', INT: 'Int', DOUBLE: 'Double' };

interface Cluster {
  net: TestNetwork;
  serverIp: string;
  client: Client;
  connection: Connection;
  s3: S3Client;
  weed: SeaweedServer;
  /** The operator's view of the store (the test process, on the bridge), with its own cache. */
  store: S3RunStore;
}

let cluster: Cluster | undefined;

before(async () => {
  const tn = await TestNetwork.create(['server', 'control', 'traina', 'trainb']);
  const c = { net: tn, serverIp: tn.host('server').ip } as Cluster;
  cluster = c;
  const ip = c.serverIp;
  // All of the namespace's addresses: with --ip <its address> the dev server's own services dial each other on
  // 127.0.0.1 and find nothing there. The namespace has no other interface than its link and loopback.
  const args = ['server', 'start-dev', '--ip', '0.0.0.0', '--port', String(TEMPORAL_PORT), '--headless', '--log-level', 'warn', '--db-filename', '/tmp/temporal.db'];
  for (const k of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${k.name}=${SA_TYPE[k.type]}`);
  const temporal = tn.spawn('server', findTemporalCli(), [...args, ...DEV_SERVER_ARGS]);
  // SeaweedFS all-in-one (master, volume, filer, S3) on the server host, its data in that host's folder. Its keys
  // (random, per run) reach the workers through their environment only: never a config, a workflow input or a log.
  const weedDir = path.join(tn.host('server').dir, 'weed');
  fs.mkdirSync(weedDir);
  const [, weed] = await Promise.all([
    waitListening('temporal server start-dev', ip, TEMPORAL_PORT, temporal, 60_000),
    // TMPDIR: weed's log files and unix sockets go to the temporary folder; keep them in the host's folder too.
    startSeaweed({ bindIp: ip, bucket: BUCKET, dir: weedDir, wrap: ['ip', 'netns', 'exec', tn.host('server').ns], env: { TMPDIR: weedDir } }),
  ]);
  c.weed = weed;
  // The test process is the operator's machine: it lists the bucket and reads results with the same settings.
  Object.assign(process.env, weed.env);
  c.s3 = s3Client();
  c.store = new S3RunStore(ROOT, path.join(tn.baseDir, 'operator-cache'), c.s3);
  c.connection = await Connection.connect({ address: `${ip}:${TEMPORAL_PORT}` });
  c.client = new Client({ connection: c.connection });
  // The port opens before the server serves: wait until the default namespace answers.
  await waitFor('the Temporal server\'s default namespace', () => c.connection.workflowService.describeNamespace({ namespace: 'default' }).then(() => true, () => false), 60_000, 500);
  // The dataset on every host that reads it, each its own copy (the control host computes the data probe).
  // Noisy enough that accuracies differ between networks, so that "the same accuracies" says something.
  const train = makeSynthetic({ count: 640, shape: [28, 28, 1], classes: 10, seed: 3, noise: 220, stream: 'train' });
  const testSet = makeSynthetic({ count: 128, shape: [28, 28, 1], classes: 10, seed: 3, noise: 220, stream: 'test' });
  for (const h of ['control', 'traina', 'trainb']) writeFashionMnistDir(path.join(tn.host(h).dir, 'data', 'fashion-mnist'), train, testSet);
  // eas as installed on each host: a copy of tsx's compiled-module cache (keyed by the sources' content), so that a
  // worker does not spend a minute compiling the sources on a loaded machine. A copy each, shared by none.
  const tsxCache = path.join(os.tmpdir(), `tsx-${process.getuid?.() ?? 0}`);
  for (const h of ['control', 'traina', 'trainb']) {
    if (fs.existsSync(tsxCache)) fs.cpSync(tsxCache, path.join(tn.host(h).dir, path.basename(tsxCache)), { recursive: true, filter: (f) => !f.endsWith('.pipe') });
  }
  log(`cluster up: server ${ip}, hosts ${tn.hosts.map((h) => `${h.name}=${h.ip}`).join(' ')}`);
});

after(async () => {
  if (!cluster) return;
  await cluster.connection?.close().catch(() => undefined);
  await cluster.weed?.stop();
  // Kills every process on every host (workers, trainers, servers), then removes namespaces, links and folders.
  await cluster.net.destroy();
});

interface Workers {
  control: HostProcess;
  train: Record<string, HostProcess>;
}

/**
 * The workers, each on its host with an empty cache folder of its own (EAS_CACHE_DIR; a search's files land under its
 * own name there) and the store's settings from the environment, as the README tells an operator to set them.
 */
async function startWorkers(c: Cluster): Promise<Workers> {
  const env = {
    ...c.weed.env,
    TEMPORAL_ADDRESS: `${c.serverIp}:${TEMPORAL_PORT}`,
    EAS_STORAGE_ROOT: ROOT,
    EAS_CACHE_DIR: '/tmp/cache',
    EAS_DATA_DIR: '/tmp/data',
    // One engine thread everywhere: the same sums in the same order on every host, so the same numbers.
    EAS_THREADS: '1',
    EAS_CONTROL_THREADS: '1',
  };
  const start = (host: string, kind: 'control' | 'train') =>
    c.net.spawn(host, process.execPath, [EAS, 'worker', '--queue', kind, '--task-queue', QUEUES[kind], '--address', env.TEMPORAL_ADDRESS], { env });
  const w: Workers = { control: start('control', 'control'), train: { traina: start('traina', 'train'), trainb: start('trainb', 'train') } };
  const all = [w.control, ...Object.values(w.train)];
  const started = Date.now();
  for (const h of ['control', 'traina', 'trainb']) assert.equal(fs.existsSync(path.join(c.net.host(h).dir, 'cache')), false, `${h}: the cache starts empty`);
  for (const p of all) {
    await waitFor(`the worker on ${p.host} to poll`, () => /polling/.test(p.output()) || p.child.exitCode !== null, 120_000);
    assert.equal(p.child.exitCode, null, `the worker on ${p.host} exited:\n${p.output().slice(-3000)}`);
  }
  log(`workers polling after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return w;
}

/** `promise`, or a failure naming what did not happen (and `detail()`) after `ms`. */
async function within<T>(ms: number, promise: Promise<T>, what: string, detail: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s\n${detail()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface TrainingDone {
  name: string;
  /** Pid of the worker that completed it (its identity is pid@hostname; the hosts share a hostname, not pids). */
  pid: number;
  attempt: number;
  resumedFromEpoch: number;
}

/** Every completed trainNetwork activity in the search's history, with who completed it and where it resumed. */
async function trainingsDone(c: Cluster, workflowId: string): Promise<{ trainings: TrainingDone[]; historyJson: string }> {
  const history = await c.client.workflow.getHandle(workflowId).fetchHistory();
  const decode = (p: { data?: Uint8Array | null } | undefined) => (p?.data ? JSON.parse(Buffer.from(p.data).toString('utf8')) : undefined);
  const scheduled = new Map<string, string>();
  const started = new Map<string, number>();
  const trainings: TrainingDone[] = [];
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s && s.activityType?.name === 'trainNetwork') scheduled.set(String(e.eventId), decode(s.input?.payloads?.[0])?.name);
    const st = e.activityTaskStartedEventAttributes;
    if (st) started.set(String(e.eventId), st.attempt ?? 0);
    const done = e.activityTaskCompletedEventAttributes;
    if (done && scheduled.has(String(done.scheduledEventId))) {
      const out = decode(done.result?.payloads?.[0]);
      trainings.push({
        name: scheduled.get(String(done.scheduledEventId))!,
        pid: Number(/^(\d+)@/.exec(done.identity ?? '')?.[1]),
        attempt: started.get(String(done.startedEventId)) ?? 0,
        resumedFromEpoch: out.resumedFromEpoch,
      });
    }
  }
  return { trainings, historyJson: JSON.stringify(history) };
}

/**
 * Every object under the store's prefix, checked against the commit protocol: a commit marker's files must all exist
 * with their recorded size and sha256 (what a reader would take as finished is whole), and every upload no marker
 * names is unpublished (never read). Anything else in the bucket is reported as stray.
 */
async function auditBucket(c: Cluster): Promise<{ markers: number; files: number; broken: string[]; unpublished: string[]; stray: string[] }> {
  const keys = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await c.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/', ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.set(o.Key!, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const named = new Set<string>();
  const broken: string[] = [];
  let markers = 0;
  for (const key of [...keys.keys()].filter((k) => k.endsWith(MARKER_SUFFIX))) {
    markers++;
    named.add(key);
    const artifact = key.slice(0, -MARKER_SUFFIX.length);
    const marker = JSON.parse(await (await c.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString());
    for (const f of marker.files as { path: string; size: number; sha256: string }[]) {
      const dataKey = marker.kind === 'file' ? `${artifact}.eas-v-${marker.version}` : `${artifact}.eas-v-${marker.version}/${f.path}`;
      named.add(dataKey);
      if (keys.get(dataKey) !== f.size) {
        broken.push(`${dataKey}: ${keys.has(dataKey) ? `size ${keys.get(dataKey)}, marker says ${f.size}` : 'missing'}`);
        continue;
      }
      const body = await (await c.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: dataKey }))).Body!.transformToByteArray();
      if (createHash('sha256').update(body).digest('hex') !== f.sha256) broken.push(`${dataKey}: sha256 differs from the marker's`);
    }
  }
  const rest = [...keys.keys()].filter((k) => !named.has(k));
  const unpublished = rest.filter((k) => k.includes('.eas-v-'));
  const stray = rest.filter((k) => !k.includes('.eas-v-'));
  return { markers, files: named.size - markers, broken, unpublished, stray };
}

interface RunReport {
  name: string;
  result: SearchResult;
  summary: { candidates: number; policyUpdates: number; resultFile: string };
  trainings: TrainingDone[];
  workers: Workers;
  disturbed?: {
    victim: string;
    other: string;
    killed?: number;
    cutSeconds?: number;
    /** The newest epoch checkpoint of the start network published when its host went down. */
    lastPublished: number;
    resumedFromEpoch: number;
  };
}

/** A run of the search; `disturb` acts once the start network has published its first epoch checkpoint. */
async function run(c: Cluster, workers: Workers, name: string, disturb?: 'kill' | 'cut'): Promise<RunReport> {
  const logs = () => [workers.control, ...Object.values(workers.train)].map((p) => `--- ${p.host}\n${p.output().slice(-3000)}`).join('\n');
  const { handle } = await startOrAttachSearch(c.client, mhConfig(name));
  let disturbed: RunReport['disturbed'];
  if (disturb) {
    const work = jobPaths(new RunLayout(name).start()).work;
    const firstEpoch = `${work}/${epochDirName(1)}`;
    // Once the host is down nothing else publishes this job's checkpoints until the retry, which must take the newest.
    const newestPublished = async () => Math.max(0, ...(await c.store.list(work)).map((n) => Number(/^epoch-(\d+)$/.exec(n)?.[1] ?? 0)));
    const trained = jobPaths(new RunLayout(name).start()).trained;
    await waitFor('the start network\'s first epoch checkpoint in the store', async () => c.store.isPublished(firstEpoch), 180_000, 100);
    // The host training it: the worker that took the activity (its identity is pid@hostname; the hosts share the
    // hostname, not the pids).
    const victim = await waitFor('the host training the start network', async () => {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const pid = Number(/^(\d+)@/.exec(pending.find((a) => a.activityType?.name === 'trainNetwork')?.lastWorkerIdentity ?? '')?.[1]);
      return Object.keys(workers.train).find((h) => workers.train[h].child.pid === pid);
    }, 10_000, 50);
    const other = victim === 'traina' ? 'trainb' : 'traina';
    assert.equal(await c.store.isPublished(trained), false, 'disturbed while the start network was still training');
    // What the other host logs from now on (its log has the earlier runs too).
    const mark = workers.train[other].output().length;
    const resumed = () => /start: attempt \d+, resuming after epoch (\d+)/.exec(workers.train[other].output().slice(mark)) ?? undefined;
    if (disturb === 'kill') {
      const killed = await c.net.killHost(victim);
      const lastPublished = await newestPublished();
      log(`${name}: killed ${killed} processes on ${victim} (epoch ${lastPublished} published)`);
      const m = await waitFor(`the start network's training to resume on ${other}`, resumed, 120_000);
      disturbed = { victim, other, killed, lastPublished, resumedFromEpoch: Number(m[1]) };
    } else {
      const cutAt = Date.now();
      c.net.cut(victim);
      const lastPublished = await newestPublished();
      log(`${name}: cut ${victim}'s link (epoch ${lastPublished} published)`);
      // The link stays down until the retry runs elsewhere, and at least twice the heartbeat timeout: the timeout
      // counts from the last heartbeat that got through, which may be well before the cut.
      const m = await waitFor(`the start network's training to resume on ${other}`, resumed, 120_000);
      await sleep(Math.max(0, 2 * HEARTBEAT_S * 1000 - (Date.now() - cutAt)));
      c.net.restore(victim);
      const cutSeconds = (Date.now() - cutAt) / 1000;
      log(`${name}: restored ${victim}'s link after ${cutSeconds.toFixed(1)} s`);
      disturbed = { victim, other, cutSeconds, lastPublished, resumedFromEpoch: Number(m[1]) };
    }
  }
  const summary = await within(240_000, handle.result(), `${name}: the search did not finish`, logs);
  const { trainings, historyJson } = await trainingsDone(c, handle.workflowId);
  const secret = c.weed.env.AWS_SECRET_ACCESS_KEY;
  assert.ok(!historyJson.includes(secret), `${name}: the S3 secret is not in the workflow history`);
  for (const p of [workers.control, ...Object.values(workers.train)]) assert.ok(!p.output().includes(secret), `${name}: the S3 secret is not in ${p.host}'s log`);
  assert.ok(await c.store.pull(summary.resultFile), `${name}: the result ${summary.resultFile} is published`);
  const result = readSearchResult(c.store.localPath(summary.resultFile));
  log(`${name}: done (${trainings.length} trainings)`);
  return { name, result, summary, trainings, workers, disturbed };
}

/** The plan, whatever happened on the way: every candidate once, none failed, one policy update per episode, the reference trained. */
function checkPlan(r: RunReport): void {
  assert.equal(r.summary.candidates, PLAN.candidates, `${r.name}: candidates`);
  assert.equal(r.summary.policyUpdates, PLAN.updates, `${r.name}: policy updates`);
  assert.equal(new Set(r.result.candidates.map((x) => x.name)).size, PLAN.candidates, `${r.name}: every candidate once`);
  assert.ok(r.result.candidates.every((x) => x.failed === null), `${r.name}: no candidate failed`);
  assert.equal(typeof r.result.reference?.network?.accuracy, 'number', `${r.name}: the reference trained (searchOutcome compares it)`);
}

/** The disturbed training went on from its last published epoch checkpoint on the other host, and the result is the same. */
function checkResumed(r: RunReport, calm: RunReport): void {
  const d = r.disturbed!;
  const start = r.trainings.find((t) => t.name === 'start');
  assert.ok(start, 'the start network\'s training completed');
  assert.equal(start.pid, r.workers.train[d.other].child.pid, `the start network's training finished on ${d.other}, the host still up`);
  assert.ok(start.attempt >= 2, `a retry finished it (attempt ${start.attempt})`);
  assert.ok(start.resumedFromEpoch >= 1 && start.resumedFromEpoch < START_EPOCHS, `it resumed from an epoch checkpoint (epoch ${start.resumedFromEpoch})`);
  assert.equal(start.resumedFromEpoch, d.lastPublished, 'from the last one published before its host went down: only the epoch in flight was lost');
  assert.equal(d.resumedFromEpoch, start.resumedFromEpoch, 'the training log and the activity result agree');
  assert.deepEqual(searchOutcome(r.result), searchOutcome(calm.result), 'the same networks, accuracies, reference and gains as the undisturbed run');
}

// The runs take turns on one set of workers, in this order; each test needs the ones before it.
const runs: { workers?: Workers; calm?: RunReport; cut?: RunReport; kill?: RunReport } = {};
const opts = { timeout: 300_000 };

test('multihost: an undisturbed search on four hosts sharing no folder follows the plan', opts, async () => {
  const c = cluster!;
  runs.workers = await startWorkers(c);
  runs.calm = await run(c, runs.workers, 'mh-calm');
  checkPlan(runs.calm);
});

test('multihost: a training host cut off for longer than the heartbeat timeout: resumed elsewhere, same result, the host comes back', opts, async () => {
  assert.ok(runs.calm, 'the undisturbed run finished');
  const r = (runs.cut = await run(cluster!, runs.workers!, 'mh-cut', 'cut'));
  const d = r.disturbed!;
  checkPlan(r);
  assert.ok(d.cutSeconds! > HEARTBEAT_S, `the link was down longer than the heartbeat timeout (${d.cutSeconds} s)`);
  checkResumed(r, runs.calm);
  assert.equal(r.workers.train[d.victim].child.exitCode, null, `the worker on ${d.victim} lived through its link cut`);
});

test('multihost: every process of a training host SIGKILLed mid-training: resumed elsewhere, same result', opts, async () => {
  assert.ok(runs.calm, 'the undisturbed run finished');
  // Last: it leaves one training host.
  const r = (runs.kill = await run(cluster!, runs.workers!, 'mh-kill', 'kill'));
  checkPlan(r);
  assert.ok(r.disturbed!.killed! >= 2, `the worker and its trainer were killed (${r.disturbed!.killed} processes)`);
  checkResumed(r, runs.calm);
});

test('multihost: nothing in the bucket is readable as finished unless whole; the figures', opts, async () => {
  const c = cluster!;
  const audit = await auditBucket(c);
  assert.ok(audit.markers > 0, 'the runs published through the commit protocol');
  assert.deepEqual(audit.broken, [], 'every object a commit marker names is there, whole');
  assert.deepEqual(audit.stray, [], 'nothing in the bucket outside the commit protocol');
  const { calm, cut, kill } = runs;
  assert.ok(calm && cut && kill, 'all three runs finished');
  const dc = cut.disturbed!;
  const dk = kill.disturbed!;
  // The cut host was training the start network when cut, so what it completed in that run it did after the link came back.
  const afterCut = cut.trainings.filter((t) => t.pid === cut.workers.train[dc.victim].child.pid).length;
  const acc = (x: number | null) => (x === null ? '–' : x.toFixed(4));
  const equal = [cut, kill].every((r) => isDeepStrictEqual(searchOutcome(r.result), searchOutcome(calm.result)));
  console.log(
    `multihost: ${c.net.hosts.length} hosts (Temporal + S3 server, control worker, 2 training workers), no folder shared by two hosts | ` +
      `survived 1 host kill (${dk.killed} processes SIGKILLed on ${dk.victim}) and 1 link cut (${dc.cutSeconds!.toFixed(1)} s > ${HEARTBEAT_S} s heartbeat timeout; ` +
      `the cut host then trained ${afterCut} more networks of that run) | the start network resumed on the other host from epoch ${dc.resumedFromEpoch} (cut) and ${dk.resumedFromEpoch} (kill) of ${START_EPOCHS}, ` +
      `the last published each time | candidates ${[calm, cut, kill].map((r) => r.summary.candidates).join('/')} and policy updates ${[calm, cut, kill].map((r) => r.summary.policyUpdates).join('/')} ` +
      `(calm/cut/kill; plan ${PLAN.candidates} and ${PLAN.updates}) | objects readable as finished but unpublished or broken: ${audit.broken.length} ` +
      `(${audit.markers} commit markers, ${audit.files} files checked by sha256; ${audit.unpublished.length} unfinished uploads, no marker, never read) | ` +
      `result equal to the undisturbed run: ${equal ? 'yes' : 'NO'} (${calm.trainings.length} trainings; accuracies start ${acc(calm.result.start.accuracy)}, ` +
      `candidates ${calm.result.candidates.map((x) => acc(x.network.accuracy)).join(' ')}, final ${calm.result.final.map((f) => acc(f.network.accuracy)).join(' ')})`,
  );
  assert.ok(equal, 'both disturbed runs gave the undisturbed result');
});
