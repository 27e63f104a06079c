import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/** What a worker's own process loads: the training worker's parent must not pull in the controller or Net2Net code. */
test('the training worker does not load the control activities, the controller or the transforms', () => {
  const script = `require(${JSON.stringify(path.join(__dirname, '../src/workers/train.ts'))});
    console.log(JSON.stringify(Object.keys(require.cache)));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { encoding: 'utf8' })) as string[];
  const src = loaded.filter((f) => f.includes(`${path.sep}src${path.sep}`)).map((f) => f.slice(f.lastIndexOf(`${path.sep}src${path.sep}`) + 1));
  assert.ok(src.includes('src/activities/train.ts'), 'sanity: the training activities were loaded');
  const unwanted = src.filter((f) => /^src\/(activities\/control|activities\/control-tasks|controller\/(?!config\.ts)|transform\/(?!options\.ts))/.test(f));
  assert.deepEqual(unwanted, []);
});
