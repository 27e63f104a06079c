import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const COMPOSE_FILE = path.join(__dirname, '..', 'docker-compose.yml');

/** `docker-compose` (Debian's package; needs no engine) or the `docker compose` plugin; fails when neither exists. */
function composeCommand(): string[] {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  throw new Error('neither `docker-compose` nor `docker compose` is installed: `apt-get install docker-compose` (or install the Docker Compose plugin)');
}

function compose(args: string[], file = COMPOSE_FILE): string {
  const [cmd, ...pre] = composeCommand();
  return execFileSync(cmd, [...pre, '-f', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('docker-compose.yml is valid and has the server, the Web UI, a control worker and a GPU training worker', () => {
  compose(['config', '-q']);
  const services = compose(['config', '--services']).trim().split('\n').sort();
  assert.deepEqual(services, ['control', 'postgresql', 'temporal', 'temporal-ui', 'train']);
  const rendered = compose(['config']);
  assert.match(rendered, /capabilities:\s*\n\s*- gpu/);
  assert.match(rendered, /EAS_BACKEND: tfjs-node-gpu/);
  assert.match(rendered, /TEMPORAL_ADDRESS: temporal:7233/);
});

test('the validation can fail: a broken compose file is rejected', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-compose-'));
  const bad = path.join(dir, 'docker-compose.yml');
  fs.writeFileSync(bad, 'version: "3.8"\nservices:\n  train:\n    image: eas\n    deploy:\n      resources: 7\n');
  assert.throws(() => compose(['config', '-q'], bad));
});
