import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareSpec, progressSpec } from './figures';
import { type CompareInfo, type Figure, reportHtml } from './html';
import { lineages } from './lineage';
import { replaceDirAtomic } from './output';
import { renderFigure } from './render';
import { type RunView, loadRunView, locateRun, resolveStorageRoot } from './runview';
import { pullSearch } from '../store/storage';

export * from './runview';
export * from './lineage';
export * from './reference';
export * from './figures';
export { renderFigure, renderSvg, svgToPng } from './render';
export { replaceDirAtomic } from './output';
export { reportHtml, escapeHtml } from './html';
export { writeExperimentReport, experimentFig5Spec, type ExperimentReportOutput } from './compare-experiment';

export const REPORT_MARKER = 'report.json';

export interface ReportOptions {
  searchId: string;
  /** Storage root (default: EAS_STORAGE_ROOT, else "runs"). */
  runs?: string;
  /** Output directory (default `<root>/<id>/report`). */
  out?: string;
  /** Search id of a comparison run in the same root (default: `<id>-random` when it exists). */
  compare?: string;
}

export interface ReportOutput {
  dir: string;
  html: string;
  /** progress.png (and compare.png when a comparison run exists). */
  pngs: string[];
  svgs: string[];
  complete: boolean;
  compare: { searchId: string; source: 'option' | 'sibling' } | null;
}

async function writeFigure(dir: string, base: string, spec: Parameters<typeof renderFigure>[0], files: { pngs: string[]; svgs: string[] }): Promise<Figure> {
  const { svg, png } = await renderFigure(spec);
  fs.writeFileSync(path.join(dir, `${base}.svg`), svg);
  fs.writeFileSync(path.join(dir, `${base}.png`), png);
  files.svgs.push(`${base}.svg`);
  files.pngs.push(`${base}.png`);
  return { file: `${base}.svg`, svg };
}

/** Write the report of one search (HTML page + figures) atomically into its output directory. */
export async function writeReport(opts: ReportOptions): Promise<ReportOutput> {
  const root = resolveStorageRoot(opts.runs);
  // From an object store: the search (and its comparison run) pulled into this host's cache first.
  await Promise.all([opts.searchId, opts.compare ?? `${opts.searchId}-random`].map((id) => pullSearch(opts.runs, id)));
  const runDir = locateRun(root, opts.searchId);
  const view = loadRunView(runDir, opts.searchId);

  let compareView: RunView | null = null;
  let source: 'option' | 'sibling' | null = null;
  let compareNote = '';
  if (opts.compare !== undefined) {
    if (opts.compare === opts.searchId) throw new Error(`--compare ${opts.compare}: a search cannot be compared with itself`);
    compareView = loadRunView(locateRun(root, opts.compare), opts.compare);
    source = 'option';
  } else {
    const sibling = `${opts.searchId}-random`;
    if (fs.existsSync(path.join(root, sibling))) {
      compareView = loadRunView(locateRun(root, sibling), sibling);
      source = 'sibling';
    } else {
      compareNote = `No comparison run: no sibling run ${sibling} in ${root}, and none given with --compare <id>.`;
    }
  }

  const out = path.resolve(opts.out ?? path.join(runDir, 'report'));
  const files = { pngs: [] as string[], svgs: [] as string[] };
  let compare: CompareInfo | null = null;
  await replaceDirAtomic(out, REPORT_MARKER, async (tmp) => {
    const progress = view.candidates.length > 0 ? await writeFigure(tmp, 'progress', progressSpec(view), files) : null;
    if (compareView && source) {
      const figure = await writeFigure(tmp, 'compare', compareSpec(view, compareView), files);
      compare = { view: compareView, source, figure };
    }
    const generatedAt = new Date().toISOString();
    const html = reportHtml({ view, root, progress, compare, compareNote, lineages: lineages(view), generatedAt });
    fs.writeFileSync(path.join(tmp, 'index.html'), html);
    fs.writeFileSync(
      path.join(tmp, REPORT_MARKER),
      JSON.stringify(
        {
          searchId: view.searchId,
          runDir: view.runDir,
          complete: view.complete,
          candidates: view.candidates.length,
          pending: view.pending.length,
          compare: compareView ? { searchId: compareView.searchId, source } : null,
          files: ['index.html', ...files.svgs, ...files.pngs],
          generatedAt,
        },
        null,
        2,
      ) + '\n',
    );
  });
  return {
    dir: out,
    html: path.join(out, 'index.html'),
    pngs: files.pngs.map((f) => path.join(out, f)),
    svgs: files.svgs.map((f) => path.join(out, f)),
    complete: view.complete,
    compare: compareView && source ? { searchId: compareView.searchId, source } : null,
  };
}
