import { SingleBar } from 'cli-progress';
import { type SearchProgress, describePause } from '../workflows/definitions';

export const pct = (a: number | null | undefined): string => (a == null ? '–' : `${(a * 100).toFixed(2)}%`);

export function describeProgress(p: SearchProgress): string {
  // pauseReason is absent from searches whose workflow predates it.
  const state = p.paused ? (p.pauseReason ? ` [paused: ${p.pauseReason.failures} × ${p.pauseReason.type}]` : ' [paused]') : p.stopping ? ' [stopping]' : '';
  const running = p.running.length ? ` | running: ${p.running.map((r) => `${r.kind} ${r.name}`).join(', ')}` : '';
  return `${p.phase}${state} | stage ${p.stage}/${p.stages} episode ${p.episode} | networks ${p.evaluatedTotal}/${p.plannedTotal} | policy updates ${p.policyUpdates} | best ${pct(p.best?.accuracy)}${running}`;
}

/** A live bar on a terminal (stage, episode, networks, best accuracy, ETA); one line per change elsewhere (logs, CI). */
export class ProgressView {
  private bar: SingleBar | undefined;
  private last = '';

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(p: SearchProgress): void {
    if (this.stream.isTTY) {
      const payload = { stage: `${p.stage}/${p.stages}`, episode: p.episode, phase: p.phase + (p.paused ? (p.pauseReason ? ` (paused: ${p.pauseReason.type})` : ' (paused)') : ''), best: pct(p.best?.accuracy) };
      if (!this.bar) {
        this.bar = new SingleBar(
          { format: 'stage {stage} episode {episode} {phase} |{bar}| {value}/{total} networks | best {best} | ETA {eta_formatted}', stream: this.stream, hideCursor: true, etaBuffer: 20, fps: 2 },
        );
        this.bar.start(Math.max(1, p.plannedTotal), p.evaluatedTotal, payload);
      }
      this.bar.setTotal(Math.max(1, p.plannedTotal));
      this.bar.update(p.evaluatedTotal, payload);
      this.notePause(p);
      return;
    }
    const line = describeProgress(p);
    if (line !== this.last) this.stream.write(`[eas] ${line}\n`);
    this.last = line;
    this.notePause(p);
  }

  private pauseSaid: string | null = null;

  /** Says once (on a terminal too) why the search paused itself. */
  private notePause(p: SearchProgress): void {
    const said = p.pauseReason ? describePause(p.pauseReason, p.searchId) : null;
    if (said && said !== this.pauseSaid) this.stream.write(`${this.stream.isTTY ? '\n' : ''}[eas] ${p.searchId} ${said}\n`);
    this.pauseSaid = said;
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
