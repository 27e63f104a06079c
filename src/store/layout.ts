/**
 * Where everything of a search lives: runs/<search id>/… . Every activity's output location is a function of
 * (search, stage, episode, candidate), which is what makes the activities idempotent.
 * Pure string joins (no Node APIs) so that the workflow can name locations too.
 */
const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const join = (...parts: string[]): string => parts.join('/');

export interface CandidateId {
  stage: number;
  episode: number;
  index: number;
}

/** "s1-e002-c07": stage (1-based), episode, candidate. */
export const candidateName = (c: CandidateId): string => `s${c.stage + 1}-e${pad(c.episode, 3)}-c${pad(c.index, 2)}`;

export class RunLayout {
  /** `runDir` is the resolved folder of one search: <storage root>/<search id>. */
  constructor(readonly dir: string) {}

  config(): string {
    return join(this.dir, 'config.json');
  }
  /**
   * The search's data probe, made once by prepareSearch: the training split's normalisation statistics (probe.json)
   * and a seeded sample of normalised training images (probe.f32) for the transforms' preservation checks and
   * Net2Deeper's BatchNorm statistics, so no transform loads the dataset.
   */
  probe(): { meta: string; images: string } {
    return { meta: join(this.dir, 'data', 'probe.json'), images: join(this.dir, 'data', 'probe.f32') };
  }
  /** Training job of the start network; its untrained form is start/init. */
  start(): string {
    return join(this.dir, 'start');
  }
  policy(updates: number): string {
    return join(this.dir, 'policy', `policy-${pad(updates, 4)}.json`);
  }
  stage(stage: number): string {
    return join(this.dir, `stage-${stage + 1}`);
  }
  stageSummary(stage: number): string {
    return join(this.stage(stage), 'summary.json');
  }
  episode(stage: number, episode: number): string {
    return join(this.stage(stage), `episode-${pad(episode, 3)}`);
  }
  samples(stage: number, episode: number): string {
    return join(this.episode(stage, episode), 'samples.json');
  }
  /** A candidate's training job folder; the transformed, untrained network is its init/. */
  candidate(c: CandidateId): string {
    return join(this.episode(c.stage, c.episode), `candidate-${pad(c.index, 2)}`);
  }
  /** Training job of the stage's best network, trained longer to become the next stage's start. */
  stageBest(stage: number): string {
    return join(this.stage(stage), 'best');
  }
  final(rank: number): string {
    return join(this.dir, 'final', `top-${rank + 1}`);
  }
  /** Training job of the start network given the final training: every result's reference (config final.reference). */
  finalReference(): string {
    return join(this.dir, 'final', 'reference');
  }
  result(): string {
    return join(this.dir, 'result.json');
  }
}

/** Inside a training job folder: the network it starts from, epoch checkpoints, and the finished network. */
export const jobPaths = (jobDir: string) => ({ init: join(jobDir, 'init'), work: join(jobDir, 'work'), trained: join(jobDir, 'trained') });

/**
 * An experiment's own folder, <storage root>/<experiment id> (issue 21): its plan (experiment.json), one record per
 * finished child (children/<child id>.json), the comparison (summary.json). Its children are searches of their own,
 * each in <storage root>/<child id>.
 */
export class ExperimentLayout {
  constructor(readonly dir: string) {}

  record(): string {
    return join(this.dir, 'experiment.json');
  }
  child(childId: string): string {
    return join(this.dir, 'children', `${childId}.json`);
  }
  summary(): string {
    return join(this.dir, 'summary.json');
  }
  report(): string {
    return join(this.dir, 'report');
  }
}

/** A reference child's folder (<storage root>/<child id>): its final-recipe training job and its record. */
export const referencePaths = (runDir: string) => ({ job: join(runDir, 'reference'), record: join(runDir, 'reference.json') });
