import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';

const REPO = path.join(__dirname, '..');
const COMPOSE_FILE = path.join(REPO, 'docker-compose.yml');
const ENV_EXAMPLE = path.join(REPO, '.env.example');

/** `docker-compose` (Debian's package; needs no engine) or the `docker compose` plugin; fails when neither exists. */
function composeCommand(): string[] {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  throw new Error('neither `docker-compose` nor `docker compose` is installed: `apt-get install docker-compose` (or install the Docker Compose plugin)');
}

/**
 * `compose … config` with an explicit env file and none of the variables in the environment (compose prefers the
 * shell's values to the file's), so what the test sees is what the file alone gives.
 */
function compose(args: string[], { file = COMPOSE_FILE, envFile = ENV_EXAMPLE }: { file?: string; envFile?: string } = {}): string {
  const [cmd, ...pre] = composeCommand();
  const env = { ...process.env };
  for (const k of ['EAS_BIND', 'POSTGRES_PASSWORD', 'EAS_S3_ACCESS_KEY_ID', 'EAS_S3_SECRET_ACCESS_KEY', 'EAS_S3_BUCKET']) delete env[k];
  return execFileSync(cmd, [...pre, '-f', file, '--env-file', envFile, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
}

/** The object store's keys, required in .env like the database password. */
const S3_KEYS = ['EAS_S3_ACCESS_KEY_ID=k', 'EAS_S3_SECRET_ACCESS_KEY=s'];

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'eas-compose-'));

function envFile(lines: string[]): string {
  const f = path.join(tmp(), 'env');
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** Published ports as host_ip:published, from either compose's long form or the short strings. */
function published(rendered: string, service: string): string[] {
  const svc = YAML.parse(rendered).services[service];
  return (svc.ports ?? []).map((p: string | { host_ip?: string; published: number | string }) => {
    if (typeof p === 'string') return p.replace(/\/tcp$/, '').split(':').slice(0, -1).join(':');
    return `${p.host_ip ?? '0.0.0.0'}:${p.published}`;
  });
}

test('docker-compose.yml is valid and has the server, the Web UI, the object store, a control worker and a GPU training worker', () => {
  compose(['config', '-q']);
  const services = compose(['config', '--services']).trim().split('\n').sort();
  assert.deepEqual(services, ['control', 'postgresql', 'seaweedfs', 'temporal', 'temporal-ui', 'train']);
  const rendered = compose(['config']);
  assert.match(rendered, /capabilities:\s*\n\s*- gpu/);
  assert.match(rendered, /EAS_BACKEND: tfjs-node-gpu/);
  assert.match(rendered, /TEMPORAL_ADDRESS: temporal:7233/);
});

test('compose publishes Temporal and the Web UI on 127.0.0.1 unless EAS_BIND opts in; nothing else is published', () => {
  const rendered = compose(['config']);
  assert.deepEqual(published(rendered, 'temporal'), ['127.0.0.1:7233']);
  assert.deepEqual(published(rendered, 'temporal-ui'), ['127.0.0.1:8080']);
  for (const s of ['postgresql', 'seaweedfs', 'control', 'train']) assert.deepEqual(published(rendered, s), [], `${s} publishes no port`);
  // Without EAS_BIND at all (an .env that only has the required secrets), still loopback.
  const minimal = compose(['config'], { envFile: envFile(['POSTGRES_PASSWORD=x', ...S3_KEYS]) });
  assert.deepEqual(published(minimal, 'temporal'), ['127.0.0.1:7233']);
  const open = compose(['config'], { envFile: envFile(['POSTGRES_PASSWORD=x', ...S3_KEYS, 'EAS_BIND=0.0.0.0']) });
  assert.deepEqual(published(open, 'temporal'), ['0.0.0.0:7233']);
  assert.deepEqual(published(open, 'temporal-ui'), ['0.0.0.0:8080']);
});

test('the PostgreSQL password comes from the env file, is required, and is not in docker-compose.yml', () => {
  const secret = `pw-${process.pid}-${Date.now()}`;
  const services = YAML.parse(compose(['config'], { envFile: envFile([`POSTGRES_PASSWORD=${secret}`, ...S3_KEYS]) })).services;
  assert.equal(services.postgresql.environment.POSTGRES_PASSWORD, secret);
  assert.equal(services.temporal.environment.POSTGRES_PWD, secret);
  const text = fs.readFileSync(COMPOSE_FILE, 'utf8');
  const values = [...text.matchAll(/^\s*POSTGRES_(?:PASSWORD|PWD):\s*(.*)$/gm)].map((m) => m[1]);
  assert.equal(values.length, 2);
  for (const v of values) assert.match(v, /^\$\{POSTGRES_PASSWORD:\?/, 'no literal password in the compose file');
  assert.throws(() => compose(['config', '-q'], { envFile: envFile(['EAS_BIND=127.0.0.1', ...S3_KEYS]) }), /set POSTGRES_PASSWORD in \.env/);
  // .env holds the real secret: git-ignored; the example is what is committed.
  assert.equal(spawnSync('git', ['check-ignore', '-q', '.env'], { cwd: REPO }).status, 0, '.env is git-ignored');
  assert.notEqual(spawnSync('git', ['check-ignore', '-q', '.env.example'], { cwd: REPO }).status, 0, '.env.example is not');
});

test('the run store is the seaweedfs bucket: workers get s3://, the endpoint and the keys from the env file, each its own cache', () => {
  const id = `id-${process.pid}`;
  const secret = `s3-${process.pid}-${Date.now()}`;
  const services = YAML.parse(
    compose(['config'], { envFile: envFile(['POSTGRES_PASSWORD=x', `EAS_S3_ACCESS_KEY_ID=${id}`, `EAS_S3_SECRET_ACCESS_KEY=${secret}`, 'EAS_S3_BUCKET=runs-bucket']) }),
  ).services;
  const weed = services.seaweedfs;
  assert.match(weed.image, /^chrislusf\/seaweedfs:\d+\.\d+$/, 'a pinned SeaweedFS image');
  assert.ok(weed.command.includes('-bucket=runs-bucket'), `the bucket is created at start: ${weed.command.join(' ')}`);
  assert.equal(weed.environment.AWS_ACCESS_KEY_ID, id);
  assert.equal(weed.environment.AWS_SECRET_ACCESS_KEY, secret);
  const caches = new Set<string>();
  for (const name of ['control', 'train']) {
    const env = services[name].environment;
    assert.equal(env.EAS_STORAGE_ROOT, 's3://runs-bucket/runs', `${name}: the run store`);
    assert.equal(env.AWS_ENDPOINT_URL, 'http://seaweedfs:8333', `${name}: the S3 endpoint`);
    assert.ok(env.AWS_REGION, `${name}: a region`);
    assert.equal(env.AWS_ACCESS_KEY_ID, id, `${name}: the same key as the store`);
    assert.equal(env.AWS_SECRET_ACCESS_KEY, secret, `${name}: the same secret as the store`);
    assert.equal(env.EAS_CACHE_DIR, '/cache');
    const volumes = services[name].volumes.map((v: string | { source: string; target: string }) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
    const cache = volumes.find((v: string) => /:\/cache(?::|$)/.test(v));
    assert.ok(cache, `${name}: a cache volume`);
    caches.add(cache.split(':')[0]);
    assert.ok(!volumes.some((v: string) => /:\/runs(?::|$)/.test(v)), `${name}: no shared run-store folder`);
    assert.ok(services[name].depends_on.seaweedfs ?? services[name].depends_on.includes?.('seaweedfs'), `${name} starts after the object store`);
  }
  assert.equal(caches.size, 2, 'the control and the training worker do not share a cache');
  // No key in the compose file itself: every AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY is an env-file variable, required.
  const text = fs.readFileSync(COMPOSE_FILE, 'utf8');
  const keys = [...text.matchAll(/^\s*(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY):\s*(.*)$/gm)];
  assert.equal(keys.length, 4, 'keys for the store and the workers (the anchor) only');
  for (const [, k, v] of keys) assert.match(v, k === 'AWS_ACCESS_KEY_ID' ? /^\$\{EAS_S3_ACCESS_KEY_ID:\?/ : /^\$\{EAS_S3_SECRET_ACCESS_KEY:\?/, `${k}: no literal key`);
  assert.throws(() => compose(['config', '-q'], { envFile: envFile(['POSTGRES_PASSWORD=x', 'EAS_S3_ACCESS_KEY_ID=k']) }), /set EAS_S3_SECRET_ACCESS_KEY in \.env/);
});

test('the validation can fail: a broken compose file is rejected', () => {
  const bad = path.join(tmp(), 'docker-compose.yml');
  fs.writeFileSync(bad, 'version: "3.8"\nservices:\n  train:\n    image: eas\n    deploy:\n      resources: 7\n');
  assert.throws(() => compose(['config', '-q'], { file: bad }));
});
