import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { INPUT_SHAPES, type InputShape } from '../../arch';
import { initBackend } from '../../backend';
import { saveNetwork } from '../../checkpoint';
import { DatasetNameSchema, type DatasetName } from '../../data';
import { initWeightsFor } from '../../nn/network';
import { networkSpaceOfNotation } from '../../space/networks';
import { Rng } from '../../util/rng';
import { deriveSeed } from '../../util/seed';
import { executeTrainJob, type TrainJobSpecInput } from '../../train/job';
import { TrainingRecipeSchema } from '../../train/recipe';

function intArg(name: string, min: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got "${raw}"`);
    return n;
  };
}

/** A dropout rate in [0, 1). */
function dropoutRate(name: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`${name} must be a rate in [0, 1), got "${raw}"`);
    return n;
  };
}

interface TrainOptions {
  net: string;
  dataset: string;
  epochs: number;
  dataDir?: string;
  seed: number;
  dataSeed: number;
  batchSize?: number;
  lr?: number;
  limitTrain?: number;
  limitTest?: number;
  mode: 'search' | 'final';
  out?: string;
  backend?: string;
  threads?: number;
  augment?: boolean;
  dropout?: number;
  fcDropout?: number;
  firstConvDropout?: boolean;
  resume?: boolean;
  download?: boolean;
}

const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(2)}%`);

/** The starting network: an existing checkpoint directory, or the paper's notation initialised from the seed. */
async function startingNetwork(net: string, dataset: DatasetName, runDir: string, seed: number): Promise<string> {
  if (fs.existsSync(net) && fs.statSync(net).isDirectory()) return net;
  const input: InputShape = dataset === 'synthetic' ? [32, 32, 3] : [...INPUT_SHAPES[dataset]];
  const dir = path.join(runDir, 'initial');
  // The notation says its space: a DenseNet has D(…) blocks.
  const space = networkSpaceOfNotation(net);
  let arch;
  try {
    arch = space.parse(net, input);
  } catch (err) {
    throw new Error(`--net: "${net}" is neither a network checkpoint directory nor a valid ${space.kind} notation (${(err as Error).message})`, { cause: err });
  }
  await saveNetwork(dir, arch, initWeightsFor(space.weightSpecs(arch), Rng.fromSeed(deriveSeed(seed, 'init'))), { notation: space.notation(arch), initSeed: seed });
  return dir;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train one network (checkpoint dir or notation) on a dataset with the paper recipe, checkpointing every epoch')
    .requiredOption('--net <dir|notation>', 'network checkpoint directory, or notation such as "C(16,3,1), P(2,2,MAX), FC(64), SM(10)" or a DenseNet-BC "C(24,3), D(12*6), T(48), D(12*6), SM(10)"')
    .requiredOption('--dataset <name>', `dataset: ${DatasetNameSchema.options.join(', ')}`)
    .requiredOption('--epochs <n>', 'epochs to train', intArg('epochs', 1))
    .option('--data-dir <dir>', 'where datasets live (default: the data module’s default and system locations)')
    .option('--seed <s>', 'seed for initial weights, data order, augmentation and dropout', intArg('seed', -0x80000000), 0)
    .option('--data-seed <s>', 'seed of the validation hold-out and --limit subsets', intArg('data-seed', -0x80000000), 0)
    .option('--batch-size <n>', 'batch size (paper: 64)', intArg('batch-size', 1))
    .option('--lr <rate>', 'initial learning rate, cosine-annealed per step (paper: 0.02)', positiveNumber('lr'))
    .option('--limit-train <n>', 'train on a seeded subset of n images', intArg('limit-train', 1))
    .option('--limit-test <n>', 'evaluate on a seeded subset of n images (validation in search mode, test in final mode)', intArg('limit-test', 1))
    .addOption(new Option('--mode <mode>', 'search: hold out validation images; final: full training set, test accuracy').choices(['search', 'final']).default('final'))
    .option('--out <dir>', 'run directory (initial/, work/ epoch checkpoints, network/ result); default runs/train-<dataset>-<seed>')
    .option('--backend <name>', 'tfjs backend (auto, native, wasm, cpu, tensorflow, tensorflow-gpu)')
    .option('--threads <n>', 'threads: oneDNN threads on native (default: all cores), wasm threads on wasm (default 1); or EAS_THREADS', intArg('threads', 1))
    .option('--augment', 'random crop + flip (default: on for cifar10 only)')
    .option('--no-augment', 'no augmentation')
    .option('--dropout <rate>', "dropout after every conv but the first (the paper's SVHN setting: 0.2)", dropoutRate('--dropout'))
    .option('--fc-dropout <rate>', 'dropout after every fc layer', dropoutRate('--fc-dropout'))
    .option('--first-conv-dropout', 'apply --dropout after the first conv too')
    .option('--resume', 'continue from the newest epoch checkpoint in <out>/work')
    .option('--download', 'download the dataset when it is missing')
    .action(async (opts: TrainOptions) => {
      const dataset = DatasetNameSchema.safeParse(opts.dataset);
      if (!dataset.success) throw new Error(`--dataset must be one of ${DatasetNameSchema.options.join(', ')}, got "${opts.dataset}"`);
      const runDir = path.resolve(opts.out ?? path.join('runs', `train-${dataset.data}-${opts.seed}`));
      await initBackend({ backend: opts.backend, threads: opts.threads });
      const network = await startingNetwork(opts.net, dataset.data, runDir, opts.seed);
      const recipe = TrainingRecipeSchema.parse({
        ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
        ...(opts.lr ? { learningRate: opts.lr } : {}),
        augment: opts.augment ?? dataset.data === 'cifar10',
        dropout: { conv: opts.dropout ?? 0, fc: opts.fcDropout ?? 0, skipFirstConv: !opts.firstConvDropout },
      });
      const evalLimitKey = opts.mode === 'search' ? 'val' : 'test';
      const limit = opts.limitTrain || opts.limitTest ? { train: opts.limitTrain, [evalLimitKey]: opts.limitTest } : undefined;
      const spec: TrainJobSpecInput = {
        network,
        dataset: { name: dataset.data, dataDir: opts.dataDir, seed: opts.dataSeed, limit, download: opts.download ?? false },
        mode: opts.mode,
        epochs: opts.epochs,
        recipe,
        seed: opts.seed,
        workDir: path.join(runDir, 'work'),
        output: path.join(runDir, 'network'),
        resumeFrom: opts.resume ? 'latest' : undefined,
        backend: opts.backend,
        threads: opts.threads,
        progressIntervalMs: 0,
      };
      const evalName = opts.mode === 'search' ? 'val' : 'test';
      const bar = new SingleBar(
        {
          format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} batches | loss {loss} | train acc {acc} | {rate} img/s',
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
          // Without a terminal (logs, CI) print a line every 10 s instead of redrawing.
          noTTYOutput: !process.stderr.isTTY,
          notTTYSchedule: 10_000,
        },
        Presets.shades_classic,
      );
      let barEpoch = 0;
      let epochStarted = performance.now();
      const drop = recipe.dropout.conv || recipe.dropout.fc ? `, dropout conv ${recipe.dropout.conv}${recipe.dropout.skipFirstConv ? ' (not after the first)' : ''} fc ${recipe.dropout.fc}` : '';
      console.error(`[eas] training ${network} on ${dataset.data} (${opts.mode}) for ${opts.epochs} epochs${drop} → ${runDir}`);
      const started = performance.now();
      const result = await executeTrainJob(spec, {
        onProgress: (b) => {
          if (b.epoch !== barEpoch) {
            barEpoch = b.epoch;
            epochStarted = performance.now();
            bar.start(b.batches, 0, { epoch: b.epoch, epochs: b.epochs, loss: '–', acc: '–', rate: '–' });
          }
          const seconds = (performance.now() - epochStarted) / 1000;
          bar.update(b.batch, { loss: b.loss.toFixed(4), acc: pct(b.acc), rate: seconds > 0 ? Math.round((b.batch * recipe.batchSize) / seconds) : '–' });
        },
        onEpoch: (r) => {
          bar.stop();
          console.error(`epoch ${r.epoch}/${r.epochs}: loss ${r.loss.toFixed(4)}, train acc ${pct(r.trainAcc)}, ${evalName} acc ${pct(r.valAcc)}, lr ${r.lr.toExponential(2)}, ${r.seconds.toFixed(1)} s`);
        },
      });
      bar.stop();
      const acc = opts.mode === 'search' ? result.valAcc : result.testAcc;
      const wall = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `${evalName} accuracy ${pct(acc)} (${result.evalImages} images) after ${result.epochs} epochs; train acc ${pct(result.trainAcc)}, loss ${result.loss.toFixed(4)}; ` +
          `${result.params} params; backend ${result.backend}; training ${result.seconds.toFixed(1)} s (this call ${wall} s); network: ${result.output}`,
      );
    });
}
