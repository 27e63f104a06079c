import type { NetworkRef } from '../store/records';
import { type Lineage, type LineageStep, describeAction } from './lineage';
import type { RunView } from './runview';
import { gainText, pointsText, ratioText, referenceLines } from './reference';
import { bestCandidate, isScored } from '../search/rules';

/** The report page: one self-contained HTML file (inline CSS and SVG; PNG/SVG files linked relatively). */

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const e = escapeHtml;

export const pct = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)}%`);
const int = (n: number): string => n.toLocaleString('en-US');

export interface Figure {
  file: string;
  svg: string;
}

export interface CompareInfo {
  view: RunView;
  /** How the comparison run was found. */
  source: 'option' | 'sibling';
  figure: Figure;
}

export interface PageInput {
  view: RunView;
  root: string;
  progress: Figure | null;
  compare: CompareInfo | null;
  /** Why there is no comparison, when there is none. */
  compareNote: string;
  lineages: Lineage[];
  generatedAt: string;
}

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
tr.reference td{background:#f5f5f5}.verdict{font-weight:bold}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.status{display:inline-block;padding:2px 8px;border-radius:4px;font-size:13px;color:#fff}
.done{background:#2e7d32}.progress{background:#ef6c00}.stopped{background:#6d4c41}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:12px}
.figure{margin:12px 0}.figure svg{max-width:100%;height:auto}.links{font-size:13px}
.lineage{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:10px 0}
.node{border:1px solid #999;border-radius:6px;padding:6px 8px;background:#fafafa;font-size:12px;max-width:330px}
.node b{font-size:13px}.node.final{border-color:#2e7d32;background:#eef7ee}.node.stage-best{border-color:#ef6c00;background:#fff4e5}
.edge{font-size:11.5px;color:#555;max-width:190px;text-align:center}.edge .arrow{font-size:20px;color:#333}
.flag{font-size:11px;padding:0 4px;border-radius:3px;background:#eee}.muted{color:#777}
`;

function networkCell(n: NetworkRef | null): string {
  if (!n) return '<span class="muted">—</span>';
  return `<b>${e(n.name)}</b> ${pct(n.accuracy)}, ${int(n.params)} params<br><code>${e(n.notation)}</code>`;
}

function viaText(step: LineageStep): string {
  const via = step.via;
  if (!via) return '';
  if (via.kind === 'transform') return via.actions.length === 0 ? 'no transformation' : via.actions.map(describeAction).map(e).join('<br>');
  if (via.kind === 'train-longer') return 'stage best, trained longer';
  return 'final training on the full training set';
}

function lineageHtml(l: Lineage): string {
  const parts: string[] = [];
  l.steps.forEach((s, i) => {
    if (i > 0) parts.push(`<div class="edge">${viaText(s)}<div class="arrow">→</div></div>`);
    parts.push(
      `<div class="node ${s.kind}"><b>${e(s.name)}</b> · ${s.metric === 'test' ? 'test' : 'val'} ${pct(s.accuracy)} · ${int(s.params)} params<br><code>${e(s.notation)}</code></div>`,
    );
  });
  return `<h3>${e(l.target)}</h3><div class="lineage">${parts.join('')}</div>`;
}

function candidatesTable(view: RunView): string {
  const bestName = view.best?.name;
  const rows = view.candidates.map(
    (c, i) =>
      `<tr${c.name === bestName ? ' style="background:#eef7ee"' : ''}><td class="num">${i + 1}</td><td>${e(c.name)}</td><td class="num">${c.stage + 1}</td><td class="num">${c.episode}</td><td>${e(c.parent)}</td>` +
      `<td>${c.actions.map(describeAction).map(e).join('; ') || '—'}</td><td><code>${e(c.network.notation)}</code></td><td class="num">${int(c.network.params)}</td>` +
      `<td class="num">${isScored(c) ? pct(c.network.accuracy) : '—'}</td><td>${c.diverged ? 'yes' : 'no'}</td><td>${c.cachedFrom ? `yes (${e(c.cachedFrom)})` : 'no'}</td>` +
      `<td>${c.failed ? `<b>failed</b> in ${e(c.failed.step)}: ${e(c.failed.type)}: ${e(c.failed.message)}` : ''}</td></tr>`,
  );
  const pending = view.pending.map(
    (p) =>
      `<tr class="muted"><td class="num">…</td><td>${e(p.name)}</td><td class="num">${p.stage + 1}</td><td class="num">${p.episode}</td><td>${e(p.parent)}</td>` +
      `<td>${p.actions.map(describeAction).map(e).join('; ') || '—'}</td><td><code>${e(p.notation)}</code></td><td class="num">${int(p.params)}</td><td>training…</td><td></td><td></td><td></td></tr>`,
  );
  return (
    `<table><thead><tr><th>#</th><th>name</th><th>stage</th><th>episode</th><th>parent</th><th>actions</th><th>architecture</th><th>params</th><th>val. accuracy</th><th>diverged</th><th>cached</th><th>failed</th></tr></thead>` +
    `<tbody>${rows.join('\n')}${pending.join('\n')}</tbody></table>`
  );
}

function finalTable(view: RunView): string {
  if (view.final.length === 0) return `<p class="muted">No final networks yet${view.complete ? '' : ' (the search is in progress)'}.</p>`;
  const byName = new Map(view.candidates.map((c) => [c.name, c]));
  const rows = [...view.final]
    .sort((a, b) => a.network.name.localeCompare(b.network.name, undefined, { numeric: true }))
    .map((f) => {
      const c = byName.get(f.from);
      const g = view.reference?.gains.find((x) => x.name === f.network.name);
      const gain = view.reference ? `<td class="num">${g ? e(pointsText(g.testPoints)) : '—'}</td><td class="num">${g ? e(ratioText(g.paramRatio)) : '—'}</td>` : '';
      return `<tr><td>${e(f.network.name)}</td><td>${e(f.from)}</td><td><code>${e(f.network.notation)}</code></td><td class="num">${int(f.network.params)}</td><td class="num">${c ? pct(c.network.accuracy) : '—'}</td><td class="num"><b>${pct(f.network.accuracy)}</b></td>${gain}</tr>`;
    });
  const ref = view.reference;
  const refRow = ref
    ? ref.network
      ? `<tr class="reference"><td>${e(ref.network.name)}</td><td>the start network, same final training</td><td><code>${e(ref.network.notation)}</code></td><td class="num">${int(ref.network.params)}</td><td class="num">${pct(view.start?.accuracy)}</td><td class="num"><b>${pct(ref.network.accuracy)}</b></td><td class="num">—</td><td class="num">1×</td></tr>`
      : `<tr class="reference"><td>reference</td><td colspan="7">the start network's final training ${ref.failed ? `<b>failed</b>: ${e(ref.failed.type)}: ${e(ref.failed.message)}` : 'has not finished'}</td></tr>`
    : '';
  const gainHeads = ref ? '<th>test gain over the start net</th><th>params ÷ start net</th>' : '';
  const verdict = referenceLines(ref, view.final, view.bestFinal).slice(1);
  return (
    `<table><thead><tr><th>network</th><th>from candidate</th><th>architecture</th><th>params</th><th>val. accuracy (search)</th><th>test accuracy</th>${gainHeads}</tr></thead><tbody>${rows.join('\n')}${refRow}</tbody></table>` +
    (verdict.length ? `<p class="verdict">${e(verdict.join(' '))}.</p>` : ref ? '' : '<p class="muted">No reference: the start network was not given the final training (final.reference off, or a run from before it).</p>')
  );
}

function stagesTable(view: RunView): string {
  const rows = view.stages.map((s) => {
    const cands = view.candidates.filter((c) => c.stage === s.stage);
    const scored = cands.filter(isScored);
    const best = bestCandidate(cands);
    const mean = scored.length ? scored.reduce((a, c) => a + (c.network.accuracy ?? 0), 0) / scored.length : null;
    const better = s.start?.accuracy != null ? scored.filter((c) => (c.network.accuracy ?? 0) > s.start!.accuracy!).length : null;
    return (
      `<tr><td class="num">${s.stage + 1}</td><td>${s.recorded ? 'finished' : 'in progress'}</td><td>${networkCell(s.start)}</td>` +
      `<td class="num">${cands.length}${s.budget !== null ? ` / ${s.budget}` : ''}</td><td class="num">${pct(mean)}</td><td>${best ? networkCell({ ...best.network, name: best.name }) : '—'}</td>` +
      `<td class="num">${better === null ? '—' : `${better} / ${scored.length}`}</td></tr>`
    );
  });
  return `<table><thead><tr><th>stage</th><th>state</th><th>start network</th><th>networks</th><th>mean val. accuracy</th><th>best</th><th>better than start</th></tr></thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function figureHtml(f: Figure, caption: string): string {
  const base = f.file.replace(/\.svg$/, '');
  return `<div class="figure">${f.svg}<div class="links">${e(caption)} — files: <a href="${e(base)}.png">${e(base)}.png</a>, <a href="${e(base)}.svg">${e(base)}.svg</a></div></div>`;
}

function compareSummary(a: RunView, b: RunView): string {
  const line = (v: RunView): string => {
    const scored = v.candidates.filter(isScored);
    const mean = scored.length ? scored.reduce((s, c) => s + (c.network.accuracy ?? 0), 0) / scored.length : null;
    return `<tr><td>${e(v.searchId)}</td><td>${e(v.controller ?? '?')}</td><td class="num">${v.candidates.length}</td><td class="num">${pct(mean)}</td><td class="num">${pct(v.best?.accuracy)}</td><td class="num">${pct(v.bestFinal?.accuracy)}</td><td>${v.complete ? 'finished' : 'in progress'}</td></tr>`;
  };
  return `<table><thead><tr><th>search</th><th>controller</th><th>networks</th><th>mean val. accuracy</th><th>best val. accuracy</th><th>best test accuracy</th><th>state</th></tr></thead><tbody>${line(a)}${line(b)}</tbody></table>`;
}

export function reportHtml(p: PageInput): string {
  const v = p.view;
  const state = v.complete ? (v.stopped ? '<span class="status stopped">stopped early (finalised)</span>' : '<span class="status done">finished</span>') : '<span class="status progress">in progress</span>';
  const budget = v.stages.reduce((a, s) => a + (s.budget ?? 0), 0);
  const compare = p.compare
    ? `<p>Comparison run: <b>${e(p.compare.view.searchId)}</b> (${e(p.compare.view.controller ?? 'unknown controller')}), ${p.compare.source === 'option' ? 'given with --compare' : `found as the sibling run <code>${e(v.searchId)}-random</code> in ${e(p.root)}`}.</p>` +
      compareSummary(v, p.compare.view) +
      figureHtml(p.compare.figure, 'Per-episode mean validation accuracy and running best of both searches')
    : `<p class="muted">${e(p.compareNote)}</p>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>EAS report: ${e(v.searchId)}</title><style>${CSS}</style></head>
<body>
<h1>EAS search report: ${e(v.searchId)}</h1>
<p>${state} ${v.complete ? '' : '<b>The search is in progress</b>: this report shows the networks evaluated so far.'}</p>
<p>Controller: <b>${e(v.controller === 'rl' ? 'RL meta-controller' : v.controller === 'random' ? 'random search' : 'unknown')}</b> · dataset: <b>${e(v.dataset ?? 'unknown')}</b> ·
networks evaluated: <b>${v.candidates.length}</b>${budget ? ` of ${budget}` : ''}${v.pending.length ? ` (${v.pending.length} in training)` : ''} · run store: <code>${e(v.runDir)}</code> · generated ${e(p.generatedAt)}</p>
<table><tbody>
<tr><th>start network</th><td>${networkCell(v.start)}</td></tr>
<tr><th>best validation accuracy</th><td>${networkCell(v.best)}</td></tr>
<tr><th>best final network (test accuracy)</th><td>${networkCell(v.bestFinal)}${v.bestFinal && gainText(v.reference, v.bestFinal.name) ? `<br>${e(gainText(v.reference, v.bestFinal.name)!)} over the start network given the same final training` : ''}</td></tr>
${v.reference ? `<tr><th>start network, same final training (test accuracy)</th><td>${v.reference.network ? networkCell(v.reference.network) : `<span class="muted">${v.reference.failed ? `failed: ${e(v.reference.failed.type)}: ${e(v.reference.failed.message)}` : 'not finished'}</span>`}</td></tr>` : ''}
</tbody></table>

<h2>Search progress</h2>
${p.progress ? figureHtml(p.progress, 'Validation accuracy of every sampled network in sampling order, coloured by stage, with the running best and each stage\'s start network') : '<p class="muted">No network has been evaluated yet.</p>'}
${stagesTable(v)}

<h2>RL against random search</h2>
${compare}

<h2>Lineage of the best networks</h2>
${p.lineages.length ? p.lineages.map(lineageHtml).join('\n') : '<p class="muted">No network has been evaluated yet.</p>'}

<h2>Final networks</h2>
${finalTable(v)}

<h2>All sampled networks</h2>
${candidatesTable(v)}
</body></html>
`;
}
