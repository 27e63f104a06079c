import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startOrReuseDevServer } from '../src/dev/server';

// Settles either way: listening, or the bind's error (not a wait on an event that may never come).
const listen = (server: net.Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });

test('a second eas dev whose Web UI port is taken fails at once, naming --ui-port, and starts nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-devserver-'));
  const ui = net.createServer();
  const free = net.createServer();
  try {
    const uiPort = await listen(ui); // what the first eas dev's Web UI holds
    const port = await listen(free);
    await new Promise((r) => free.close(r)); // a free frontend port
    const dbFile = path.join(dir, '.temporal', 'dev.db');
    await assert.rejects(
      startOrReuseDevServer({ dbFile, port, uiPort, log: () => undefined }),
      (e: unknown) => e instanceof Error && e.message.startsWith(`--ui-port ${uiPort}: something already listens there`) && /its own --port and --ui-port/.test(e.message),
    );
    assert.equal(fs.existsSync(path.dirname(dbFile)), false, 'no server state written');
  } finally {
    ui.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
