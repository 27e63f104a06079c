import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BACKEND_CHOICES } from '../src/backend/names';
import { loadSearchConfig, parseSearchConfig } from '../src/config/load';
import { ConfigError, type SearchConfigInput } from '../src/config/search-config';
import { parseDuration } from '../src/config/duration';
import { recipeFor } from '../src/train/recipe';

/** A valid configuration that each case below breaks in one place. */
const base = (): SearchConfigInput => ({
  name: 'cfg-test',
  dataset: { name: 'synthetic', validationSize: 64, synthetic: { train: 384, test: 128, shape: [8, 8, 1], classes: 4, seed: 3 } },
  startNet: { notation: 'C(16,3,1), P(2,2,MAX), C(16,3,1), P(4,4,AVG), FC(64), SM(4)', epochs: 1 },
  stages: [
    { networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 1 },
    { networks: 4, networksPerEpisode: 2, widerSteps: 1, deeperSteps: 1, epochs: 1, bestEpochs: 0 },
  ],
  final: { topK: 1, epochs: 1 },
});

type Raw = Record<string, unknown>;
const stage0 = (patch: Raw) => (c: Raw) => ({ ...c, stages: [{ ...(c.stages as Raw[])[0], ...patch }, (c.stages as Raw[])[1]] });

/** [what, change, field path named in the error, what the message says]. */
const CASES: [string, (c: Raw) => Raw, string, RegExp][] = [
  ['backend not an engine', (c) => ({ ...c, backend: 'tpu' }), 'backend', /unknown backend "tpu"; expected one of auto, .*wasm/],
  ['backend not a string', (c) => ({ ...c, backend: 3 }), 'backend', /unknown backend 3/],
  ['duration that is a word', (c) => ({ ...c, timeouts: { training: 'forever' } }), 'timeouts.training', /"forever" is not a duration/],
  ['negative duration', (c) => ({ ...c, timeouts: { epochHeartbeat: '-5m' } }), 'timeouts.epochHeartbeat', /"-5m" must be longer than 0/],
  ['zero duration', (c) => ({ ...c, timeouts: { epochHeartbeat: '0s' } }), 'timeouts.epochHeartbeat', /must be longer than 0/],
  ['duration as a bare number', (c) => ({ ...c, timeouts: { training: 42 } }), 'timeouts.training', /duration string/],
  ['heartbeat longer than the training limit', (c) => ({ ...c, timeouts: { epochHeartbeat: '3d', training: '1d' } }), 'timeouts.epochHeartbeat', /must be shorter than timeouts\.training/],
  ['timeouts not an object', (c) => ({ ...c, timeouts: 'fast' }), 'timeouts', /object/],
  ['no attempts', (c) => ({ ...c, retry: { train: { maximumAttempts: 0 } } }), 'retry.train.maximumAttempts', />=1/],
  ['backoff that shrinks', (c) => ({ ...c, retry: { control: { backoffCoefficient: 0.5 } } }), 'retry.control.backoffCoefficient', />=1/],
  ['maximum interval below the initial one', (c) => ({ ...c, retry: { control: { initialInterval: '10m', maximumInterval: '1m' } } }), 'retry.control.maximumInterval', /must not be shorter than retry\.control\.initialInterval/],
  ['retry interval typo', (c) => ({ ...c, retry: { train: { initialInterval: '5 secs please' } } }), 'retry.train.initialInterval', /not a duration/],
  ['unknown retry field', (c) => ({ ...c, retry: { train: { attempts: 3 } } }), 'retry.train', /attempts/],
  ['episode larger than its stage', stage0({ networksPerEpisode: 10 }), 'stages.0.networksPerEpisode', /the stage samples only 4/],
  ['more wider steps than width levels', stage0({ widerSteps: 40 }), 'stages.0.widerSteps', /40 wider steps, but the space has 10 width level/],
  ['wider steps in a space with one width', (c) => ({ ...c, space: { convFilters: [16], fcUnits: [64] } }), 'stages.0.widerSteps', /has 0 width level/],
  ['more deeper steps than the controller can place', stage0({ deeperSteps: 100000 }), 'stages.0.deeperSteps', /at most 256 layers/],
  ['no steps at all', stage0({ widerSteps: 0, deeperSteps: 0 }), 'stages.0', /at least one wider or deeper step/],
  ['more final networks than the last stage samples', (c) => ({ ...c, final: { topK: 50, epochs: 1 } }), 'final.topK', /50 final networks, but the last stage samples only 4/],
  ['no stages', (c) => ({ ...c, stages: [] }), 'stages', />=1/],
  ['negative budget', stage0({ networks: -1 }), 'stages.0.networks', />0/],
  ['unknown dataset', (c) => ({ ...c, dataset: { name: 'mnist' } }), 'dataset.name', /cifar10/],
  ['start net with the wrong classes', (c) => ({ ...c, startNet: { notation: 'C(16,3,1), SM(7)', epochs: 1 } }), 'startNet.notation', /SM\(7\) but synthetic has 4 classes/],
  ['fractional seed', (c) => ({ ...c, seed: 1.5 }), 'seed', /expected int/],
  ['bad name', (c) => ({ ...c, name: 'bad name!' }), 'name', /letters, digits/],
  ['unknown top-level field', (c) => ({ ...c, epochs: 3 }), '(root)', /epochs/],
  ['unknown controller kind', (c) => ({ ...c, controller: { kind: 'evolution' } }), 'controller.kind', /rl/],
  ['negative pause threshold', (c) => ({ ...c, pauseAfterFailures: -1 }), 'pauseAfterFailures', /must be 0 \(never pause\) or more/],
  ['fractional pause threshold', (c) => ({ ...c, pauseAfterFailures: 2.5 }), 'pauseAfterFailures', /whole number of failures \(0 turns pausing off\), got 2\.5/],
  ['pause threshold as a word', (c) => ({ ...c, pauseAfterFailures: 'five' }), 'pauseAfterFailures', /whole number of failures .*got "five"/],
];

test('malformed configs: each one a ConfigError naming the field and what was expected, none a crash', () => {
  assert.ok(CASES.length >= 20);
  for (const [what, change, field, message] of CASES) {
    const raw = change(base() as Raw);
    let err: unknown;
    try {
      parseSearchConfig(raw, 'bad.yaml');
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `${what}: expected a ConfigError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.equal(err.source, 'bad.yaml', what);
    const issue = err.issues.find((i) => (i.path || '(root)') === field);
    assert.ok(issue, `${what}: no issue for ${field} in\n${err.message}`);
    assert.match(issue.message, message, `${what}: ${issue.message}`);
    assert.match(err.message, new RegExp(`${field.replace(/[.()]/g, '\\$&')}: `), what);
  }
});

test('the valid base and the shipped configs parse; defaults for retries and durations are set', () => {
  const c = parseSearchConfig(base(), 'base');
  assert.equal(c.backend, 'auto');
  assert.deepEqual(c.retry.train, { maximumAttempts: 8, initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m' });
  assert.equal(c.retry.control.maximumAttempts, 5);
  assert.deepEqual(c.timeouts, { epochHeartbeat: '2m', training: '7d' });
  for (const f of fs.readdirSync('configs').filter((x) => x.endsWith('.yaml'))) loadSearchConfig(path.join('configs', f));
  for (const b of BACKEND_CHOICES) assert.equal(parseSearchConfig({ ...base(), backend: b }, 'b').backend, b);
});

test('durations: the ms format Temporal reads, positive and finite', () => {
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('7d'), 604_800_000);
  for (const bad of ['forever', '-5m', '0s', '', 'm5']) assert.equal(typeof parseDuration(bad), 'string', bad);
});

test('a YAML file with bad fields names the file and every field', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eas-config-'));
  const file = path.join(dir, 'search.yaml');
  fs.writeFileSync(file, 'name: x\ndataset: { name: synthetic }\nstartNet: { notation: "C(16,3,1), SM(10)" }\nbackend: tpu\ntimeouts: { training: forever }\n');
  assert.throws(
    () => loadSearchConfig(file),
    (e: unknown) => e instanceof ConfigError && e.message.includes(file) && /backend: unknown backend "tpu"/.test(e.message) && /timeouts\.training: "forever"/.test(e.message),
  );
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a training phase inherits every shared field it does not set (augment, batch size, dropout field by field)", () => {
  const config = parseSearchConfig(
    {
      ...base(),
      training: {
        augment: true,
        batchSize: 32,
        dropout: { conv: 0.2 },
        phases: { start: { learningRate: 0.1 }, candidates: { learningRate: 0.02, dropout: { fc: 0.1 } }, final: { augment: false } },
      },
    },
    'inline',
  );
  const start = recipeFor(config.training, 'start');
  assert.equal(start.learningRate, 0.1);
  assert.equal(start.augment, true);
  assert.equal(start.batchSize, 32);
  assert.deepEqual(start.dropout, { conv: 0.2, fc: 0, skipFirstConv: true });
  const candidates = recipeFor(config.training, 'candidates');
  assert.equal(candidates.augment, true);
  assert.deepEqual(candidates.dropout, { conv: 0.2, fc: 0.1, skipFirstConv: true });
  assert.equal(recipeFor(config.training, 'final').augment, false);
  assert.equal(recipeFor(config.training, 'final').learningRate, 0.02);
  // The phases' defaults (0.1 for the full trainings) still apply where the config names no phase.
  assert.equal(recipeFor(config.training, 'stageBest').learningRate, 0.1);
  assert.equal(recipeFor(config.training, 'stageBest').augment, true);
  assert.throws(() => parseSearchConfig({ ...base(), training: { phases: { start: { learningRate: -1 } } } }, 'inline'), /training\.phases\.start\.learningRate/);
});
