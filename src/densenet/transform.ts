import { z } from 'zod';
import { BN_PARAMS, type Weights, cloneWeights } from '../nn/weights';
import { randomRemapping, remapMiddleAxis, splitFactors } from '../transform/wider';
import { Rng, deriveSeed } from '../util/rng';
import { type DenseAction, DenseActionSchema, applyDenseActionStructure, rewidenDenseNet } from './actions';
import { denseShapes, locateLayer, validateDenseNet } from './analysis';
import type { DenseNet, DenseSpace } from './schema';
import { DENSE_CLASSIFIER_KERNEL, bnOf, denseNames, kernelOf, tBn, tConv, validateDenseWeights } from './weights';

/**
 * Function-preserving transformations of DenseNet-BC (the paper's section "Function-preserving Transformation for
 * DenseNet"). A dense layer's output feeds every later layer of its block and the block's transition (or the
 * classifier), each through its own per-channel BatchNorm then ReLU then a 1×1 conv (or, for the classifier, global
 * average pooling then the fc). Replicating a channel of the block's concatenated stream is therefore undone, for each
 * consumer, by copying that channel's BatchNorm parameters and dividing its kernel rows among the replicas: Eq. 3 with
 * the remapping Ĝm of Eq. 4. BatchNorm acts per channel, so this is exact in inference and training mode alike.
 *
 * As in the authors' code (han-cai/EAS, arch_search_densenet_net2net.py and models/dense_net.py), widening a layer's
 * growth rate to k' also widens its bottleneck to bottleneckFactor·k' (Net2Wider on the 1×1 conv, its own 3×3 conv
 * reading the replicas), and after every action the stem and the transitions are re-widened (`rewidenDenseNet`:
 * ⌊stemRatio · mean growth⌋, ⌊compression · input channels⌋): Net2Wider on their conv, every reader of the next
 * block's stream remapped with Ĝ = (G, then identity). All of these are exact without noise.
 *
 * Symmetry: replicas have identical values, so any positive split of their outgoing weights summing to 1 preserves
 * the function exactly. `split: 'random'` (the default here) draws the split at random, independently per consumer, so
 * replicas get different gradients and can diverge under SGD; 'equal' is Eq. 3's 1/|group|. `noise` (off by default,
 * as it changes the function) adds Gaussian noise to new kernel entries, as the authors' code does.
 */
export const DenseTransformOptionsSchema = z
  .object({
    split: z.enum(['equal', 'random']).default('random'),
    noise: z.number().min(0).default(0),
  })
  .strict();
export type DenseTransformOptions = z.input<typeof DenseTransformOptionsSchema>;
type Opts = z.infer<typeof DenseTransformOptionsSchema>;

function std(data: Float32Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of data) {
    s += v;
    s2 += v * v;
  }
  const n = data.length || 1;
  return Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2));
}

/** A consumer of a block's channel stream: a BatchNorm over the stream and the kernel that reads it (rows = channels). */
interface Consumer {
  bn: string;
  kernel: string;
}

/** Consumers of block `bi`'s stream from its layer `from` on (0: all of them), then the transition or classifier. */
function consumersFrom(net: DenseNet, bi: number, from: number): Consumer[] {
  const b = net.blocks[bi];
  const out: Consumer[] = b.layers.slice(from).map((l) => ({ bn: denseNames.bn1(l.id), kernel: kernelOf(denseNames.conv1(l.id)) }));
  out.push(b.transition !== undefined ? { bn: tBn(bi), kernel: kernelOf(tConv(bi)) } : { bn: denseNames.finalBn, kernel: DENSE_CLASSIFIER_KERNEL });
  return out;
}

/** Consumers of block `bi`'s stream that come after its layer `li`: the later layers, then the transition or classifier. */
const consumersAfter = (net: DenseNet, bi: number, li: number): Consumer[] => consumersFrom(net, bi, li + 1);

/**
 * Remap a consumer's input channels by `gHat` (new channel j reads old channel gHat[j]): BatchNorm parameters are
 * copied, kernel rows split among the replicas of each old channel. The kernel is [kh, kw, channels, cout] (a 1×1
 * conv reading the stream, or the 3×3 conv reading a widened bottleneck) or [channels, classes] (the classifier).
 */
function remapConsumer(weights: Weights, c: Consumer, gHat: Int32Array, opts: Opts, rng: Rng): void {
  const oldWidth = weights[bnOf(c.bn, 'gamma')].shape[0];
  for (const p of BN_PARAMS) {
    const name = bnOf(c.bn, p);
    weights[name] = { shape: [gHat.length], data: remapMiddleAxis(weights[name].data, 1, oldWidth, 1, gHat) };
  }
  const k = weights[c.kernel];
  const cout = k.shape[k.shape.length - 1];
  const outer = k.data.length / (oldWidth * cout);
  if (k.shape[k.shape.length - 2] !== oldWidth || !Number.isInteger(outer)) throw new Error(`${c.kernel} of shape [${k.shape.join(', ')}] does not read ${oldWidth} channels`);
  const factors = splitFactors(gHat, oldWidth, opts.split, rng);
  weights[c.kernel] = { shape: [...k.shape.slice(0, -2), gHat.length, cout], data: remapMiddleAxis(k.data, outer, oldWidth, cout, gHat, factors) };
}

/**
 * Net2Wider on a kernel's own output axis (its last), Eq. 1–2: filter j ≥ old width copies filter g[j] (random, with
 * repetition); the symmetry-breaking noise goes on afterwards (addDenseNoise). Returns g; the caller remaps whatever reads these outputs.
 */
function widenOutputs(weights: Weights, name: string, newWidth: number, opts: Opts, rng: Rng): Int32Array {
  const k = weights[name];
  const oldWidth = k.shape[k.shape.length - 1];
  const g = randomRemapping(oldWidth, newWidth, rng);
  const outer = k.data.length / oldWidth;
  const data = remapMiddleAxis(k.data, outer, oldWidth, 1, g);
  weights[name] = { shape: [...k.shape.slice(0, -1), newWidth], data };
  return g;
}

/**
 * Eq. 4: a consumer whose input had `oldWidth` channels, of which [off, off + oldCount) are replaced by `newCount`
 * channels reading old channel off + g[j]. Channels before are unchanged; channels after shift.
 */
function streamRemap(oldWidth: number, off: number, oldCount: number, g: Int32Array): Int32Array {
  const newCount = g.length;
  const out = new Int32Array(oldWidth - oldCount + newCount);
  for (let j = 0; j < out.length; j++) out[j] = j < off ? j : j < off + newCount ? off + g[j - off] : j - newCount + oldCount;
  return out;
}

/** Net2Wider for one dense layer: its 3×3 conv grows to `newGrowth` filters (Eq. 1–2), every consumer remaps (Eq. 4). */
function widenDenseLayer(net: DenseNet, weights: Weights, id: string, newGrowth: number, opts: Opts, rng: Rng): void {
  const { block: bi, index: li } = locateLayer(net, id);
  const layer = net.blocks[bi].layers[li];
  const off = denseShapes(net).blocks[bi].layerIn[li];
  const g = widenOutputs(weights, kernelOf(denseNames.conv2(id)), newGrowth, opts, rng);
  for (const c of consumersAfter(net, bi, li)) {
    const oldWidth = weights[bnOf(c.bn, 'gamma')].shape[0];
    // The stream's identity part plus the remapped O_l: Ĝm of Eq. 4, with the 1-based paper indices made 0-based.
    remapConsumer(weights, c, streamRemap(oldWidth, off, layer.growth, g), opts, rng);
  }
}

/**
 * Net2Wider for a dense layer's bottleneck (its 1×1 conv), as the authors widen `in_bottle` to bc_ratio · the new
 * growth rate: the 1×1 conv's filters are replicated (Eq. 1–2); its only reader is the layer's own BN-ReLU-3×3 conv,
 * whose BatchNorm is copied per replica and whose input rows are split among the replicas (Eq. 3). Exact, since BN and
 * ReLU act per channel.
 */
function widenBottleneck(weights: Weights, id: string, newWidth: number, opts: Opts, rng: Rng): void {
  const g = widenOutputs(weights, kernelOf(denseNames.conv1(id)), newWidth, opts, rng);
  remapConsumer(weights, { bn: denseNames.bn2(id), kernel: kernelOf(denseNames.conv2(id)) }, g, opts, rng);
}

/**
 * Net2Wider for the stem (block 0's O0) or the transition after block `bi` − 1 (block bi's O0): the conv's filters are
 * replicated, and every reader of that block's stream (all of its layers, then its transition or the classifier) reads
 * the replicas with copied BatchNorm and split rows. The 2×2 average pool after a transition acts per channel, so it
 * commutes with the replication.
 */
function widenBlockInput(net: DenseNet, weights: Weights, bi: number, kernel: string, newWidth: number, opts: Opts, rng: Rng): void {
  const oldCount = weights[kernel].shape[3];
  const g = widenOutputs(weights, kernel, newWidth, opts, rng);
  for (const c of consumersFrom(net, bi, 0)) {
    const oldWidth = weights[bnOf(c.bn, 'gamma')].shape[0];
    remapConsumer(weights, c, streamRemap(oldWidth, 0, oldCount, g), opts, rng);
  }
}

/** The weights of `rewidenDenseNet`: from `from` (an action's structure) to `to` (the same, stem and transitions re-widened). */
function rewidenWeights(from: DenseNet, to: DenseNet, weights: Weights, opts: Opts, rng: Rng): void {
  let step = from;
  if (to.stem.filters > step.stem.filters) {
    widenBlockInput(step, weights, 0, kernelOf(denseNames.stem), to.stem.filters, opts, rng);
    step = { ...step, stem: { ...to.stem } };
  }
  to.blocks.forEach((b, bi) => {
    const before = step.blocks[bi].transition;
    if (b.transition === undefined || before === undefined || b.transition <= before) return;
    widenBlockInput(step, weights, bi + 1, kernelOf(tConv(bi)), b.transition, opts, rng);
    step = { ...step, blocks: step.blocks.map((x, i) => (i === bi ? { ...x, transition: b.transition } : x)) };
  });
}

/**
 * Net2Deeper for DenseNet: insert a layer after layer `position` (P) of a block whose output O_new replicates entries of
 * O_P ⊂ [O0 … O_P], so that every later consumer can read the new channels with split weights (as for widening).
 *
 * Why a copy of P and not the paper's identity filter ˆF: with DenseNet-BC's pre-activation (BN-ReLU before each conv),
 * the new layer sees relu(BN(x)), and raw conv outputs x take both signs, so no filter on the ReLU's output recovers x.
 * The authors' code (han-cai/EAS, DenseBlock.insert_miniblock, scheme 0) instead copies layer P: the new layer's
 * bottleneck reuses P's BatchNorm and 1×1 kernel on [O0 … O_P−1] with zero rows for the O_P channels it also sees, and
 * its 3×3 conv reuses P's filters in a random order with repetition, so O_new(j) = O_P(idx[j]) exactly — in inference
 * and training mode, with no batch statistics needed. With noise on, both of the new layer's kernels get it, as the
 * authors' code does (the `wider` noise on its 1×1 kernel and on the remapped 3×3 kernel).
 */
function insertDenseLayer(parent: DenseNet, child: DenseNet, weights: Weights, bi: number, position: number, opts: Opts, rng: Rng): void {
  const p = parent.blocks[bi].layers[position];
  const fresh = child.blocks[bi].layers[position + 1];
  const cin = denseShapes(parent).blocks[bi].layerIn[position];
  const g = p.growth;
  const B = p.bottleneck;
  const pad = (src: Float32Array, fill: number) => {
    const out = new Float32Array(cin + g).fill(fill);
    out.set(src);
    return out;
  };
  const identityBn = { gamma: 1, beta: 0, moving_mean: 0, moving_variance: 1 } as const;
  for (const param of BN_PARAMS) {
    weights[bnOf(denseNames.bn1(fresh.id), param)] = { shape: [cin + g], data: pad(weights[bnOf(denseNames.bn1(p.id), param)].data, identityBn[param]) };
    const bn2 = weights[bnOf(denseNames.bn2(p.id), param)];
    weights[bnOf(denseNames.bn2(fresh.id), param)] = { shape: [B], data: new Float32Array(bn2.data) };
  }
  const k1 = weights[kernelOf(denseNames.conv1(p.id))];
  const conv1 = new Float32Array((cin + g) * B);
  conv1.set(k1.data);
  weights[kernelOf(denseNames.conv1(fresh.id))] = { shape: [1, 1, cin + g, B], data: conv1 };
  const idx = new Int32Array(g);
  for (let j = 0; j < g; j++) idx[j] = rng.int(0, g - 1);
  const k2 = weights[kernelOf(denseNames.conv2(p.id))];
  const conv2 = remapMiddleAxis(k2.data, k2.data.length / g, g, 1, idx);
  weights[kernelOf(denseNames.conv2(fresh.id))] = { shape: [3, 3, B, g], data: conv2 };

  // Consumers after P in the parent: their stream gains O_new right after O_P, reading O_P's channels.
  const identityAndNew = new Int32Array(2 * g);
  for (let j = 0; j < g; j++) {
    identityAndNew[j] = j;
    identityAndNew[g + j] = idx[j];
  }
  for (const c of consumersAfter(parent, bi, position)) {
    const oldWidth = weights[bnOf(c.bn, 'gamma')].shape[0];
    remapConsumer(weights, c, streamRemap(oldWidth, cin, g, identityAndNew), opts, rng);
  }
}

export interface DenseNetwork {
  net: DenseNet;
  /** With the configured noise (the child the search saves). */
  weights: Weights;
  /** The same child without the noise: computes the parent's function exactly (`weights` itself without noise). */
  exact: Weights;
}

/**
 * Apply a sequence of DenseNet actions, each on the previous result. Pure: inputs are not modified; the result owns
 * fresh weight arrays. `rng` draws the remappings and the random splits; noise comes from a stream derived from it.
 */
export function applyDenseActions(net: DenseNet, weights: Weights, actions: readonly DenseAction[], space: DenseSpace, rng: Rng, options: DenseTransformOptions = {}): DenseNetwork {
  const { noise, ...exactOpts } = DenseTransformOptionsSchema.parse(options);
  // The steps build the exact (noise-free) child; the noise goes on afterwards, on copies (addDenseNoise), so the
  // child the search saves and the twin it checks come from one application. Noise draws from its own stream, seeded
  // from the rng's state without advancing it.
  const noiseRng = noise > 0 ? Rng.fromSeed(deriveSeed(0, 'transform-noise', ...rng.state())) : rng;
  const opts = { ...exactOpts, noise: 0 };
  validateDenseNet(net);
  validateDenseWeights(net, weights);
  const w = cloneWeights(weights);
  let current = net;
  actions.forEach((raw, i) => {
    const parsed = DenseActionSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`action ${i}: not a valid DenseNet action: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'value'}: ${x.message}`).join('; ')}`);
    const action = parsed.data;
    let structure: DenseNet;
    let child: DenseNet;
    try {
      structure = applyDenseActionStructure(current, action, space);
      child = rewidenDenseNet(structure, space);
    } catch (err) {
      throw new Error(`action ${i} (${JSON.stringify(action)}): ${(err as Error).message}`, { cause: err });
    }
    if (action.type === 'wider') {
      // Widen one layer at a time, each step on the network as widened so far, so the offsets stay right: its
      // bottleneck first, then its 3×3 conv, as the authors' apply_wider_decision does.
      let step = current;
      const update = (id: string, change: { growth?: number; bottleneck?: number }) => {
        step = validateDenseNet({ ...step, blocks: step.blocks.map((x) => ({ ...x, layers: x.layers.map((y) => (y.id === id ? { ...y, ...change } : y)) })) });
      };
      for (const b of structure.blocks) {
        for (const l of b.layers) {
          const before = step.blocks.flatMap((x) => x.layers).find((x) => x.id === l.id)!;
          if (l.bottleneck > before.bottleneck) {
            widenBottleneck(w, l.id, l.bottleneck, opts, rng);
            update(l.id, { bottleneck: l.bottleneck });
          }
          if (l.growth > before.growth) {
            widenDenseLayer(step, w, l.id, l.growth, opts, rng);
            update(l.id, { growth: l.growth });
          }
        }
      }
    } else {
      insertDenseLayer(current, structure, w, action.block, action.position, opts, rng);
    }
    rewidenWeights(structure, child, w, opts, rng);
    current = child;
  });
  validateDenseWeights(current, w);
  return { net: current, weights: noise > 0 ? addDenseNoise(weights, w, noise, noiseRng) : w, exact: w };
}

/**
 * The symmetry-breaking noise on copies of the kernels the steps grew, as the authors add it (N(0, (ratio · the
 * kernel's std)²)): on every new output channel of a kernel the parent had (the replicas' incoming weights: widened
 * bottlenecks, 3×3 convs, stem and transitions) and on the whole kernels of inserted dense layers (the authors' remap
 * of a new layer takes the wider noise on both its kernels). Other arrays are shared with `exact`.
 */
function addDenseNoise(parent: Weights, exact: Weights, ratio: number, rng: Rng): Weights {
  const out: Weights = { ...exact };
  for (const name of Object.keys(exact)) {
    if (!name.endsWith('/kernel') || exact[name].shape.length !== 4) continue;
    const k = exact[name];
    const outC = k.shape[3];
    const from = parent[name] ? parent[name].shape[3] : 0;
    if (from >= outC) continue;
    const data = new Float32Array(k.data);
    const sigma = ratio * std(k.data);
    const added = outC - from;
    const z = rng.normals((data.length / outC) * added);
    for (let i = 0, j = 0; i < data.length; i += outC) for (let c = from; c < outC; c++) data[i + c] += sigma * z[j++];
    out[name] = { shape: [...k.shape], data };
  }
  return out;
}
