import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startDevServer, tempDir } from '../helpers/temporal';
import { tinySearchConfig } from '../helpers/search';
import { type WorkerProcess, spawnWorker as spawnSharedWorker, stopWorker, waitFor } from '../helpers/processes';
import type { ExperimentConfigInput } from '../../src/experiment/config';
import { compareExperiment } from '../../src/experiment/compare';
import { loadExperiment } from '../../src/experiment/results';
import { writeExperimentReport } from '../../src/report/compare-experiment';
import { ExperimentLayout } from '../../src/store/layout';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/definitions';
import { EXPERIMENT_WORKFLOW_TYPE, type experimentWorkflow } from '../../src/workflows/experiment';

/**
 * Issue 21: a tiny experiment — arms rl, random and the reference × 2 seeds, synthetic data — on the real dev server
 * with real workers. The training worker is SIGKILLed once mid-way (after the first child ended) and restarted; every
 * child still ends with a result, and the comparison has every arm and pair. A second, undisturbed experiment over the
 * same seeds gives the same numbers.
 */

const QUEUE = `exp-${process.pid}`;

/** Workers start within 180 s here: on a shared 2-core machine bundling the workflows alone has taken 35 s. */
const WORKER_START_MS = 180_000;
const spawnWorker = (kind: 'control' | 'train', address: string, taskQueue: string, env: NodeJS.ProcessEnv = {}) => spawnSharedWorker(kind, address, taskQueue, env, WORKER_START_MS);

function experimentConfig(name: string, root: string): ExperimentConfigInput {
  const search = tinySearchConfig('base', root, {
    stages: [{ networks: 2, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 }],
    final: { topK: 1, epochs: 1 },
    // A lost training worker is noticed within seconds.
    timeouts: { epochHeartbeat: '4s', training: '1h' },
    taskQueues: { control: `${QUEUE}-control`, train: `${QUEUE}-train` },
  });
  const { name: _n, seed: _s, storage: _st, ...base } = search;
  return {
    name,
    search: base as Record<string, unknown>,
    arms: [
      { name: 'rl', kind: 'search', overrides: { controller: { kind: 'rl' } } },
      { name: 'random', kind: 'search', overrides: { controller: { kind: 'random' } } },
      { name: 'reference', kind: 'reference' },
    ],
    seeds: [3, 4],
    concurrency: 2,
    storage: { root },
  };
}

/** The numbers that must repeat: per arm and seed, final test, best validation, params, running best, start accuracy. */
function numbers(root: string, id: string) {
  const view = loadExperiment(root, id);
  return view.children.map((c) => ({ arm: c.arm, seed: c.seed, m: c.metrics && { ...c.metrics, wallSeconds: undefined } }));
}

test('experiment: 3 arms × 2 seeds as child workflows survive a SIGKILLed training worker; compare; same seeds ⇒ same numbers', { timeout: 12 * 60_000 }, async () => {
  const env = await startDevServer({ searchAttributes: SEARCH_ATTRIBUTES });
  const root = tempDir('experiment');
  const workers: WorkerProcess[] = [];
  try {
    const control = `${QUEUE}-control`;
    const train = `${QUEUE}-train`;
    workers.push(await spawnWorker('control', env.address, control));
    const firstTrainer = await spawnWorker('train', env.address, train, { EAS_THREADS: '1' });
    workers.push(firstTrainer);

    const first = experimentConfig('exp-a', root);
    const handle = await env.client.workflow.start<typeof experimentWorkflow>(EXPERIMENT_WORKFLOW_TYPE, { workflowId: first.name, taskQueue: control, args: [first] });
    const layout = new ExperimentLayout(path.join(root, first.name));
    // Mid-way: the first child has ended, others run.
    await waitFor('the first child to end', () => fs.existsSync(layout.child('exp-a-rl-s3')) || fs.existsSync(layout.child('exp-a-random-s3')), 480_000, 200);
    firstTrainer.child.kill('SIGKILL');
    await firstTrainer.exited;
    workers.push(await spawnWorker('train', env.address, train, { EAS_THREADS: '1' }));

    const summary = await handle.result();
    assert.equal(summary.failed, 0, `failed children: ${fs.readdirSync(path.dirname(layout.child('x'))).join(', ')}`);
    assert.equal(summary.completed, 6);
    assert.ok(fs.existsSync(layout.summary()));

    const view = loadExperiment(root, first.name);
    assert.equal(view.complete, true);
    for (const c of view.children) {
      assert.equal(c.outcome?.status, 'completed', `${c.id}: ${c.outcome?.error}`);
      assert.ok(c.metrics && c.metrics.finalTest !== null && c.metrics.params !== null, `${c.id} has its final test accuracy and size`);
      if (c.kind === 'search') assert.equal(c.metrics!.runningBest.length, 2, `${c.id}: one running best per evaluated network`);
    }
    // Same seed ⇒ same start net in every arm (the reference trains the searches' start net).
    for (const seed of [3, 4]) {
      const starts = view.children.filter((c) => c.seed === seed).map((c) => c.metrics!.startVal);
      assert.equal(new Set(starts).size, 1, `seed ${seed}: start net accuracies ${starts.join(', ')}`);
    }
    const c = compareExperiment(view);
    assert.deepEqual(c.arms.map((a) => [a.arm, a.completed]), [['rl', 2], ['random', 2], ['reference', 2]]);
    const test = c.pairs.filter((p) => p.metric === 'finalTest').map((p) => `${p.a}-${p.b}:${p.diffs.length}`);
    assert.deepEqual(test, ['rl-random:2', 'rl-reference:2', 'random-reference:2']);
    assert.equal(c.curves.length, 4);
    const report = await writeExperimentReport({ experimentId: first.name, runs: root });
    assert.ok(report.png && fs.statSync(report.png).size > 1000, 'Fig. 5 rendered');
    assert.match(report.text, /rl − random/);

    // The same grid again, undisturbed: the same numbers.
    const second = experimentConfig('exp-b', root);
    const again = await env.client.workflow.execute<typeof experimentWorkflow>(EXPERIMENT_WORKFLOW_TYPE, { workflowId: second.name, taskQueue: control, args: [second] });
    assert.equal(again.completed, 6);
    assert.deepEqual(numbers(root, second.name), numbers(root, first.name));
  } finally {
    for (const w of workers) await stopWorker(w);
    await env.teardown();
  }
});
