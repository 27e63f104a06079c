import { escapeHtml as e } from '../report/html';

/**
 * The dashboard's HTML shells: a header and empty sections that /assets/app.js fills from the JSON API. Kept small so
 * that the page paints at once; the charts' libraries load deferred.
 */

export type PageSpec =
  | { kind: 'list'; title: string; root: string }
  | { kind: 'search'; title: string; root: string; id: string }
  | { kind: 'candidate'; title: string; root: string; id: string; name: string }
  | { kind: 'compare'; title: string; root: string; ids: string[] }
  | { kind: 'experiment'; title: string; root: string; id: string }
  | { kind: 'error'; title: string; root: string; message: string };

const VENDOR = ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js'];

function body(p: PageSpec): string {
  switch (p.kind) {
    case 'list':
      return `<h1>Searches</h1>
<p class="muted">Run store <code>${e(p.root)}</code> · <span id="temporal-note"></span></p>
<section id="experiments-section" hidden><h2>Experiments</h2><div id="experiments"></div></section>
<div id="searches"><p class="muted">loading…</p></div>
<p><button id="compare-btn" disabled>Compare selected</button> <span class="muted">(tick two or more searches)</span></p>`;
    case 'search':
      return `<nav><a href="/">searches</a> › <b>${e(p.id)}</b></nav>
<h1>Search <span id="search-id">${e(p.id)}</span> <span id="state" class="state"></span></h1>
<div id="summary" class="summary"></div>
<p class="downloads">Download the candidates: <a id="dl-csv" href="/api/s/${encodeURIComponent(p.id)}/candidates.csv" download>CSV</a> · <a id="dl-json" href="/api/s/${encodeURIComponent(p.id)}/candidates.json" download>JSON</a><span id="temporal-link"></span></p>
<section><h2>Progress (cf. Figure 4)</h2><div id="progress-chart" class="chart"></div><div id="stages"></div></section>
<section><h2>In training</h2><div id="pending"></div></section>
<section><h2>Final networks</h2><div id="final"></div></section>
<section><h2>Lineage</h2><p class="muted">Parent → child, with the Net2Net actions that made each child; the best path is open.</p><div id="tree"></div></section>
<section><h2>All sampled networks <span id="count" class="muted"></span></h2><div id="candidates"></div></section>`;
    case 'candidate':
      return `<nav><a href="/">searches</a> › <a href="/s/${encodeURIComponent(p.id)}">${e(p.id)}</a> › <b>${e(p.name)}</b></nav>
<h1>Candidate <span id="cand-name">${e(p.name)}</span></h1>
<div id="cand-summary" class="summary"><p class="muted">loading…</p></div>
<section><h2>Architecture</h2><div id="arch"></div></section>
<section><h2>Training curve</h2><div id="curve-chart" class="chart small"></div><div id="curve-table"></div></section>
<section><h2>Lineage</h2><div id="lineage" class="lineage"></div></section>`;
    case 'compare':
      return `<nav><a href="/">searches</a> › compare</nav>
<h1>Compare ${p.ids.map((i) => `<a href="/s/${encodeURIComponent(i)}">${e(i)}</a>`).join(', ')}</h1>
<div id="compare-table"></div>
<div id="compare-chart" class="chart"></div>
<p class="muted">Per episode, in sampling order: the mean validation accuracy of its networks and the best so far. Runs of the same search that differ in seed (names ending in -seedN or -sN) form a group, drawn with a min–max band.</p>`;
    case 'experiment':
      return `<nav><a href="/">searches</a> › experiment <b>${e(p.id)}</b></nav>
<h1>Experiment <span id="exp-id">${e(p.id)}</span> <span id="state" class="state"></span></h1>
<div id="summary" class="summary"><p class="muted">loading…</p></div>
<p class="downloads">Download: <a id="dl-children-csv" href="/api/e/${encodeURIComponent(p.id)}/children.csv" download>children (CSV)</a> · <a id="dl-comparison-json" href="/api/e/${encodeURIComponent(p.id)}/comparison.json" download>comparison (JSON)</a><span id="temporal-link"></span></p>
<section><h2>Per arm: mean and 95 % bootstrap CI over the seeds</h2><div id="arms"></div></section>
<section><h2>Best validation accuracy so far, every seed, each arm's band (cf. Figure 5)</h2><div id="fig5" class="chart"></div></section>
<section><h2>Paired by seed: a − b</h2><p class="muted">Mean difference with its 95 % bootstrap CI, wins/losses, and the Wilcoxon signed-rank p-value (two-sided, exact for small samples), over the seeds where both arms have the metric.</p><div id="pairs"></div></section>
<section><h2>Arms × seeds</h2><p class="muted">Final test accuracy of each child; each links to its search.</p><div id="grid"></div></section>
<section><h2>Children</h2><div id="children"></div></section>`;
    case 'error':
      return `<nav><a href="/">searches</a></nav><h1>${e(p.title)}</h1><p>${e(p.message)}</p>`;
  }
}

export function page(p: PageSpec): string {
  const data = p.kind === 'search' || p.kind === 'experiment' ? { id: p.id } : p.kind === 'candidate' ? { id: p.id, name: p.name } : p.kind === 'compare' ? { ids: p.ids.join(',') } : {};
  const attrs = Object.entries(data)
    .map(([k, v]) => ` data-${k}="${e(v)}"`)
    .join('');
  const charts = p.kind === 'search' || p.kind === 'candidate' || p.kind === 'compare' || p.kind === 'experiment';
  const scripts = [...(charts ? VENDOR : []), 'app.js'].map((f) => `<script defer src="/assets/${f}"></script>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(p.title)}</title>
<link rel="stylesheet" href="/assets/style.css">
${scripts}
</head>
<body data-page="${p.kind}"${attrs}>
<header><a href="/" class="brand">eas ui</a><span class="muted"> · Efficient Architecture Search, live</span><span id="live" class="live"></span></header>
<main>
${body(p)}
</main>
</body></html>
`;
}
