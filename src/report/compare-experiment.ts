import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite/build/index';
import { type Comparison, compareExperiment, formatComparison } from '../experiment/compare';
import { loadExperiment, pullExperiment } from '../experiment/results';
import { ExperimentLayout } from '../store/layout';
import { accuracyAxisFormat } from './figures';
import { replaceDirAtomic } from './output';
import { escapeHtml } from './html';
import { FIGURE_CONFIG, renderFigure } from './render';

/**
 * An experiment's report (issue 21): Fig. 5 across seeds — every seed's running best validation accuracy against the
 * networks evaluated, thin, and each arm's band (min–max over its seeds) with its mean, thick — plus the comparison as
 * text and JSON, written atomically to <root>/<experiment>/report (or --out).
 */

export const EXPERIMENT_REPORT_MARKER = 'experiment-report.json';
const ARM_COLORS = ['#4c78a8', '#e45756', '#54a24b', '#b279a2', '#f58518'];

export interface BandRow {
  arm: string;
  evaluated: number;
  min: number;
  max: number;
  mean: number;
  seeds: number;
}

/** Per arm and number of networks evaluated: min, max and mean of the seeds' running bests (seeds that got that far). */
export function bands(c: Comparison): BandRow[] {
  const rows: BandRow[] = [];
  for (const arm of new Set(c.curves.map((k) => k.arm))) {
    const curves = c.curves.filter((k) => k.arm === arm);
    const n = Math.max(...curves.map((k) => k.best.length));
    for (let i = 0; i < n; i++) {
      const v = curves.map((k) => k.best[i]).filter((x) => x !== undefined && Number.isFinite(x));
      if (!v.length) continue;
      rows.push({ arm, evaluated: i + 1, min: Math.min(...v), max: Math.max(...v), mean: v.reduce((a, b) => a + b, 0) / v.length, seeds: v.length });
    }
  }
  return rows;
}

export function experimentFig5Spec(c: Comparison): TopLevelSpec {
  const lines = c.curves.flatMap((k) => k.best.map((b, i) => ({ arm: k.arm, seed: `${k.arm} s${k.seed}`, evaluated: i + 1, best: b })).filter((r) => Number.isFinite(r.best)));
  const band = bands(c);
  const arms = [...new Set(c.curves.map((k) => k.arm))];
  const color = { field: 'arm', type: 'nominal' as const, title: 'arm', scale: { domain: arms, range: ARM_COLORS.slice(0, Math.max(1, arms.length)) } };
  const fmt = accuracyAxisFormat(lines.map((l) => l.best));
  const x = { field: 'evaluated', type: 'quantitative' as const, title: 'networks evaluated', axis: { tickMinStep: 1, format: 'd' } };
  const seeds = new Set(c.curves.map((k) => k.seed)).size;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Best validation accuracy so far, per seed (cf. Figure 5)', subtitle: `${c.experimentId}: ${seeds} seeds; band = min–max over seeds, thick line = mean` },
    width: 560,
    height: 300,
    config: FIGURE_CONFIG,
    layer: [
      {
        data: { values: band },
        mark: { type: 'area', opacity: 0.18 },
        encoding: { x, y: { field: 'min', type: 'quantitative', title: 'best validation accuracy so far', axis: { format: fmt }, scale: { zero: false } }, y2: { field: 'max' }, color },
      },
      {
        data: { values: lines },
        mark: { type: 'line', strokeWidth: 1, opacity: 0.55 },
        encoding: { x, y: { field: 'best', type: 'quantitative' }, color, detail: { field: 'seed' }, tooltip: [{ field: 'seed' }, { field: 'evaluated' }, { field: 'best', format: '.2%' }] },
      },
      {
        data: { values: band },
        mark: { type: 'line', strokeWidth: 3, point: { filled: true, size: 30 } },
        encoding: { x, y: { field: 'mean', type: 'quantitative' }, color },
      },
    ],
  } as TopLevelSpec;
}

export interface ExperimentReportOutput {
  dir: string;
  html: string;
  comparison: Comparison;
  text: string;
  svg: string | null;
  png: string | null;
}

/** The comparison of an experiment in the run store, and its report folder (fig5.svg/png, comparison.txt/json). */
export async function writeExperimentReport(opts: { experimentId: string; runs?: string; out?: string }): Promise<ExperimentReportOutput> {
  const root = await pullExperiment(opts.runs, opts.experimentId);
  const comparison = compareExperiment(loadExperiment(root, opts.experimentId));
  const text = formatComparison(comparison);
  const out = path.resolve(opts.out ?? new ExperimentLayout(path.join(root, opts.experimentId)).report());
  let hasFigure = false;
  await replaceDirAtomic(out, EXPERIMENT_REPORT_MARKER, async (tmp) => {
    if (comparison.curves.length) {
      const { svg, png } = await renderFigure(experimentFig5Spec(comparison));
      fs.writeFileSync(path.join(tmp, 'fig5.svg'), svg);
      fs.writeFileSync(path.join(tmp, 'fig5.png'), png);
      hasFigure = true;
    }
    fs.writeFileSync(path.join(tmp, 'comparison.txt'), text + '\n');
    fs.writeFileSync(path.join(tmp, 'index.html'), experimentHtml(comparison, text, hasFigure ? fs.readFileSync(path.join(tmp, 'fig5.svg'), 'utf8') : null));
    fs.writeFileSync(path.join(tmp, 'comparison.json'), JSON.stringify(comparison, null, 2) + '\n');
    fs.writeFileSync(path.join(tmp, EXPERIMENT_REPORT_MARKER), JSON.stringify({ experimentId: opts.experimentId, complete: comparison.complete, files: ['index.html', 'comparison.txt', 'comparison.json', ...(hasFigure ? ['fig5.svg', 'fig5.png'] : [])] }, null, 2) + '\n');
  });
  return { dir: out, html: path.join(out, 'index.html'), comparison, text, svg: hasFigure ? path.join(out, 'fig5.svg') : null, png: hasFigure ? path.join(out, 'fig5.png') : null };
}

/** A self-contained page: the figure inline, the comparison as the plain table `eas compare` prints. */
function experimentHtml(c: Comparison, text: string, svg: string | null): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment ${escapeHtml(c.experimentId)}</title>
<style>body{font-family:'DejaVu Sans',sans-serif;margin:2em;max-width:1100px}pre{font-size:12px;background:#f7f7f7;padding:1em;overflow-x:auto}</style></head>
<body><h1>Experiment ${escapeHtml(c.experimentId)}${c.complete ? '' : ' (in progress)'}</h1>
<h2>Comparison</h2><pre>${escapeHtml(text)}</pre>
<h2>Best validation accuracy vs networks evaluated (cf. Fig. 5)</h2>${svg ?? '<p>No search has finished yet.</p>'}
</body></html>
`;
}
