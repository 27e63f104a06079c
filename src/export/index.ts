import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { z } from 'zod';
import type { NetworkRef } from '../store/records';
import * as tf from '@tensorflow/tfjs';
import { CHECKPOINT_FILES, loadNetwork } from '../checkpoint';
import { buildInferenceModelOf } from '../nn/network';
import { loadSplits } from '../data/protocol';
import { TrainDatasetSchema, TrainResultSchema } from '../train/job';
import { replaceDirAtomic } from '../report/output';
import { readJsonFile } from '../util/files';
import { type RunView, RunStoreError, loadRunView, locateRun, resolveNetworkDir, resolveStorageRoot } from '../report/runview';
import { isObjectStoreUrl, pullSearch, uploadFolder } from '../store/storage';
import { rankNetworks, topCandidates } from '../search/rules';
import { pointsText, ratioText } from '../report/reference';

/**
 * `eas export`: the best networks of a search as standalone TensorFlow.js Layers artifacts (model.json + weights.bin,
 * loadable with plain tf.loadLayersModel), each with its architecture, training curve, accuracy and the data
 * configuration that reproduces that accuracy. The exported model carries its input preprocessing: raw 0–255 pixels
 * in (float32 [n, h, w, c]), the dataset's normalisation as its first layer, logits out.
 */

export const EXPORT_MARKER = 'export.json';
export const DEFAULT_TOP = 3;

export interface ExportOptions {
  searchId: string;
  runs?: string;
  /** How many networks (default 3, or fewer when fewer exist). */
  top?: number;
  /** Output directory (default `<root>/<id>/export`), or s3://bucket/prefix (exported, then uploaded with export.json last). */
  out?: string;
}

export const ExportedNetworkSchema = z.object({
  rank: z.number().int().positive(),
  name: z.string(),
  /** The search candidate the network comes from. */
  from: z.string(),
  dir: z.string(),
  notation: z.string(),
  key: z.string(),
  params: z.number().int(),
  /** What the model takes: raw pixels, normalised by its first layer with these per-channel mean/std (0–255 units). */
  input: z.object({ pixels: z.literal('raw 0-255'), normalization: z.object({ mean: z.array(z.number()), std: z.array(z.number()) }) }),
  /** 'test' for final networks (trained on the full training set), 'validation' for search candidates. */
  metric: z.enum(['test', 'validation']),
  accuracy: z.number(),
  /** What the accuracy was measured on: the dataset configuration (with its seed) and the split. */
  evaluation: z.object({ mode: z.enum(['search', 'final']), split: z.enum(['test', 'validation']), images: z.number().int(), dataset: TrainDatasetSchema }),
  epochs: z.number().int(),
  backend: z.string(),
  source: z.string(),
  /** A final network against the start network given the same final training (test points, params ratio); absent without one. */
  vsStartNet: z.object({ testPoints: z.number().nullable(), paramRatio: z.number().nullable() }).optional(),
});
export type ExportedNetwork = z.infer<typeof ExportedNetworkSchema>;

export const ExportManifestSchema = z.object({
  searchId: z.string(),
  complete: z.boolean(),
  selectedBy: z.enum(['test accuracy of the final networks', 'validation accuracy of the search candidates']),
  networks: z.array(ExportedNetworkSchema),
  /** The start network given the same final training (the networks' `vsStartNet` reference); absent without one. */
  reference: z.object({ notation: z.string(), params: z.number().int(), testAccuracy: z.number().nullable() }).optional(),
  exportedAt: z.string(),
});
export type ExportManifest = z.infer<typeof ExportManifestSchema>;

export interface ExportOutput {
  dir: string;
  manifest: ExportManifest;
}

const NormalizationSchema = z.object({ mean: z.array(z.number()), std: z.array(z.number()) });
const CheckpointMetaSchema = z.object({ trainResult: TrainResultSchema, dataset: TrainDatasetSchema, normalization: NormalizationSchema.optional() }).passthrough();
type CheckpointMeta = z.infer<typeof CheckpointMetaSchema>;

/**
 * The normalisation the network was trained with: recorded in its meta by the train job, or (older checkpoints)
 * recomputed from the recorded data configuration, exactly as training computed it.
 */
async function trainedNormalization(meta: CheckpointMeta): Promise<z.infer<typeof NormalizationSchema>> {
  if (meta.normalization) return meta.normalization;
  const d = meta.dataset;
  const splits = await loadSplits({ dataset: d.name, dataDir: d.dataDir, mode: meta.trainResult.mode, seed: d.seed, validationSize: d.validationSize, limit: d.limit, download: d.download, synthetic: d.synthetic });
  return splits.normalization;
}

/** Save a tfjs model as model.json + weights.bin in `dir` (the standard Layers format, one weights file; loadable with plain tf.loadLayersModel). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData;
      if (!(data instanceof ArrayBuffer)) throw new Error('export: expected the weights as one ArrayBuffer');
      fs.writeFileSync(path.join(dir, 'weights.bin'), new Uint8Array(data));
      const json = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        userDefinedMetadata: artifacts.userDefinedMetadata,
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

interface Choice {
  from: string;
  network: NetworkRef;
}

/** The networks to export, best first: final networks by test accuracy, else candidates by validation accuracy. */
export function selectNetworks(view: RunView, top: number): { selectedBy: ExportManifest['selectedBy']; chosen: Choice[] } {
  if (view.final.length > 0) {
    const chosen = rankNetworks(view.final).slice(0, top);
    return { selectedBy: 'test accuracy of the final networks', chosen };
  }
  const chosen = topCandidates(view.candidates, top)
    .map((c) => ({ from: c.name, network: { ...c.network, name: c.name } }));
  return { selectedBy: 'validation accuracy of the search candidates', chosen };
}

/** A final network's gain over the start network given the same final training, when the run has one. */
function vsStartNet(view: RunView, name: string, metric: 'test' | 'validation'): Pick<ExportedNetwork, 'vsStartNet'> {
  const g = metric === 'test' ? view.reference?.gains.find((x) => x.name === name) : undefined;
  return g ? { vsStartNet: { testPoints: g.testPoints, paramRatio: g.paramRatio } } : {};
}

function readMeta(dir: string): CheckpointMeta {
  return readJsonFile(path.join(dir, CHECKPOINT_FILES.meta), CheckpointMetaSchema, "trained network's meta", RunStoreError);
}

const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

function networkReadme(n: ExportedNetwork, searchId: string): string {
  return `# ${n.name} — search ${searchId}

Rank ${n.rank} by ${n.metric} accuracy. Grown by EAS from the search's start network; comes from candidate ${n.from}.

- Architecture (paper notation): \`${n.notation}\`
- Parameters: ${n.params}
- ${n.metric === 'test' ? 'Test' : 'Validation'} accuracy: ${pct(n.accuracy)} (${n.accuracy}) on ${n.evaluation.images} images of the ${n.evaluation.split} split of '${n.evaluation.dataset.name}' (${n.evaluation.mode} mode; the data configuration is in accuracy.json)
- Trained for ${n.epochs} epochs on ${n.backend}

Files:
- \`model.json\`, \`weights.bin\`: TensorFlow.js Layers model (float32). Load with \`tf.loadLayersModel\` (e.g. \`tf.loadLayersModel('file://…/model.json')\` with tfjs-node, or an IOHandler over these two files). The model takes **raw pixels**: float32 [n, height, width, channels] with values 0–255 (its first layer, \`input_normalization\`, applies the dataset's per-channel normalisation, mean [${n.input.normalization.mean.map((v) => +v.toFixed(4)).join(', ')}], std [${n.input.normalization.std.map((v) => +v.toFixed(4)).join(', ')}]), and outputs **logits** (apply softmax for probabilities).
- \`arch.json\`: the architecture in eas's schema; \`notation.txt\`: the same in the paper's notation.
- \`history.json\`: training curve per epoch (loss, train accuracy, evaluation accuracy, learning rate, seconds).
- \`accuracy.json\`: the accuracy and what it was measured on.
`;
}

/** Export the best networks of a search atomically into `<root>/<id>/export` (or `out`). */
export async function exportNetworks(opts: ExportOptions): Promise<ExportOutput> {
  const top = opts.top ?? DEFAULT_TOP;
  if (!Number.isInteger(top) || top < 1) throw new Error(`--top must be a positive integer (got ${opts.top})`);
  const root = resolveStorageRoot(opts.runs);
  await pullSearch(opts.runs, opts.searchId);
  const runDir = locateRun(root, opts.searchId);
  const view = loadRunView(runDir, opts.searchId);
  const { selectedBy, chosen } = selectNetworks(view, top);
  if (chosen.length === 0) throw new RunStoreError(runDir, `search '${opts.searchId}' has no evaluated network to export yet`);

  // To an object store (s3://bucket/prefix): exported locally first, then uploaded with export.json last.
  const toBucket = opts.out !== undefined && isObjectStoreUrl(opts.out) ? opts.out : undefined;
  const out = toBucket ? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'eas-export-')), 'export') : path.resolve(opts.out ?? path.join(runDir, 'export'));
  const ref = view.reference?.network;
  const reference = ref ? { reference: { notation: ref.notation, params: ref.params, testAccuracy: ref.accuracy } } : {};
  const networks: ExportedNetwork[] = [];
  const exportedAt = new Date().toISOString();
  await replaceDirAtomic(out, EXPORT_MARKER, async (tmp) => {
    for (const [i, c] of chosen.entries()) {
      const src = resolveNetworkDir(view, c.network.dir);
      const { arch, space, weights, modelOptions } = loadNetwork(src); // validates model.json, weights.bin and arch.json together
      const meta = readMeta(src);
      const tr = meta.trainResult;
      const metric = tr.mode === 'final' ? 'test' : 'validation';
      const accuracy = tr.mode === 'final' ? tr.testAcc : tr.valAcc;
      if (accuracy === undefined) throw new RunStoreError(path.join(src, CHECKPOINT_FILES.meta), `trainResult has no ${metric} accuracy`);
      if (c.network.accuracy !== null && c.network.accuracy !== accuracy) {
        throw new RunStoreError(path.join(src, CHECKPOINT_FILES.meta), `${metric} accuracy ${accuracy} differs from the ${c.network.accuracy} recorded for ${c.network.name} in the run store`);
      }
      const normalization = await trainedNormalization(meta);
      const rank = i + 1;
      const dirName = `${rank}-${c.network.name}`;
      const dest = path.join(tmp, dirName);
      fs.mkdirSync(dest);
      const model = buildInferenceModelOf(space, arch, weights, normalization, { bnEpsilon: modelOptions.bnEpsilon });
      try {
        await saveLayersModel(model, dest);
      } finally {
        model.dispose();
      }
      fs.writeFileSync(path.join(dest, 'arch.json'), JSON.stringify(arch, null, 2) + '\n');
      fs.writeFileSync(path.join(dest, 'notation.txt'), space.notation(arch) + '\n');
      fs.writeFileSync(path.join(dest, 'history.json'), JSON.stringify({ mode: tr.mode, epochs: tr.epochs, history: tr.history, recipe: meta.recipe ?? null }, null, 2) + '\n');
      const record: ExportedNetwork = ExportedNetworkSchema.parse({
        rank,
        name: c.network.name,
        from: c.from,
        dir: dirName,
        notation: space.notation(arch),
        key: space.key(arch),
        params: space.params(arch),
        input: { pixels: 'raw 0-255', normalization: { mean: normalization.mean, std: normalization.std } },
        metric,
        accuracy,
        evaluation: { mode: tr.mode, split: metric, images: tr.evalImages, dataset: meta.dataset },
        epochs: tr.epochs,
        backend: tr.backend,
        source: src,
        ...vsStartNet(view, c.network.name, metric),
      });
      fs.writeFileSync(path.join(dest, 'accuracy.json'), JSON.stringify(record, null, 2) + '\n');
      fs.writeFileSync(path.join(dest, 'README.md'), networkReadme(record, view.searchId));
      networks.push(record);
    }
    const manifest: ExportManifest = { searchId: view.searchId, complete: view.complete, selectedBy, networks, ...reference, exportedAt };
    fs.writeFileSync(path.join(tmp, EXPORT_MARKER), JSON.stringify(manifest, null, 2) + '\n');
    const vs = (n: ExportedNetwork) => (n.vsStartNet ? ` | ${pointsText(n.vsStartNet.testPoints)}, ${ratioText(n.vsStartNet.paramRatio)} params` : reference.reference ? ' | –' : '');
    const rows = networks.map((n) => `| ${n.rank} | [${n.name}](${n.dir}/) | ${n.from} | \`${n.notation}\` | ${n.params} | ${n.metric} ${pct(n.accuracy)}${vs(n)} |`);
    const refLine = reference.reference
      ? `\nThe start network given the same final training (\`${reference.reference.notation}\`, ${reference.reference.params} params) tests ${reference.reference.testAccuracy === null ? '–' : pct(reference.reference.testAccuracy)}; "vs start net" is each network's gain over it in test-accuracy points and its parameter ratio.\n`
      : '';
    fs.writeFileSync(
      path.join(tmp, 'README.md'),
      `# Exported networks of search ${view.searchId}\n\n${view.complete ? '' : 'The search is still in progress.\n\n'}Selected by ${selectedBy}, best first.\n\n| rank | network | from | architecture | params | accuracy${reference.reference ? ' | vs start net' : ''} |\n|---|---|---|---|---|---|${reference.reference ? '---|' : ''}\n${rows.join('\n')}\n${refLine}`,
    );
  });
  if (toBucket) {
    try {
      await uploadFolder(toBucket, out, EXPORT_MARKER);
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  }
  return { dir: toBucket ?? out, manifest: { searchId: view.searchId, complete: view.complete, selectedBy, networks, ...reference, exportedAt } };
}
