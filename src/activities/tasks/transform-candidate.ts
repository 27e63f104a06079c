import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { initBackend } from '../../backend';
import { CHECKPOINT_FILES, loadNetwork, saveNetwork } from '../../checkpoint';
import { networkSpaceOf } from '../../space/networks';
import { claimInputs } from '../../store/inputs';
import { RunLayout } from '../../store/layout';
import { networkRef } from '../../store/network-ref';
import { CHECK_BATCH, PROBE_BATCH, readProbe } from '../../store/probe';
import { inStore } from '../../store/root';
import { maxAbsDiff as maxAbsLogitDiff } from '../../transform/verify';
import { readJsonFile } from '../../util/files';
import { type TransformOutput, TransformInputSchema } from '../contract';
import { FunctionNotPreservedError, StoreFileError } from '../errors';
import { cachedRead, log, parseEnvelope } from './envelope';

const TransformMetaSchema = z.object({ maxAbsDiff: z.number() }).passthrough();

/** The preservation figure a transform recorded in the meta of the network it published. */
function publishedMaxAbsDiff(output: string): number {
  return readJsonFile(path.join(output, CHECKPOINT_FILES.meta), TransformMetaSchema, 'transformed network meta', StoreFileError).maxAbsDiff;
}

/**
 * Applies the sampled actions to the stage's start network with the search space's function-preserving transform,
 * checks that the noise-free twin computes the parent's function, and publishes the (noisy) child.
 */
export async function transformCandidateTask(raw: unknown): Promise<TransformOutput> {
  const { root, input } = parseEnvelope(TransformInputSchema, raw, 'transformCandidate');
  const output = inStore(root, input.output);
  const { storageRoot: _root, name: _name, ...determining } = input;
  claimInputs(output, determining, `the transformed network ${input.name}`);
  if (fs.existsSync(output)) return { network: networkRef(root, input.name, output), maxAbsDiff: publishedMaxAbsDiff(output) };
  await initBackend({ log });
  const space = networkSpaceOf(input.searchSpace);
  const parentDir = inStore(root, input.start);
  const runDir = inStore(root, input.runDir);
  const parentFile = path.join(parentDir, CHECKPOINT_FILES.weights);
  const parent = cachedRead(parentFile, `network ${parentDir}`, () => loadNetwork(parentDir));
  if (parent.space.kind !== space.kind) throw new StoreFileError(parentFile, `holds a ${parent.space.kind} network, the search's space is ${space.kind}`);
  const probe = cachedRead(new RunLayout(runDir).probe().images, `probe ${runDir}`, () => readProbe(runDir));
  const [h, w, c] = probe.meta.shape;
  const per = h * w * c;
  const n = Math.min(PROBE_BATCH, probe.meta.count);
  const batch = tf.tensor4d(probe.images.subarray(0, n * per), [n, h, w, c]);
  // The check always reads the probe's first images, so the parent's logits on them are computed once per parent.
  const checkCount = Math.min(CHECK_BATCH, probe.meta.count);
  const checkBatch = tf.tensor4d(probe.images.subarray(0, checkCount * per), [checkCount, h, w, c]);
  const memo = <T>(key: string, compute: () => T): T => cachedRead(parentFile, `${key} ${parentDir}`, compute);
  try {
    const opts = parent.modelOptions;
    const child = space.transform({ net: parent.arch, weights: parent.weights }, input.actions, { seed: input.seed, batch, transform: input.transform, bnEpsilon: opts.bnEpsilon, memo });
    // The authors' symmetry-breaking noise changes the function by design, so preservation is checked on the noise-free
    // twin, while the written child is flushed to disk; a child that fails it is never published.
    let maxAbsDiff = NaN;
    const check = () => {
      const parentLogits = memo(`logits ${checkCount}`, () => space.logits(parent.arch, parent.weights, checkBatch, opts));
      maxAbsDiff = maxAbsLogitDiff(parentLogits, space.logits(child.net, child.exact, checkBatch, opts));
      if (!(maxAbsDiff <= input.tolerance)) {
        throw new FunctionNotPreservedError(`${input.name}: the transformed network (without noise) differs from its parent by ${maxAbsDiff} (> ${input.tolerance}) in its logits`);
      }
      return { maxAbsDiff };
    };
    const published = await saveNetwork(output, child.net, child.weights, { parent: input.start, actions: input.actions, transform: input.transform }, { model: opts, beforePublish: check });
    // Another attempt published first (its check passed): report that artifact's figure.
    if (!published) maxAbsDiff = publishedMaxAbsDiff(output);
    return { network: networkRef(root, input.name, output), maxAbsDiff };
  } finally {
    batch.dispose();
    checkBatch.dispose();
  }
}
