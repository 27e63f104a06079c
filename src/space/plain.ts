import { type Action, ActionSchema, type Arch, ArchSchema, type SearchSpace as PlainSettings, SearchSpaceSchema, applyActionToArch, blocks, canonicalKey, deeperPositionMask, depth as archDepth, paramCount, parseNotation, toNotation, validateArch, widenable } from '../arch';
import { isDenseNotation } from '../densenet/notation';
import { Vocabulary } from './plain-vocab';
import type { ConfigIssue, DeeperChoice, DeeperMasks, Heads, NetView, SearchSpace, SpaceConfigCheck } from './types';

/** Pool tokens of the plain vocabulary: both ops, sizes up to this, strides up to the size (ControllerConfig.poolMaxSize). */
export const DEFAULT_POOL_MAX_SIZE = 8;

/**
 * The paper's plain CNN space ("Explore Plain CNN Architecture Space"): conv/pool/fc stacks in the paper's notation,
 * Net2Wider to the next of the space's widths, Net2Deeper inserting an identity conv (with a kernel choice) or fc.
 * The controller reads one token per layer (src/space/plain-vocab.ts); blocks are the conv runs between pools, then the
 * fc block (src/arch/analysis.ts `blocks`).
 */
export class PlainSpace implements SearchSpace<Arch, Action> {
  readonly kind = 'plain';
  readonly netSchema = ArchSchema;
  readonly actionSchema = ActionSchema;
  readonly settings: PlainSettings;
  private readonly vocab: Vocabulary;
  /** The settings networks must stay within (validate, parse); none for a space that only reads stored networks. */
  private readonly bounds: PlainSettings | undefined;

  constructor(settings: unknown = {}, opts: { poolMaxSize?: number; unbounded?: boolean } = {}) {
    this.settings = SearchSpaceSchema.parse(settings);
    this.vocab = new Vocabulary(this.settings, opts.poolMaxSize ?? DEFAULT_POOL_MAX_SIZE);
    this.bounds = opts.unbounded ? undefined : this.settings;
  }

  owns(raw: unknown): boolean {
    return ArchSchema.safeParse(raw).success;
  }
  validate(net: Arch): Arch {
    validateArch(net, this.bounds);
    return net;
  }
  parse(notation: string, input: readonly [number, number, number]): Arch {
    return parseNotation(notation, [...input], this.bounds);
  }
  /** The paper's notation: anything that is not a DenseNet's (no D(…) blocks). */
  readonly isNotation = (text: string): boolean => !isDenseNotation(text);
  readonly notation = toNotation;
  readonly key = canonicalKey;
  readonly params = paramCount;
  readonly depth = archDepth;

  get vocabSize(): number {
    return this.vocab.size;
  }
  get kernelChoices(): number {
    return this.settings.convKernels.length;
  }
  view(net: Arch): NetView {
    const mask = widenable(net, this.settings);
    return { tokens: this.vocab.encode(net), widenMask: mask, layerIds: net.layers.map((l) => (l.type === 'pool' ? null : l.id)) };
  }
  /** Blocks with no valid position are invalid; blocks and positions beyond the heads cannot be chosen; the fc block takes no kernel. */
  deeperMasks(net: Arch, heads: Heads): DeeperMasks {
    const positionMasks = deeperPositionMask(net, this.settings).map((row, b) => row.map((ok, p) => ok && b < heads.maxBlocks && p < heads.maxPositions));
    const blockMask = positionMasks.map((row) => row.some(Boolean));
    if (!blockMask.some(Boolean)) throw new Error('no valid Net2Deeper choice on this network (no block has a valid position within the policy heads)');
    const kernels = this.settings.convKernels.map(() => true);
    return { blockMask, positionMasks, kernelMasks: blocks(net).map((b) => (b.kind === 'conv' ? kernels : null)) };
  }
  widerAction(net: Arch, widen: readonly boolean[]): Action {
    return { type: 'wider', layers: net.layers.filter((_, j) => widen[j] === true).map((l) => l.id) };
  }
  deeperAction(_net: Arch, c: DeeperChoice): Action {
    return c.kernelIndex !== null ? { type: 'deeper', block: c.block, position: c.position, kernel: this.settings.convKernels[c.kernelIndex] } : { type: 'deeper', block: c.block, position: c.position };
  }
  apply(net: Arch, action: Action): Arch {
    return applyActionToArch(net, action, this.settings);
  }
  describeAction(a: Action): string {
    return a.type === 'wider' ? `wider ${a.layers.join(', ') || '(none)'}` : `deeper block ${a.block} after ${a.position}${a.kernel !== undefined ? `, kernel ${a.kernel}` : ''}`;
  }

  /** The start net parses in the space; a wider step needs a width level above the narrowest. */
  checkConfig(c: SpaceConfigCheck): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    if (c.notation !== undefined) {
      try {
        if (!this.isNotation(c.notation)) throw new Error('searchSpace.kind is "plain" but the notation is a DenseNet (D(…) blocks); set searchSpace.kind: densenet');
        const arch = this.parse(c.notation, c.input);
        if (arch.classes !== c.classes) issues.push({ path: 'startNet.notation', message: `ends in SM(${arch.classes}) but ${c.dataset} has ${c.classes} classes` });
      } catch (err) {
        issues.push({ path: 'startNet.notation', message: err instanceof Error ? err.message : String(err) });
      }
    }
    const { convFilters, fcUnits } = this.settings;
    const levels = Math.max(convFilters.length, fcUnits.length) - 1;
    c.stages.forEach((st, i) => {
      if (st.widerSteps > levels) issues.push({ path: `stages.${i}.widerSteps`, message: `${st.widerSteps} wider steps, but the space has ${levels} width level(s) above the narrowest (searchSpace.convFilters, searchSpace.fcUnits)` });
    });
    return issues;
  }
}
