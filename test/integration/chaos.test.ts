import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import prand from 'pure-rand';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startDevServer, tempDir } from '../helpers/temporal';
import { policyCheckpoints, searchOutcome, tinySearchConfig } from '../helpers/search';
import { deadline, freePort, processesMatching, sleep, waitFor } from '../helpers/processes';
import { startOrAttachSearch } from '../../src/cli/search-client';
import type { SearchConfigInput } from '../../src/config/search-config';
import { type SearchResult, readSearchResult } from '../../src/store/result';
import { inStore } from '../../src/store/root';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/definitions';

/**
 * Chaos: one small search while its control worker and its training worker are SIGKILLed several times each at
 * seeded random moments and its dev server restarts twice. It must end exactly as an undisturbed run of the same
 * config: the planned candidates and policy updates, one policy file per update, no temporary file left, and the
 * same architectures and accuracies. EAS_CHAOS_SEED picks another schedule.
 */
const CHAOS_SEED = Number(process.env.EAS_CHAOS_SEED ?? 14);
const KILLS = { control: 3, train: 3, server: 2 };
const PLAN = { candidates: 4, updates: 2 };
const EAS = path.join(__dirname, '..', '..', 'bin', 'eas.js');
const t0 = Date.now();
const log = (msg: string) => process.env.EAS_TEST_VERBOSE && console.error(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);

function chaosConfig(root: string): SearchConfigInput {
  return tinySearchConfig('chaos', root, {
    dataset: { name: 'synthetic', validationSize: 64, synthetic: { train: 256, test: 64, shape: [8, 8, 1], classes: 4, seed: 3 } },
    // Two epochs where a training can be cut after its first, so a killed training resumes from an epoch checkpoint.
    startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(4)', epochs: 2 },
    stages: [{ networks: PLAN.candidates, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 2, bestEpochs: 0 }],
    final: { topK: 1, epochs: 1 },
    // The pure-JavaScript backend: one thread, the same floating-point sums in every process.
    backend: 'cpu',
    timeouts: { epochHeartbeat: '3s', training: '1h' },
    // Every kill costs an attempt: enough of them that chaos never turns into a failed candidate.
    retry: {
      control: { maximumAttempts: 50, initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '1s' },
      train: { maximumAttempts: 50, initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '1s' },
    },
    taskQueues: { control: 'chaos-control', train: 'chaos-train' },
  });
}

/** An `eas worker` in its own process group: killing the group is a crash of that worker and everything it runs. */
class Worker {
  child!: ChildProcess;
  out = '';
  constructor(
    readonly kind: 'control' | 'train',
    private readonly address: string,
    private readonly taskQueue: string,
  ) {}

  async start(): Promise<void> {
    this.out = '';
    this.child = spawn(process.execPath, [EAS, 'worker', '--queue', this.kind, '--task-queue', this.taskQueue, '--address', this.address], {
      env: { ...process.env, EAS_BACKEND: 'cpu' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    await waitFor(`the ${this.kind} worker to poll`, () => /polling/.test(this.out) || this.child.exitCode !== null, 60_000);
    assert.equal(this.child.exitCode, null, `${this.kind} worker exited:\n${this.out}`);
  }

  async kill(): Promise<void> {
    const gone = new Promise((r) => this.child.once('exit', r));
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      return;
    }
    await gone;
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...walk(p));
  }
  return out;
}

async function undisturbed(): Promise<SearchResult> {
  const env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const root = tempDir('calm');
  const workers = [new Worker('control', env.address, 'chaos-control'), new Worker('train', env.address, 'chaos-train')];
  try {
    await Promise.all(workers.map((w) => w.start()));
    const { handle } = await startOrAttachSearch(env.client, chaosConfig(root));
    const r = await handle.result();
    log(`undisturbed run finished`);
    return readSearchResult(inStore(root, r.resultFile));
  } finally {
    for (const w of workers) await w.kill();
    await env.teardown();
  }
}

test('chaos: SIGKILLed workers and restarted servers during a search change nothing in its result', { timeout: 900_000 }, async () => {
  // The reference runs alongside: the two runs share nothing but the config.
  const reference = undisturbed();
  reference.catch(() => undefined);

  const root = tempDir('chaos');
  const runDir = path.join(root, 'chaos');
  const dbFilename = path.join(root, 'temporal.db');
  const port = await freePort();
  let env: TestWorkflowEnvironment | undefined = await startDevServer({ dbFilename, port, searchAttributes: SEARCH_ATTRIBUTES });
  const address = env.address;
  const control = new Worker('control', address, 'chaos-control');
  const train = new Worker('train', address, 'chaos-train');
  const survived = { control: 0, train: 0, server: 0 };
  try {
    await Promise.all([control.start(), train.start()]);
    const { handle } = await startOrAttachSearch(env.client, chaosConfig(root));
    const done = () => fs.existsSync(path.join(runDir, 'result.json'));

    // A seeded schedule: the kinds in a shuffled order, each after the search made progress and a random pause.
    let rng = prand.xoroshiro128plus(CHAOS_SEED);
    const next = (lo: number, hi: number) => {
      const [v, r] = prand.uniformIntDistribution(lo, hi, rng);
      rng = r;
      return v;
    };
    const events = (Object.keys(KILLS) as (keyof typeof KILLS)[]).flatMap((k) => Array<keyof typeof KILLS>(KILLS[k]).fill(k));
    for (let i = events.length - 1; i > 0; i--) {
      const j = next(0, i);
      [events[i], events[j]] = [events[j], events[i]];
    }
    const schedule: string[] = [];
    for (const kind of events) {
      // Progress since the last blow (a new file in the run store), so that each one hits a different step.
      const before = walk(runDir).length;
      await waitFor('progress of the search', () => done() || walk(runDir).length > before, 180_000, 50);
      const pause = next(100, 2500);
      await sleep(pause);
      if (done()) break;
      const t = Date.now();
      if (kind === 'server') {
        await env!.teardown();
        env = undefined;
        env = await startDevServer({ dbFilename, port, searchAttributes: SEARCH_ATTRIBUTES });
      } else {
        const w = kind === 'control' ? control : train;
        await w.kill();
        await w.start();
      }
      survived[kind]++;
      log(`${kind} blow ${survived[kind]} done`);
      schedule.push(`${kind} after ${pause} ms (${walk(runDir).length} files, ${Date.now() - t} ms to come back)`);
    }

    const summary = await Promise.race([
      env!.client.workflow.getHandle(handle.workflowId).result(),
      deadline(300_000).then(() => assert.fail(`the search did not finish; control worker:\n${control.out.slice(-3000)}\ntrain worker:\n${train.out.slice(-3000)}`)),
    ]);
    const result = readSearchResult(inStore(root, summary.resultFile));
    const calm = await reference;
    const tmp = walk(root).filter((p) => p.includes('.tmp-'));
    console.log(
      `chaos (seed ${CHAOS_SEED}): survived ${survived.control} control-worker kills, ${survived.train} training-worker kills, ${survived.server} server restarts; ` +
        `candidates ${result.candidates.length}/${PLAN.candidates}, policy updates ${result.policyUpdates}/${PLAN.updates}, ` +
        `policy files ${policyCheckpoints(runDir).length}, temporary files ${tmp.length}\n  ${schedule.join('\n  ')}`,
    );
    assert.deepEqual(survived, KILLS, `every planned blow landed before the search ended: ${schedule.join('; ')}`);
    assert.equal(result.candidates.length, PLAN.candidates);
    assert.equal(new Set(result.candidates.map((c) => c.name)).size, PLAN.candidates);
    assert.equal(result.policyUpdates, PLAN.updates);
    assert.equal(policyCheckpoints(runDir).length, PLAN.updates);
    assert.deepEqual(tmp, [], 'no temporary file left in the run store');
    assert.ok(result.candidates.every((c) => c.failed === null), 'no candidate failed');
    assert.equal(typeof result.reference?.network?.accuracy, 'number', 'the reference trained too');
    assert.equal(result.gains?.length, 1);
    assert.deepEqual(searchOutcome(result), searchOutcome(calm), 'the same result as the undisturbed run with the same seed');
    // Nothing of the killed workers lives on (their trainers and control children went with them).
    assert.deepEqual(processesMatching(runDir), []);
  } finally {
    await control.kill();
    await train.kill();
    await env?.teardown();
    await reference.catch(() => undefined);
  }
});
