import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ChildAbortedError, ChildCrashedError, ChildPool, ChildTaskError } from '../src/activities/child-pool';
import { classifyError } from '../src/activities/errors';

const script = path.join(__dirname, 'fixtures', 'pool-child.ts');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('ChildPool: CPU tasks off the caller\'s event loop', () => {
  const pools: ChildPool[] = [];
  const pool = (size = 1, maxTasksPerChild?: number) => {
    const p = new ChildPool({ script, size, maxTasksPerChild });
    pools.push(p);
    return p;
  };
  after(async () => {
    for (const p of pools) await p.close();
  });

  test('runs tasks in another process, reusing the child; results and errors cross validated', async () => {
    const p = pool();
    const a = (await p.run('pid', null)) as { pid: number; served: number };
    const b = (await p.run('pid', null)) as { pid: number; served: number };
    assert.notEqual(a.pid, process.pid);
    assert.equal(b.pid, a.pid);
    assert.equal(b.served, 2);
    assert.deepEqual(await p.run('echo', { x: [1, 2] }), { x: [1, 2] });
    await assert.rejects(p.run('fail', null), (err: unknown) => {
      assert.ok(err instanceof ChildTaskError);
      assert.equal(err.name, 'CheckpointError');
      assert.equal(err.file, '/nonexistent/ckpt');
      assert.equal(classifyError(err).type, 'CheckpointMissing');
      return true;
    });
    await assert.rejects(p.run('nope', null), /unknown task "nope"/);
  });

  test('tasks run concurrently up to the pool size, each in its own child', async () => {
    const p = pool(2);
    const [a, b] = (await Promise.all([p.run('pid', null), p.run('pid', null)])) as { pid: number }[];
    assert.notEqual(a.pid, b.pid);
    assert.equal(p.pids().length, 2);
  });

  test('start() spawns every child before any task; they serve the tasks and do not keep the parent alive', async () => {
    const p = pool(2);
    assert.equal(p.pids().length, 0, 'children start lazily by default');
    p.start();
    const started = p.pids();
    assert.equal(started.length, 2);
    p.start();
    assert.deepEqual(p.pids(), started, 'start() again keeps the running children');
    const [a, b] = (await Promise.all([p.run('pid', null), p.run('pid', null)])) as { pid: number; served: number }[];
    assert.deepEqual([a.pid, b.pid].sort(), [...started].sort());
    assert.equal(a.served + b.served, 2);
  });

  test('an abort kills the child at once; the next task gets a fresh child', async () => {
    const p = pool();
    const { pid } = (await p.run('pid', null)) as { pid: number };
    const ac = new AbortController();
    const hung = p.run('hang', null, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(hung, (err: unknown) => err instanceof ChildAbortedError);
    await waitFor(() => !alive(pid));
    const next = (await p.run('pid', null)) as { pid: number; served: number };
    assert.notEqual(next.pid, pid);
    assert.equal(next.served, 1);
  });

  test('a child that dies mid-task fails that task as a retryable crash; one that breaks the protocol is killed', async () => {
    const p = pool();
    await assert.rejects(p.run('crash', null), (err: unknown) => err instanceof ChildCrashedError && err.exitCode === 9 && classifyError(err).nonRetryable === false);
    const { pid } = (await p.run('pid', null)) as { pid: number };
    await assert.rejects(p.run('garbage', null), (err: unknown) => err instanceof ChildCrashedError && /invalid message/.test(err.message));
    await waitFor(() => !alive(pid));
  });

  test('a child is replaced after maxTasksPerChild tasks; close() leaves no child behind', async () => {
    const p = pool(1, 2);
    const a = (await p.run('pid', null)) as { pid: number };
    await p.run('pid', null);
    const c = (await p.run('pid', null)) as { pid: number };
    assert.notEqual(c.pid, a.pid);
    await waitFor(() => !alive(a.pid));
    await p.close();
    await waitFor(() => !alive(c.pid));
    await assert.rejects(p.run('pid', null), /closed/);
  });
});
