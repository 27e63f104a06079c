/* The dashboard's pages (served by src/ui/server.ts). Plain browser JavaScript, no build step; charts with vega-embed. */
/* global document, fetch, AbortController, vegaEmbed, vega, location, CSS */
'use strict';

const POLL_MS = 2000;
const IDLE_POLL_MS = 15000;

const $ = (sel) => document.querySelector(sel);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const pct = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)}%`);
const int = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));
const sci = (x) => (x === null || x === undefined ? '—' : Number(x).toExponential(2));
const enc = encodeURIComponent;

async function getJson(url, timeoutMs = 20000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const r = await fetch(url, { signal: ctl.signal, headers: { Accept: 'application/json' } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || `${r.status}`);
    return body;
  } finally {
    clearTimeout(timer);
  }
}

function setLive(ok, text) {
  const el = $('#live');
  if (!el) return;
  el.className = `live ${ok ? 'ok' : 'bad'}`;
  el.textContent = text;
}

function stateBadge(s) {
  const state = s.state || s.stored;
  return `<span class="state st-${esc(state.replace(/\s+/g, '-'))}">${esc(state)}</span>`;
}

const controllerName = (c) => (c === 'rl' ? 'RL' : c === 'random' ? 'random' : '—');

/** Run `fn` now and every `ms` (or what it returns), never two at once. */
function poll(fn, ms) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    let next = ms;
    try {
      const r = await fn();
      if (typeof r === 'number') next = r;
      setLive(true, 'live');
    } catch (err) {
      setLive(false, `offline: ${err.message}`);
    }
    setTimeout(tick, next);
  };
  tick();
  return () => (stopped = true);
}

// ---------------------------------------------------------------------------------------------------------------
// Searches list

function listPage() {
  const selected = new Set();
  const btn = $('#compare-btn');
  btn.addEventListener('click', () => {
    location.href = `/compare?ids=${[...selected].map(enc).join(',')}`;
  });
  poll(async () => {
    const d = await getJson('/api/searches');
    const t = d.temporal;
    $('#temporal-note').textContent = !t ? 'no Temporal status (--no-temporal)' : t.connected ? `live status from Temporal at ${t.address} (${t.namespace})` : `Temporal at ${t.address} not reachable: state from the run store only`;
    const rows = d.searches.map((s) => {
      const stage = s.stage ? `${s.stage}${s.stages ? ` / ${s.stages}` : ''}` : '—';
      return `<tr data-id="${esc(s.id)}"><td><input type="checkbox" class="pick" value="${esc(s.id)}"${selected.has(s.id) ? ' checked' : ''}></td>
<td><a href="/s/${enc(s.id)}">${esc(s.id)}</a>${s.error ? `<br><span class="err">${esc(s.error)}</span>` : ''}</td><td>${esc(s.dataset ?? '—')}</td><td>${esc(s.space ?? '—')}</td><td>${controllerName(s.controller)}</td>
<td class="num">${stage}</td><td class="num">${s.episode ?? '—'}</td><td class="num">${s.done}${s.planned ? ` / ${s.planned}` : ''}${s.pending ? ` <span class="muted">(+${s.pending})</span>` : ''}</td>
<td class="num">${pct(s.best?.accuracy)}</td><td class="num">${pct(s.bestFinal?.accuracy)}</td><td>${stateBadge(s)}</td><td class="muted">${s.updated ? new Date(s.updated).toLocaleString() : ''}</td></tr>`;
    });
    $('#searches').innerHTML = d.searches.length
      ? `<table class="grid"><thead><tr><th></th><th>search</th><th>dataset</th><th>space</th><th>controller</th><th>stage</th><th>episode</th><th>networks done / planned</th><th>best val. acc.</th><th>best test acc.</th><th>state</th><th>updated</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
      : `<p class="muted">No search in this run store yet.</p>`;
    for (const cb of document.querySelectorAll('.pick')) {
      cb.addEventListener('change', () => {
        if (cb.checked) selected.add(cb.value);
        else selected.delete(cb.value);
        btn.disabled = selected.size < 2;
      });
    }
    btn.disabled = selected.size < 2;
    const exps = d.experiments || [];
    $('#experiments-section').hidden = exps.length === 0;
    $('#experiments').innerHTML = exps.length
      ? `<table class="grid"><thead><tr><th>experiment</th><th>arms</th><th>seeds</th><th>children done / planned</th><th>best arm (mean final test acc.)</th><th>state</th><th>updated</th></tr></thead><tbody>${exps
          .map(
            (x) => `<tr data-id="${esc(x.id)}"><td><a href="/e/${enc(x.id)}">${esc(x.id)}</a>${x.error ? `<br><span class="err">${esc(x.error)}</span>` : ''}</td><td>${x.arms.map((a) => `${esc(a.name)}${a.kind === 'reference' ? ' <span class="muted">(reference)</span>' : ''}`).join(', ')}</td>
<td class="num">${x.seeds.length} <span class="muted">(${esc(x.seeds.join(', '))})</span></td><td class="num">${x.done} / ${x.planned}${x.failed ? ` <span class="err">(${x.failed} failed)</span>` : ''}</td><td>${x.best ? `${esc(x.best.arm)} ${pct(x.best.mean)}` : '—'}</td><td>${stateBadge(x)}</td><td class="muted">${x.updated ? new Date(x.updated).toLocaleString() : ''}</td></tr>`,
          )
          .join('')}</tbody></table>`
      : '';
    return POLL_MS * 2;
  }, POLL_MS * 2);
}

// ---------------------------------------------------------------------------------------------------------------
// A search's page

function summaryHtml(s, start) {
  const parts = [
    ['dataset', esc(s.dataset ?? '—')],
    ['space', esc(s.space ?? '—')],
    ['controller', controllerName(s.controller)],
    ['stage', s.stage ? `${s.stage}${s.stages ? ` / ${s.stages}` : ''}` : '—'],
    ['episode', s.episode ?? '—'],
    ['networks', `<span id="done">${s.done}</span>${s.planned ? ` / ${s.planned}` : ''}${s.pending ? ` (${s.pending} in training)` : ''}${s.failed ? `, ${s.failed} failed` : ''}`],
    ['start net', start ? `${pct(start.accuracy)}` : '—'],
    ['best val. accuracy', s.best ? `<b id="best-acc">${pct(s.best.accuracy)}</b> <a href="/s/${enc(s.id)}/c/${enc(s.best.name)}">${esc(s.best.name)}</a>` : '—'],
    ['best test accuracy', s.bestFinal ? `${pct(s.bestFinal.accuracy)} (${esc(s.bestFinal.name)})` : '—'],
  ];
  return `<dl>${parts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
}

function candidateRowHtml(r, id, bestName, tail) {
  return `<tr data-name="${esc(r.name)}" class="${tail ? 'tail' : ''}${r.name === bestName ? ' best' : ''}"><td class="num">${r.order}</td><td><a href="/s/${enc(id)}/c/${enc(r.name)}">${esc(r.name)}</a></td><td class="num">${r.stage}</td><td class="num">${r.episode}</td><td>${esc(r.parent)}</td>
<td class="actions">${esc(r.actions || '—')}</td><td><code>${esc(r.notation)}</code></td><td class="num">${int(r.params)}</td><td class="num">${pct(r.accuracy)}</td><td>${esc(r.status)}${r.cachedFrom ? ` (${esc(r.cachedFrom)})` : ''}${r.failed ? `<br><span class="err">${esc(r.failed)}</span>` : ''}</td><td class="num">${sci(r.maxAbsDiff)}</td></tr>`;
}

function treeHtml(node, id, openSet) {
  const label = `<span class="tn ${node.kind}"><a href="${node.kind === 'candidate' ? `/s/${enc(id)}/c/${enc(node.name)}` : '#'}">${esc(node.name)}</a> ${node.metric === 'test' ? 'test' : 'val'} ${pct(node.accuracy)} · ${int(node.params)} params${node.status && node.status !== 'trained' ? ` · <i>${esc(node.status)}</i>` : ''}</span>${node.via ? ` <span class="via">← ${esc(node.via)}</span>` : ''}`;
  if (!node.children.length) return `<div class="leaf">${label}</div>`;
  const kids = [...node.children].sort((a, b) => (a.kind === 'candidate') - (b.kind === 'candidate'));
  return `<details${openSet.has(node.name) ? ' open' : ''}><summary>${label} <span class="muted">(${node.children.length})</span></summary><div class="kids">${kids.map((k) => treeHtml(k, id, openSet)).join('')}</div></details>`;
}

function pathTo(node, name, acc = []) {
  if (node.name === name) return [...acc, node.name];
  for (const k of node.children) {
    const p = pathTo(k, name, [...acc, node.name]);
    if (p) return p;
  }
  return null;
}

async function searchPage() {
  const id = document.body.dataset.id;
  const base = `/api/s/${enc(id)}`;
  let view = null;
  let settledRows = 0;
  let lastName = null;
  let lastStatic = '';
  let treeAt = 0;
  let treeSettled = -1;
  let hadTail = false;
  let lastStarts = '';
  const body = document.createElement('tbody');
  const tailBody = document.createElement('tbody');
  tailBody.className = 'tail';
  $('#candidates').innerHTML = `<table class="grid" id="cand-table"><thead><tr><th>#</th><th>name</th><th>stage</th><th>ep.</th><th>parent</th><th>actions</th><th>architecture</th><th>params</th><th>val. acc.</th><th>status</th><th>preservation max|Δ|</th></tr></thead></table>`;
  $('#cand-table').append(body, tailBody);

  const chartReady = (async () => {
    const spec = await getJson(`${base}/spec`);
    const result = await vegaEmbed('#progress-chart', spec, { renderer: 'canvas', actions: { export: true, source: false, compiled: false, editor: false }, logLevel: vega.Error });
    view = result.view;
  })();
  chartReady.catch((err) => ($('#progress-chart').textContent = `chart: ${err.message}`));

  async function refreshTree(bestName) {
    const tree = await getJson(`${base}/tree`);
    if (!tree) {
      $('#tree').innerHTML = '<p class="muted">No start network yet.</p>';
      return;
    }
    const open = new Set(pathTo(tree, bestName ?? '') ?? [tree.name]);
    for (const d of document.querySelectorAll('#tree details[open]')) open.add(d.querySelector('a').textContent);
    $('#tree').innerHTML = treeHtml(tree, id, open);
  }

  poll(async () => {
    const d = await getJson(`${base}/data?since=${settledRows}${lastName ? `&last=${enc(lastName)}` : ''}`);
    const s = d.summary;
    $('#state').outerHTML = `<span id="state">${stateBadge(s)}</span>`;
    $('#summary').innerHTML = summaryHtml(s, d.start);
    $('#temporal-link').innerHTML = d.temporal.workflow ? ` · <a href="${esc(d.temporal.workflow)}" target="_blank" rel="noopener">workflow in the Temporal Web UI</a>` : '';
    const bestName = s.best?.name;
    if (d.reset) {
      body.replaceChildren();
      settledRows = 0;
    }
    // Settled rows are appended once; the provisional tail is replaced on each poll.
    if (d.rows.length) body.insertAdjacentHTML('beforeend', d.rows.map((r) => candidateRowHtml(r, id, bestName, false)).join(''));
    tailBody.innerHTML = d.tail.map((r) => candidateRowHtml(r, id, bestName, true)).join('');
    settledRows = d.settled;
    lastName = d.settled > 0 ? (d.rows.at(-1)?.name ?? lastName) : null;
    for (const tr of document.querySelectorAll('#cand-table tr.best')) if (tr.dataset.name !== bestName) tr.classList.remove('best');
    const bestRow = bestName && document.querySelector(`#cand-table tr[data-name="${CSS.escape(bestName)}"]`);
    if (bestRow) bestRow.classList.add('best');
    $('#count').textContent = `(${d.settled + d.tail.length})`;

    await chartReady.catch(() => {});
    const c = d.chart;
    const changed = d.reset || c.points.length || c.best.length || c.tailPoints.length || c.tailBest.length || hadTail || JSON.stringify(c.starts) !== lastStarts;
    hadTail = c.tailPoints.length > 0 || c.tailBest.length > 0;
    lastStarts = JSON.stringify(c.starts);
    if (view && changed) {
      const tailFlag = (rows) => rows.map((r) => ({ ...r, tail: true }));
      const drop = (t) => d.reset || t.tail === true;
      view.change('points', vega.changeset().remove(drop).insert([...c.points, ...tailFlag(c.tailPoints)]));
      view.change('best', vega.changeset().remove(drop).insert([...c.best, ...tailFlag(c.tailBest)]));
      view.change('starts', vega.changeset().remove(() => true).insert(c.starts));
      await view.runAsync();
      document.body.dataset.chartPoints = String(view.data('points').length);
    }

    const staticPart = JSON.stringify([d.stages, d.final, d.pending, d.reference]);
    if (staticPart !== lastStatic) {
      lastStatic = staticPart;
      $('#stages').innerHTML = d.stages.length
        ? `<table class="grid"><thead><tr><th>stage</th><th>state</th><th>start network</th><th>networks</th><th>mean val. acc.</th><th>best</th><th>better than start</th></tr></thead><tbody>${d.stages
            .map((st) => `<tr><td class="num">${st.stage}</td><td>${esc(st.state)}</td><td>${st.start ? `${esc(st.start.name)} ${pct(st.start.accuracy)}<br><code>${esc(st.start.notation)}</code>` : '—'}</td><td class="num">${st.networks}${st.budget ? ` / ${st.budget}` : ''}</td><td class="num">${pct(st.mean)}</td><td>${st.best ? `<a href="/s/${enc(id)}/c/${enc(st.best.name)}">${esc(st.best.name)}</a> ${pct(st.best.accuracy)}` : '—'}</td><td class="num">${st.betterThanStart ?? '—'}</td></tr>`)
            .join('')}</tbody></table>`
        : '';
      $('#pending').innerHTML = d.pending.length
        ? `<table class="grid"><thead><tr><th>name</th><th>stage</th><th>ep.</th><th>actions</th><th>architecture</th><th>params</th></tr></thead><tbody>${d.pending.map((p) => `<tr><td><a href="/s/${enc(id)}/c/${enc(p.name)}">${esc(p.name)}</a></td><td class="num">${p.stage}</td><td class="num">${p.episode}</td><td class="actions">${esc(p.actions)}</td><td><code>${esc(p.notation)}</code></td><td class="num">${int(p.params)}</td></tr>`).join('')}</tbody></table>`
        : '<p class="muted">Nothing in training.</p>';
      const start = d.start;
      const ref = d.reference;
      const gainOf = (name) => ref?.gains.find((g) => g.name === name);
      const refRow = !ref
        ? ''
        : ref.network
          ? `<tr class="reference"><td>start net, same final training <span class="muted">(reference)</span></td><td></td><td><code>${esc(ref.network.notation)}</code></td><td class="num">${int(ref.network.params)}</td><td></td><td class="num">${pct(ref.network.accuracy)}</td><td></td><td></td></tr>`
          : `<tr class="reference"><td>start net, same final training <span class="muted">(reference)</span></td><td colspan="7" class="muted">${ref.failed ? `its final training failed: <span class="err">${esc(ref.failed)}</span>` : 'its final training has not finished'}</td></tr>`;
      $('#final').innerHTML = d.final.length || ref
        ? `<table class="grid" id="final-table"><thead><tr><th>network</th><th>from candidate</th><th>architecture</th><th>params</th><th>val. acc. (search)</th><th>test accuracy</th><th>vs reference (test)</th><th>params vs reference</th></tr></thead><tbody>${
            start ? `<tr class="muted"><td>${esc(start.name)} (start net, search training)</td><td></td><td><code>${esc(start.notation)}</code></td><td class="num">${int(start.params)}</td><td class="num">${pct(start.accuracy)}</td><td></td><td></td><td></td></tr>` : ''
          }${refRow}${d.final
            .map((f) => {
              const g = gainOf(f.name);
              return `<tr data-name="${esc(f.name)}"><td><b>${esc(f.name)}</b></td><td><a href="/s/${enc(id)}/c/${enc(f.from)}">${esc(f.from)}</a></td><td><code>${esc(f.notation)}</code></td><td class="num">${int(f.params)}</td><td class="num">${pct(f.searchAccuracy)}</td><td class="num"><b>${pct(f.testAccuracy)}</b></td><td class="num gain">${g ? esc(g.pointsText) : '—'}</td><td class="num">${g ? esc(g.ratioText) : '—'}</td></tr>`;
            })
            .join('')}</tbody></table>${ref && ref.lines.length ? `<ul id="reference-verdict">${ref.lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>` : ''}`
        : `<p class="muted">No final networks yet.${start ? ` Start network: ${esc(start.name)} ${pct(start.accuracy)}, ${int(start.params)} params.` : ''}</p>`;
    }
    if (d.settled !== treeSettled && Date.now() - treeAt > 5000) {
      treeSettled = d.settled;
      treeAt = Date.now();
      await refreshTree(bestName);
    }
    document.body.dataset.settled = String(settledRows);
    const idle = s.stored !== 'in progress' && (s.live === null || s.live === 'completed');
    return idle ? IDLE_POLL_MS : POLL_MS;
  }, POLL_MS);
}

// ---------------------------------------------------------------------------------------------------------------
// A candidate's page

function diagramHtml(parts) {
  const max = Math.max(1, ...parts.map((p) => p.size ?? 0));
  return `<div class="diagram">${parts
    .map((p) => {
      const h = p.size ? 28 + Math.round(90 * Math.sqrt(p.size / max)) : 40;
      return `<div class="layer ${p.kind}" style="height:${h}px" title="${esc(p.text)}"><span>${esc(p.text)}</span></div>`;
    })
    .join('<div class="flow">→</div>')}</div>`;
}

async function candidatePage() {
  const { id, name } = document.body.dataset;
  let lastCurve = '';
  poll(async () => {
    const d = await getJson(`/api/s/${enc(id)}/c/${enc(name)}`);
    const r = d.row;
    const p = d.pending;
    const facts = [
      ['search', `<a href="/s/${enc(id)}">${esc(id)}</a>`],
      ['stage / episode / index', r ? `${r.stage} / ${r.episode} / ${r.index}` : `${p.stage} / ${p.episode} / ${p.index}`],
      ['status', r ? `${esc(r.status)}${r.cachedFrom ? ` — result reused from <a href="/s/${enc(id)}/c/${enc(r.cachedFrom)}">${esc(r.cachedFrom)}</a>` : ''}` : 'in training'],
      ['validation accuracy', r ? `<b>${pct(r.accuracy)}</b>` : '—'],
      ['parameters', int(r ? r.params : p.params)],
      ['parent', esc(r ? r.parent : p.parent)],
      ['actions', esc((r ? r.actions : p.actions) || 'no transformation')],
      ['preservation check max|Δlogits|', r ? sci(r.maxAbsDiff) : '—'],
      ['failure', r?.failed ? `<span class="err">${esc(r.failed)}</span>` : 'none'],
      ['final networks from it', d.final.length ? d.final.map((f) => `${esc(f.name)} (test ${pct(f.accuracy)})`).join(', ') : '—'],
      ['Temporal', d.temporal.step ? `<a id="temporal-step" href="${esc(d.temporal.step)}" target="_blank" rel="noopener">its training step in the Temporal Web UI</a>` : d.temporal.workflow ? `<a href="${esc(d.temporal.workflow)}" target="_blank" rel="noopener">the search's workflow in the Temporal Web UI</a>` : '<span class="muted">no Temporal Web UI known</span>'],
    ];
    $('#cand-summary').innerHTML = `<dl>${facts.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('')}</dl>`;
    $('#arch').innerHTML = `<p>${esc(d.space ?? 'plain')} space notation: <code id="notation">${esc(d.notation)}</code></p>${diagramHtml(d.diagram)}${d.parentNotation ? `<p class="muted">parent: <code>${esc(d.parentNotation)}</code></p>` : ''}`;
    $('#lineage').innerHTML = d.lineage
      .map((s, i) => `${i ? `<div class="edge">${esc(s.via)}<div class="arrow">→</div></div>` : ''}<div class="node ${esc(s.kind)}${s.name === name ? ' self' : ''}"><b>${s.kind === 'candidate' ? `<a href="/s/${enc(id)}/c/${enc(s.name)}">${esc(s.name)}</a>` : esc(s.name)}</b> · ${s.metric === 'test' ? 'test' : 'val'} ${pct(s.accuracy)} · ${int(s.params)} params<br><code>${esc(s.notation)}</code></div>`)
      .join('');
    const curveKey = JSON.stringify(d.curve);
    if (curveKey !== lastCurve) {
      lastCurve = curveKey;
      const long = [];
      for (const c of d.curve) {
        long.push({ epoch: c.epoch, metric: 'train accuracy', value: c.trainAcc, panel: 'accuracy' });
        if (c.valAcc !== null) long.push({ epoch: c.epoch, metric: 'validation accuracy', value: c.valAcc, panel: 'accuracy' });
        long.push({ epoch: c.epoch, metric: 'training loss', value: c.loss, panel: 'loss' });
      }
      $('#curve-table').innerHTML = d.curve.length
        ? `<table class="grid"><thead><tr><th>epoch</th><th>loss</th><th>train acc.</th><th>val. acc.</th><th>lr</th><th>seconds</th></tr></thead><tbody>${d.curve.map((c) => `<tr><td class="num">${c.epoch}</td><td class="num">${c.loss.toFixed(4)}</td><td class="num">${pct(c.trainAcc)}</td><td class="num">${pct(c.valAcc)}</td><td class="num">${c.lr.toPrecision(3)}</td><td class="num">${c.seconds.toFixed(1)}</td></tr>`).join('')}</tbody></table>${d.curveOf !== name ? `<p class="muted">curve of ${esc(d.curveOf)}, whose result this candidate reuses</p>` : ''}`
        : `<p class="muted">${d.curveError ? `<span class="err">${esc(d.curveError)}</span>` : d.curveDone ? 'No epochs recorded (published without training).' : 'No finished epoch yet.'}</p>`;
      if (long.length) {
        const panel = (which, title) => ({
          width: 300,
          height: 200,
          title,
          transform: [{ filter: { field: 'panel', equal: which } }],
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' }, scale: { domainMin: 1 } },
            y: { field: 'value', type: 'quantitative', title: which, scale: { zero: false }, axis: which === 'accuracy' ? { format: '.1%' } : { format: '.3f' } },
            color: { field: 'metric', type: 'nominal', title: null, legend: { orient: 'bottom' } },
            tooltip: [{ field: 'epoch' }, { field: 'metric' }, { field: 'value', format: '.4f' }],
          },
        });
        const spec = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', data: { values: long }, hconcat: [panel('accuracy', 'accuracy per epoch'), panel('loss', 'training loss per epoch')], resolve: { scale: { color: 'independent' } } };
        await vegaEmbed('#curve-chart', spec, { renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false }, logLevel: vega.Error });
      }
    }
    document.body.dataset.curvePoints = String(d.curve.length);
    return d.curveDone && r ? IDLE_POLL_MS : POLL_MS;
  }, POLL_MS);
}

// ---------------------------------------------------------------------------------------------------------------
// Comparison

async function comparePage() {
  const ids = document.body.dataset.ids;
  let lastSpec = '';
  poll(async () => {
    const d = await getJson(`/api/compare?ids=${ids.split(',').map(enc).join(',')}`);
    $('#compare-table').innerHTML = `<table class="grid"><thead><tr><th>search</th><th>dataset</th><th>controller</th><th>networks</th><th>best val. acc.</th><th>best test acc.</th><th>state</th></tr></thead><tbody>${d.searches
      .map((s) => `<tr><td><a href="/s/${enc(s.id)}">${esc(s.id)}</a></td><td>${esc(s.dataset ?? '—')}</td><td>${controllerName(s.controller)}</td><td class="num">${s.done}${s.planned ? ` / ${s.planned}` : ''}</td><td class="num">${pct(s.best?.accuracy)}</td><td class="num">${pct(s.bestFinal?.accuracy)}</td><td>${stateBadge(s)}</td></tr>`)
      .join('')}</tbody></table>`;
    const key = JSON.stringify(d.spec);
    if (key !== lastSpec) {
      lastSpec = key;
      await vegaEmbed('#compare-chart', d.spec, { renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false }, logLevel: vega.Error });
    }
    return d.searches.every((s) => s.stored !== 'in progress') ? IDLE_POLL_MS : POLL_MS * 2;
  }, POLL_MS * 2);
}

// ---------------------------------------------------------------------------------------------------------------
// An experiment's page: arms × seeds, Fig. 5 with bands, the statistics of `eas compare`

const METRIC_FMT = {
  finalTest: (x) => pct(x),
  bestVal: (x) => pct(x),
  params: (x) => int(Math.round(x)),
  wallSeconds: (x) => `${(x / 60).toFixed(1)} min`,
};
const fmtMetric = (m, x) => (x === null || x === undefined || Number.isNaN(x) ? '—' : METRIC_FMT[m](x));
const fmtDiff = (m, x) => {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (m === 'params') return `${x >= 0 ? '+' : '−'}${int(Math.round(Math.abs(x)))}`;
  return `${x >= 0 ? '+' : '−'}${(Math.abs(x) * 100).toFixed(2)} pt`;
};
const intervalHtml = (m, v) => (v ? `${fmtMetric(m, v.mean)} <span class="ci">[${fmtMetric(m, v.lo)}, ${fmtMetric(m, v.hi)}]</span>` : '—');

async function experimentPage() {
  const id = document.body.dataset.id;
  let lastSpec = '';
  let lastTables = '';
  poll(async () => {
    const d = await getJson(`/api/e/${enc(id)}`);
    const s = d.summary;
    const c = d.comparison;
    $('#state').outerHTML = `<span id="state">${stateBadge(s)}</span>`;
    const searchKids = d.children.filter((k) => k.page).map((k) => k.id);
    $('#temporal-link').innerHTML = `${searchKids.length ? ` · <a id="compare-arms" href="/compare?ids=${searchKids.slice(0, 12).map(enc).join(',')}">its searches side by side</a>` : ''}${d.temporal.workflow ? ` · <a href="${esc(d.temporal.workflow)}" target="_blank" rel="noopener">workflow in the Temporal Web UI</a>` : ''}`;
    $('#summary').innerHTML = `<dl>${[
      ['arms', s.arms.map((a) => esc(a.name)).join(', ')],
      ['seeds', esc(s.seeds.join(', '))],
      ['children done', `<span id="exp-done">${s.done}</span> / ${s.planned}${s.failed ? `, <span class="err">${s.failed} failed</span>` : ''}`],
      ['best arm (mean final test)', s.best ? `${esc(s.best.arm)} ${pct(s.best.mean)}` : '—'],
    ]
      .map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`)
      .join('')}</dl>`;
    const tables = JSON.stringify([c, d.children]);
    if (tables !== lastTables) {
      lastTables = tables;
      const metrics = d.metrics;
      $('#arms').innerHTML = `<table class="grid" id="arms-table"><thead><tr><th>arm</th><th>kind</th><th>seeds done</th>${metrics.map((m) => `<th>${esc(m.label)}</th>`).join('')}</tr></thead><tbody>${c.arms
        .map((a) => `<tr data-arm="${esc(a.arm)}"><td><b>${esc(a.arm)}</b></td><td>${esc(a.kind)}</td><td class="num">${a.completed} / ${a.seeds}${a.failed ? ` <span class="err">(${a.failed} failed)</span>` : ''}</td>${metrics.map((m) => `<td class="num">${intervalHtml(m.key, a.metrics[m.key])}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`;
      const label = Object.fromEntries(metrics.map((m) => [m.key, m.label]));
      $('#pairs').innerHTML = c.pairs.length
        ? `<table class="grid" id="pairs-table"><thead><tr><th>pair (a − b)</th><th>metric</th><th>seeds</th><th>mean difference [95 % CI]</th><th>wins / losses</th><th>Wilcoxon p</th><th>by seed</th></tr></thead><tbody>${c.pairs
            .map(
              (p) => `<tr data-pair="${esc(`${p.a}-${p.b}`)}" data-metric="${esc(p.metric)}"><td>${esc(p.a)} − ${esc(p.b)}</td><td>${esc(label[p.metric] ?? p.metric)}</td><td class="num">${p.diffs.length}</td><td class="num">${fmtDiff(p.metric, p.mean.mean)} <span class="ci">[${fmtDiff(p.metric, p.mean.lo)}, ${fmtDiff(p.metric, p.mean.hi)}]</span></td><td class="num">${p.wins} / ${p.losses}</td><td class="num p">${p.wilcoxon.p === null ? '—' : p.wilcoxon.p.toFixed(4)}${p.wilcoxon.method === 'normal' ? ' <span class="muted">(normal approx.)</span>' : ''}</td><td class="muted">${p.diffs.map((x) => `s${x.seed}: ${fmtDiff(p.metric, x.diff)}`).join(', ')}</td></tr>`,
            )
            .join('')}</tbody></table>`
        : '<p class="muted">No seed has results in two arms yet.</p>';
      const child = (arm, seed) => d.children.find((k) => k.arm === arm && k.seed === seed);
      const cell = (k) => {
        if (!k) return '<td>—</td>';
        const v = k.status === 'completed' ? pct(k.finalTest) : `<i>${esc(k.status)}</i>`;
        return `<td class="num">${k.page ? `<a href="/s/${enc(k.id)}" data-child="${esc(k.id)}">${v}</a>` : v}</td>`;
      };
      $('#grid').innerHTML = `<table class="grid" id="grid-table"><thead><tr><th>seed</th>${c.arms.map((a) => `<th>${esc(a.arm)}</th>`).join('')}</tr></thead><tbody>${s.seeds
        .map((seed) => `<tr><td class="num">${seed}</td>${c.arms.map((a) => cell(child(a.arm, seed))).join('')}</tr>`)
        .join('')}</tbody></table>`;
      $('#children').innerHTML = `<table class="grid" id="children-table"><thead><tr><th>child</th><th>arm</th><th>seed</th><th>status</th><th>networks evaluated</th><th>start net (val.)</th><th>best val. acc.</th><th>final test acc.</th><th>params</th><th>wall time</th></tr></thead><tbody>${d.children
        .map(
          (k) => `<tr data-id="${esc(k.id)}"><td>${k.page ? `<a href="/s/${enc(k.id)}">${esc(k.id)}</a>` : esc(k.id)}${k.error ? `<br><span class="err">${esc(k.error)}</span>` : ''}</td><td>${esc(k.arm)}</td><td class="num">${k.seed}</td><td>${stateBadge({ state: k.status === 'completed' ? 'finished' : k.status === 'running' ? 'in progress' : k.status })}</td><td class="num">${k.evaluated || '—'}</td><td class="num">${pct(k.startVal)}</td><td class="num">${pct(k.bestVal)}</td><td class="num">${pct(k.finalTest)}</td><td class="num">${int(k.params)}</td><td class="num">${k.wallSeconds === null ? '—' : fmtMetric('wallSeconds', k.wallSeconds)}</td></tr>`,
        )
        .join('')}</tbody></table>`;
    }
    const key = JSON.stringify(d.spec);
    if (key !== lastSpec) {
      lastSpec = key;
      if (d.spec) await vegaEmbed('#fig5', d.spec, { renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false }, logLevel: vega.Error });
      else $('#fig5').innerHTML = '<p class="muted">No search of this experiment has evaluated a network yet.</p>';
    }
    document.body.dataset.children = String(s.done);
    const idle = s.stored !== 'in progress' && (s.live === null || s.live === 'completed');
    return idle ? IDLE_POLL_MS : POLL_MS * 2;
  }, POLL_MS * 2);
}

const pages = { list: listPage, search: searchPage, candidate: candidatePage, compare: comparePage, experiment: experimentPage };
const run = pages[document.body.dataset.page];
if (run) run();
