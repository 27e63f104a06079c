/**
 * The native engine: the tfjs wasm backend with the kernels training spends its time in replaced by oneDNN ones
 * (C++ N-API addon, native/eas_native.cc). Tensors stay in the wasm heap; the addon works on views of it.
 * Threads are oneDNN's OpenMP threads (the wasm backend itself stays single-threaded).
 */
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { loadAddon, type NativeAddon } from './addon';
import { makeNativeKernels } from './kernels';
import { makeSgdKernel } from './optimizer';
import { makeMomentsKernels, routeMoments } from './moments';
import { denseInferenceForward, denseTrainingForward, makeDenseKernels, markDenseKernelsReady } from './dense-block';
import { plainTrainingForward } from './plain-net';
import { NativePlainStep } from './plain-step';
import { spaceKindOfNet } from '../../space';
import type { Arch } from '../../arch/schema';
import type { DenseNet } from '../../densenet/schema';

export { addonError, loadAddon, ADDON_PATH, type NativeAddon, type NativeInfo } from './addon';
export { nativeMomentumStep, nativeStepAvailable, SGD_KERNEL } from './optimizer';
export { denseInferenceForward, denseTrainingForward } from './dense-block';
export { NativePlainStep, plainStepEnabled, type PlainStepResult, type StepVariable } from './plain-step';

/** Kernel names the native engine registers on 'wasm'. */
export const NATIVE_KERNEL_NAMES = ['Relu', 'Step', 'Square', 'Sum', 'Mean', 'Add', 'Sub', 'Multiply', 'RealDiv', 'FusedBatchNorm', 'Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'MaxPoolGrad', 'AvgPoolGrad', 'EasSgdNesterov', 'EasMoments', 'EasMomentsGrad', 'EasBnRelu', 'EasBnReluGrad', 'EasDenseBlock', 'EasDenseBlockGrad', 'EasDenseBlockInfer', 'EasMovingAverage'] as const;

let installed = false;

/** Before tf.setBackend('wasm'): the addon must load (else this throws why), and its thread count is set. */
export function nativePreInit(opts: { threads?: number }): NativeAddon {
  const addon = loadAddon();
  const threads = opts.threads ?? os.availableParallelism();
  addon.setThreads(Math.max(1, Math.floor(threads)));
  return addon;
}

/** After the wasm backend (and its own kernels) are set up: register the native kernels on top. Idempotent. */
export function nativePostInit(): void {
  if (installed) return;
  const addon = loadAddon();
  const previous = new Map<string, tf.KernelConfig>();
  const prev = (name: string) => {
    const k = previous.get(name);
    if (!k) throw new Error(`no wasm kernel ${name} to fall back to`);
    return k;
  };
  for (const k of makeNativeKernels(addon, prev)) {
    const old = tf.getKernel(k.kernelName, 'wasm');
    if (old) {
      previous.set(k.kernelName, old);
      tf.unregisterKernel(k.kernelName, 'wasm');
    }
    tf.registerKernel({ kernelName: k.kernelName, backendName: 'wasm', kernelFunc: k.kernelFunc, setupFunc: old?.setupFunc, disposeFunc: old?.disposeFunc });
  }
  tf.registerKernel(makeSgdKernel(addon));
  for (const k of makeMomentsKernels(addon)) tf.registerKernel(k);
  for (const k of makeDenseKernels(addon)) tf.registerKernel(k);
  markDenseKernelsReady();
  routePlainFusedConv();
  routeMoments();
  installed = true;
}

/**
 * tf.fused.conv2d without bias, activation or PReLU (what tf.layers' Conv2D with useBias: false calls) → tf.conv2d,
 * on the native engine only. The same function; but the fused op's custom gradient computes the input gradient
 * eagerly, also for the network's input where nothing uses it (the first layer's Conv2DBackpropInput: ~15 % of a
 * step), while tf.conv2d's gradient is evaluated only for inputs that lead to the variables.
 */
function routePlainFusedConv(): void {
  const fused = tf.fused as { conv2d: typeof tf.fused.conv2d };
  const stock = fused.conv2d;
  fused.conv2d = (args) => {
    const plain = !args.bias && (args.activation === undefined || args.activation === 'linear') && !args.preluActivationWeights;
    if (plain && tf.getBackend() === 'wasm') return tf.conv2d(args.x, args.filter, args.strides, args.pad, args.dataFormat, args.dilations, args.dimRoundingMode);
    return stock(args);
  };
}

export function nativeInstalled(): boolean {
  return installed;
}

/** Each space's native training forward pass, by the space's kind. */
const TRAINING_FORWARD: Record<ReturnType<typeof spaceKindOfNet>, (model: tf.LayersModel, net: never) => ((x: tf.Tensor) => tf.Tensor) | null> = {
  plain: (model, net: Arch) => plainTrainingForward(model, net),
  densenet: (model, net: DenseNet) => denseTrainingForward(model, net),
};

/**
 * The hook src/train/loop.ts calls: the native training forward pass of `model` (a DenseNet: ./dense-block.ts; a plain
 * net: ./plain-net.ts) when the native kernels can run it, else null (train with `model.apply(x, { training: true })`).
 */
export function nativeTrainingForward(model: tf.LayersModel, net: unknown): ((x: tf.Tensor) => tf.Tensor) | null {
  return TRAINING_FORWARD[spaceKindOfNet(net)](model, net as never);
}

/** Each space's native inference forward pass, by the space's kind (a plain net's inference is already per-op native). */
const INFERENCE_FORWARD: Record<ReturnType<typeof spaceKindOfNet>, (model: tf.LayersModel, net: never) => ((x: tf.Tensor) => tf.Tensor) | null> = {
  plain: () => null,
  densenet: (model, net: DenseNet) => denseInferenceForward(model, net),
};

/**
 * The hook src/train/loop.ts's evaluation calls: the native inference forward pass of `model` (a DenseNet:
 * ./dense-block.ts) when the native kernels can run it, else null (evaluate with `model.apply(x, { training: false })`).
 */
export function nativeInferenceForward(model: tf.LayersModel, net: unknown): ((x: tf.Tensor) => tf.Tensor) | null {
  return INFERENCE_FORWARD[spaceKindOfNet(net)](model, net as never);
}

/**
 * The hook src/train/loop.ts calls for the whole step: a plain net's training step in one native call (./plain-step.ts)
 * when the native engine can run it (plain space, no dropout, EAS_NATIVE_PLAIN_STEP not 0), else null.
 */
export function nativePlainStep(model: tf.LayersModel, net: unknown, batchSize: number): NativePlainStep | null {
  return spaceKindOfNet(net) === 'plain' ? NativePlainStep.forModel(model, net as Arch, batchSize) : null;
}
