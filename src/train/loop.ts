import * as tf from '@tensorflow/tfjs';
import { type WeightSpec, buildModelOf, extractWeightsFor } from '../nn/network';
import type { AnyNet } from '../space';
import { storedSpaceOfNet } from '../space/graphs';
import { type NativePlainStep, nativeInferenceForward, nativeMomentumStep, nativePlainStep, nativeStepAvailable, nativeTrainingForward } from '../backend/native';
import { batchIndices } from '../data/split';
import type { Rng as RngType } from '../util/rng';
import { Rng } from '../util/rng';
import { deriveSeed } from '../util/seed';
import type { ModelOptions, Weights } from '../nn';
import { checkResumable, type EpochCheckpoint, type EpochRecord, saveEpochCheckpoint } from './checkpoint';
import { DivergedError, TrainAbortedError } from './errors';
import type { TrainingRecipe } from './recipe';
import { learningRateAt } from './schedule';

/** What the loop needs of a data split (src/data's Split satisfies it). */
export interface TrainSplit {
  readonly count: number;
  readonly shape: readonly [number, number, number];
  readonly classes: number;
  epochOrder(rng: RngType): Int32Array;
  makeBatch(indices: ArrayLike<number>, opts: { augment?: boolean; rng?: RngType }): { x: Float32Array; y: Int32Array; shape: [number, number, number, number] };
}

export interface EpochReport extends EpochRecord {
  epochs: number;
  /** The epoch checkpoint just written, when checkpointing. */
  checkpoint?: string;
}

export interface BatchReport {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Running means over the epoch so far. */
  loss: number;
  acc: number;
}

export interface TrainLoopOptions {
  /** A plain CNN or a DenseNet (AnyNet). */
  arch: AnyNet;
  /** Starting weights; ignored when `resume` is given (the checkpoint holds the weights). */
  weights: Weights;
  train: TrainSplit;
  /** Held-out split evaluated after every epoch (validation in search mode, test in final mode). */
  evaluate?: TrainSplit;
  epochs: number;
  recipe: TrainingRecipe;
  seed: number;
  /** Write `<checkpointDir>/epoch-NNNN/` after every epoch. */
  checkpointDir?: string;
  resume?: EpochCheckpoint;
  onEpoch?: (report: EpochReport) => void | Promise<void>;
  onBatch?: (report: BatchReport) => void;
  signal?: AbortSignal;
  /** Evaluation batch size (inference only; does not change results). */
  evalBatchSize?: number;
}

export interface TrainOutcome {
  weights: Weights;
  history: EpochRecord[];
  /** Epochs run by this call (fewer than `epochs` when resumed). */
  epochsRun: number;
  loss: number;
  trainAcc: number;
  valAcc: number | null;
}

interface TrainableVariable {
  /** Our weight name, stable across processes (tfjs variable names are not). */
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

/**
 * Trainable variables in a fixed order (the arch's weight order). The momentum optimizer keeps its accumulators by
 * position in the gradient list, so this order is also the order of the saved accumulators.
 * L2 weight decay applies to conv/fc/classifier kernels only, not to BatchNorm gamma/beta or the classifier bias.
 */
function trainableVariables(model: tf.LayersModel, specs: readonly WeightSpec[]): TrainableVariable[] {
  const out: TrainableVariable[] = [];
  for (const { name, layer, index } of specs) {
    const lv = model.getLayer(layer).weights[index];
    if (!lv.trainable) continue;
    out.push({ name, variable: lv.read() as tf.Variable, decay: name.endsWith('/kernel') });
  }
  return out;
}

/** Dropout layers take one fixed seed (the same mask at every call), so each step sets fresh per-layer seeds. */
function seedDropout(model: tf.LayersModel, seed: number, step: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Dropout') continue;
    (layer as unknown as { seed?: number }).seed = deriveSeed(seed, 'dropout', step, layer.name) >>> 0;
  }
}

export function modelOptionsFor(recipe: TrainingRecipe): ModelOptions {
  return { dropout: { conv: recipe.dropout.conv, fc: recipe.dropout.fc, skipFirstConv: recipe.dropout.skipFirstConv } };
}

/**
 * Accuracy of `model` on a whole split in inference mode (BN moving statistics, no dropout), in batches; through
 * `forward` when given (the same function of the model, e.g. nativeInferenceForward's), else model.apply.
 */
export function evaluateAccuracy(model: tf.LayersModel, split: TrainSplit, batchSize = 256, forward?: ((x: tf.Tensor) => tf.Tensor) | null): number {
  if (split.count === 0) throw new Error('evaluateAccuracy: empty split');
  let correct = 0;
  const order = new Int32Array(split.count);
  for (let i = 0; i < split.count; i++) order[i] = i;
  for (const idx of batchIndices(order, batchSize, { dropLast: false })) {
    const batch = split.makeBatch(idx, { augment: false });
    const batchCorrect = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, batch.shape);
      const logits = forward ? forward(x) : (model.apply(x, { training: false }) as tf.Tensor);
      const labels = tf.tensor1d(batch.y, 'int32');
      return tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32'));
    });
    correct += batchCorrect.dataSync()[0];
    batchCorrect.dispose();
  }
  return correct / split.count;
}

function createOptimizer(recipe: TrainingRecipe): tf.MomentumOptimizer {
  return tf.train.momentum(recipe.learningRate, recipe.momentum, recipe.nesterov);
}

/** MomentumOptimizer.dispose() does not dispose SGDOptimizer's learning-rate scalar `c`. */
function disposeOptimizer(opt: tf.MomentumOptimizer): void {
  const c = (opt as unknown as { c?: tf.Tensor }).c;
  opt.dispose();
  if (c && !c.isDisposed) c.dispose();
}

async function restoreOptimizer(opt: tf.MomentumOptimizer, vars: TrainableVariable[], ckpt: EpochCheckpoint): Promise<void> {
  const byName = new Map(ckpt.momentum.map((m) => [m.name, m]));
  if (ckpt.momentum.length !== vars.length || vars.some((v) => !byName.has(v.name))) {
    throw new Error(`checkpoint ${ckpt.dir}: momentum accumulators [${ckpt.momentum.map((m) => m.name).join(', ')}] do not match the trainable variables`);
  }
  const tensors: { name: string; tensor: tf.Tensor }[] = [{ name: 'iter', tensor: tf.scalar(ckpt.state.optimizerIterations, 'int32') }];
  for (const v of vars) {
    const m = byName.get(v.name)!;
    tensors.push({ name: `${v.variable.name}/momentum`, tensor: tf.tensor(m.data, m.shape, 'float32') });
  }
  try {
    await opt.setWeights(tensors);
  } finally {
    tf.dispose(tensors.map((t) => t.tensor));
  }
}

async function readOptimizer(opt: tf.MomentumOptimizer, vars: TrainableVariable[]): Promise<{ iterations: number; momentum: EpochCheckpoint['momentum'] }> {
  const [iter, ...accumulators] = await opt.getWeights();
  try {
    if (accumulators.length !== vars.length) throw new Error(`optimizer holds ${accumulators.length} accumulators for ${vars.length} variables`);
    const iterations = (await iter.tensor.data())[0];
    const momentum = await Promise.all(
      accumulators.map(async (a, i) => ({ name: vars[i].name, shape: [...a.tensor.shape], data: new Float32Array(await a.tensor.data()) })),
    );
    return { iterations, momentum };
  } finally {
    // getWeights returns a fresh iteration scalar; the accumulators are the optimizer's own variables.
    iter.tensor.dispose();
  }
}

/**
 * Train `arch` with SGD + Nesterov momentum, L2 weight decay on kernels, per-step cosine learning rate, softmax
 * cross-entropy on logits, dropping the last partial batch. Checkpoints after every epoch when `checkpointDir` is set;
 * `resume` continues from such a checkpoint and reaches the same weights as an uninterrupted run.
 */
export async function trainNetwork(opts: TrainLoopOptions): Promise<TrainOutcome> {
  const { arch, recipe, epochs, seed, train } = opts;
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new RangeError(`epochs must be a positive integer, got ${epochs}`);
  if (train.shape.join('x') !== arch.input.join('x')) throw new Error(`training data is ${train.shape.join('×')}, the network expects ${arch.input.join('×')}`);
  if (train.classes !== arch.classes) throw new Error(`training data has ${train.classes} classes, the network ${arch.classes}`);
  const stepsPerEpoch = Math.floor(train.count / recipe.batchSize);
  if (stepsPerEpoch < 1) throw new RangeError(`${train.count} training images make no full batch of ${recipe.batchSize}`);
  const totalSteps = stepsPerEpoch * epochs;

  let startEpoch = 0;
  let step = 0;
  let history: EpochRecord[] = [];
  let orderRng = Rng.fromSeed(deriveSeed(seed, 'train', 'order'));
  let augmentRng = Rng.fromSeed(deriveSeed(seed, 'train', 'augment'));
  let weights = opts.weights;
  if (opts.resume) {
    checkResumable(opts.resume, { arch, epochs, seed, recipe, stepsPerEpoch });
    const s = opts.resume.state;
    startEpoch = s.epoch;
    step = s.step;
    history = [...s.history];
    orderRng = Rng.fromState(s.rng.order);
    augmentRng = Rng.fromState(s.rng.augment);
    weights = opts.resume.weights;
  }

  const space = storedSpaceOfNet(arch);
  const specs = space.weightSpecs(arch);
  const model = buildModelOf(space, arch, weights, modelOptionsFor(recipe));
  const optimizer = createOptimizer(recipe);
  const decay = tf.scalar(recipe.weightDecay);
  let plainStep: NativePlainStep | null = null;
  try {
    const vars = trainableVariables(model, specs);
    const varList = vars.map((v) => v.variable);
    // on the native engine: the same training forward pass through fused kernels (dense blocks, BN+ReLU); else null
    const nativeForward = nativeTrainingForward(model, arch);
    // and the inference forward pass evaluation uses (dense blocks with moving statistics); else null: model.apply
    const nativeInference = nativeInferenceForward(model, arch);
    if (opts.resume) await restoreOptimizer(optimizer, vars, opts.resume);
    // on the native engine, a plain net without dropout: each step is ONE native call (forward, loss, backward, update,
    // moving statistics) on weights that live natively during the epoch; stored back before validation and checkpoints
    plainStep = recipe.nesterov ? nativePlainStep(model, arch, recipe.batchSize) : null;
    plainStep?.load(optimizer, vars);
    const [h, w, c] = train.shape;
    /** One step through tfjs (its autograd; the native engine's per-op kernels when active): loss and correct count. */
    const tfjsStep = async (data: { x: Float32Array; y: Int32Array }): Promise<[number, number]> => {
      const n = data.y.length;
      const [lossT, correctT] = tf.tidy(() => {
        const xs = tf.tensor4d(data.x, [n, h, w, c]);
        const labels = tf.tensor1d(data.y, 'int32');
        let batchCorrect: tf.Tensor | undefined;
        const { value, grads } = tf.variableGrads(() => {
          const logits = (nativeForward ? nativeForward(xs) : model.apply(xs, { training: true })) as tf.Tensor2D;
          batchCorrect = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'int32')));
          return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, arch.classes), logits) as tf.Scalar;
        }, varList);
        if (recipe.nesterov && nativeStepAvailable()) {
          // the native engine: the same update (same float32 arithmetic) for all variables in one call
          nativeMomentumStep(optimizer, vars, grads, recipe.weightDecay);
        } else {
          optimizer.applyGradients(
            vars.map((v) => ({ name: v.variable.name, tensor: v.decay && recipe.weightDecay > 0 ? tf.add(grads[v.variable.name], tf.mul(decay, v.variable)) : grads[v.variable.name] })),
          );
        }
        return [value, batchCorrect!] as [tf.Tensor, tf.Tensor];
      });
      try {
        return [(await lossT.data())[0], (await correctT.data())[0]];
      } finally {
        tf.dispose([lossT, correctT]);
      }
    };

    for (let epoch = startEpoch + 1; epoch <= epochs; epoch++) {
      const started = performance.now();
      const order = train.epochOrder(orderRng);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let batch = 0;
      let lr = recipe.learningRate;
      for (const idx of batchIndices(order, recipe.batchSize)) {
        if (opts.signal?.aborted) throw new TrainAbortedError();
        lr = learningRateAt(recipe, step, totalSteps);
        optimizer.setLearningRate(lr);
        seedDropout(model, seed, step);
        const data = train.makeBatch(idx, { augment: recipe.augment, rng: augmentRng });
        let loss: number;
        let batchCorrect: number;
        if (plainStep) ({ loss, correct: batchCorrect } = plainStep.step(optimizer, data.x, data.y, lr, recipe.weightDecay));
        else [loss, batchCorrect] = await tfjsStep(data);
        step++;
        batch++;
        if (!Number.isFinite(loss)) {
          throw new DivergedError(`training diverged: loss is ${loss} at epoch ${epoch}, step ${step} (learning rate ${lr.toPrecision(3)})`, epoch, step);
        }
        lossSum += loss * idx.length;
        correct += batchCorrect;
        seen += idx.length;
        opts.onBatch?.({ epoch, epochs, batch, batches: stepsPerEpoch, loss: lossSum / seen, acc: correct / seen });
      }
      // the natively trained weights, moving statistics and momentum back into the model and the optimizer
      plainStep?.store(optimizer, vars);
      const valAcc = opts.evaluate ? evaluateAccuracy(model, opts.evaluate, opts.evalBatchSize, nativeInference) : null;
      const record: EpochRecord = { epoch, loss: lossSum / seen, trainAcc: correct / seen, valAcc, lr, seconds: (performance.now() - started) / 1000 };
      history.push(record);
      let checkpoint: string | undefined;
      if (opts.checkpointDir) {
        const { iterations, momentum } = await readOptimizer(optimizer, vars);
        checkpoint = await saveEpochCheckpoint(opts.checkpointDir, {
          epoch,
          epochs,
          step,
          stepsPerEpoch,
          seed,
          arch,
          recipe,
          rng: { order: orderRng.state(), augment: augmentRng.state() },
          optimizerIterations: iterations,
          history,
          weights: extractWeightsFor(model, specs),
          momentum,
        });
      }
      await opts.onEpoch?.({ ...record, epochs, checkpoint });
    }

    const last = history.at(-1);
    return {
      weights: extractWeightsFor(model, specs),
      history,
      epochsRun: epochs - startEpoch,
      loss: last?.loss ?? NaN,
      trainAcc: last?.trainAcc ?? NaN,
      valAcc: last?.valAcc ?? null,
    };
  } finally {
    plainStep?.dispose();
    decay.dispose();
    disposeOptimizer(optimizer);
    model.dispose();
  }
}
