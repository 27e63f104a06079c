import { nextWidth } from '../arch/space';
import { type DenseAction, DenseActionSchema, applyDenseActionToNet, denseDeeperMask, denseWidenable } from '../densenet/actions';
import { denseCanonicalKey, denseDepth, denseParamCount, validateDenseNet } from '../densenet/analysis';
import { isDenseNotation, parseDenseNotation, toDenseNotation } from '../densenet/notation';
import { type DenseNet, DenseNetSchema, type DenseSpace, DenseSpaceSchema } from '../densenet/schema';
import type { ConfigIssue, DeeperChoice, DeeperMasks, Heads, NetView, SearchSpace, SpaceConfigCheck } from './types';

const UNK_ID = 1;

/**
 * DenseNet-BC ("Explore DenseNet Architecture Space"): growth-rate widening (Eq. 4) and dense-layer insertion.
 * The controller reads one token per part, in network order: the stem, each dense layer (by growth rate), each
 * transition and the classifier; the wider actor is masked to dense layers whose growth can still grow to the next of
 * the space's rates; the deeper actor picks a block, then a position in it (insert after that layer), with no kernel.
 */
export class DenseNetSpace implements SearchSpace<DenseNet, DenseAction> {
  readonly kind = 'densenet';
  readonly netSchema = DenseNetSchema;
  readonly actionSchema = DenseActionSchema;
  readonly settings: DenseSpace;
  /** <pad>, <unk>, stem, transition, classifier, then dense-g for every growth rate of the space. */
  readonly tokens: string[];
  private readonly ids: Map<string, number>;

  constructor(settings: unknown = {}) {
    this.settings = DenseSpaceSchema.parse(settings);
    this.tokens = ['<pad>', '<unk>', 'stem', 'transition', 'classifier', ...this.settings.growthRates.map((g) => `dense-${g}`)];
    this.ids = new Map(this.tokens.map((t, i) => [t, i]));
  }

  owns(raw: unknown): boolean {
    return typeof raw === 'object' && raw !== null && (raw as { space?: unknown }).space === 'densenet';
  }
  validate(net: DenseNet): DenseNet {
    return validateDenseNet(net);
  }
  parse(notation: string, input: readonly [number, number, number]): DenseNet {
    return parseDenseNotation(notation, [...input], this.settings.bottleneckFactor);
  }
  readonly isNotation = isDenseNotation;
  /** `g:b` where a layer's bottleneck is not bottleneckFactor·g. */
  notation(net: DenseNet): string {
    return toDenseNotation(net, this.settings.bottleneckFactor);
  }
  readonly key = denseCanonicalKey;
  readonly params = denseParamCount;
  readonly depth = denseDepth;

  get vocabSize(): number {
    return this.tokens.length;
  }
  readonly kernelChoices = 0;
  private id(token: string): number {
    return this.ids.get(token) ?? UNK_ID;
  }
  view(net: DenseNet): NetView {
    const widenable = denseWidenable(net, this.settings);
    const v: NetView = { tokens: [this.id('stem')], widenMask: [false], layerIds: [null] };
    const push = (token: string, widen: boolean, id: string | null) => {
      v.tokens.push(this.id(token));
      v.widenMask.push(widen);
      v.layerIds.push(id);
    };
    net.blocks.forEach((b, bi) => {
      b.layers.forEach((l, li) => push(`dense-${l.growth}`, widenable[bi][li], l.id));
      if (b.transition !== undefined) push('transition', false, null);
    });
    push('classifier', false, null);
    return v;
  }
  deeperMasks(net: DenseNet, heads: Heads): DeeperMasks {
    const positionMasks = denseDeeperMask(net, this.settings).map((row, b) => row.map((ok, p) => ok && b < heads.maxBlocks && p < heads.maxPositions));
    const blockMask = positionMasks.map((row) => row.some(Boolean));
    if (!blockMask.some(Boolean)) throw new Error('no valid DenseNet deeper choice (every block is full or beyond the policy heads)');
    return { blockMask, positionMasks, kernelMasks: positionMasks.map(() => null) };
  }
  widerAction(net: DenseNet, widen: readonly boolean[]): DenseAction {
    return { type: 'wider', layers: this.view(net).layerIds.filter((id, j): id is string => widen[j] === true && id !== null) };
  }
  deeperAction(_net: DenseNet, c: DeeperChoice): DenseAction {
    return { type: 'deeper', block: c.block, position: c.position };
  }
  apply(net: DenseNet, action: DenseAction): DenseNet {
    return applyDenseActionToNet(net, action, this.settings);
  }
  describeAction(a: DenseAction): string {
    return a.type === 'wider' ? `wider growth ${a.layers.join(', ') || '(none)'}` : `deeper block ${a.block} after ${a.position}`;
  }

  /** The start net is a DenseNet of the dataset's classes that wider and deeper steps can still grow. */
  checkConfig(c: SpaceConfigCheck): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    const { growthRates, maxLayersPerBlock } = this.settings;
    let net: DenseNet | undefined;
    if (c.notation !== undefined) {
      try {
        if (!this.isNotation(c.notation)) throw new Error('searchSpace.kind is "densenet" but the notation is not a DenseNet (expected e.g. "C(24,3), D(12*6), T(48), D(12*6), SM(10)")');
        net = validateDenseNet(this.parse(c.notation, c.input));
        if (net.classes !== c.classes) issues.push({ path: 'startNet.notation', message: `ends in SM(${net.classes}) but ${c.dataset} has ${c.classes} classes` });
      } catch (err) {
        issues.push({ path: 'startNet.notation', message: err instanceof Error ? err.message : String(err) });
      }
    }
    // No bound on wider steps from the growth levels: each step widens a random subset of the layers (Bernoulli per
    // layer), so a layer reaches a high rate only when it is picked in several steps (the authors take 10 steps over 6
    // levels); a step on a layer already at the top is masked out.
    if (net) {
      const full = net.blocks.findIndex((b) => b.layers.length > maxLayersPerBlock);
      if (full >= 0) issues.push({ path: 'searchSpace.maxLayersPerBlock', message: `the start net's block ${full + 1} already has ${net.blocks[full].layers.length} layers, above maxLayersPerBlock ${maxLayersPerBlock}` });
      else if (c.stages.some((s) => s.deeperSteps > 0) && net.blocks.every((b) => b.layers.length >= maxLayersPerBlock)) {
        issues.push({ path: 'searchSpace.maxLayersPerBlock', message: `every block of the start net has ${maxLayersPerBlock} layers already: no deeper step can be taken` });
      }
      const top = growthRates[growthRates.length - 1];
      if (c.stages.some((s) => s.widerSteps > 0) && net.blocks.every((b) => b.layers.every((l) => nextWidth(growthRates, l.growth) === undefined))) {
        issues.push({ path: 'searchSpace.growthRates', message: `every dense layer of the start net is at growth ${top} or above, the space's largest: no wider step can be taken` });
      }
    }
    return issues;
  }
}
