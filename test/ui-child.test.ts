import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDashboardProcess } from '../src/ui/child';

/**
 * `eas dev`'s dashboard runs as `eas ui` in a child process (its run-store reads stay off the process that serves the
 * workflows): it lists the run store's searches, stops when asked, and a port already taken is an error naming why.
 */
test("eas dev's dashboard process: serves the run store, closes, and a taken port is reported", { timeout: 180_000 }, async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-ui-child-'));
  fs.cpSync(path.join(__dirname, 'fixtures', 'legacy-runs', 'legacy-plain'), path.join(root, 'legacy-plain'), { recursive: true });
  const lines: string[] = [];
  const ui = await startDashboardProcess({ root, port: 0, log: (l) => lines.push(l), startMs: 60_000 });
  try {
    const res = await fetch(`${ui.url}/api/searches`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /legacy-plain/);
  } finally {
    await ui.close();
  }
  await assert.rejects(fetch(`${ui.url}/api/searches`, { signal: AbortSignal.timeout(10_000) }), 'closed: nothing listens any more');

  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  try {
    await assert.rejects(startDashboardProcess({ root, port: taken, log: () => {}, startMs: 60_000 }), /eas ui exited/);
  } finally {
    blocker.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
