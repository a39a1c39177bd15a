// layerwatch dashboard: live status over server-sent events (api/events),
// the score timeline as SVG, owner commands as POSTs with the CSRF header.
// Plain JS, no build step, no third-party code.
'use strict';
const $ = (id) => document.getElementById(id);
const CSRF = document.querySelector('meta[name=csrf]').content;
const SVGNS = 'http://www.w3.org/2000/svg';
let status = null;
let tl = { steps: [], points: [], actions: [], incidents: [], print: null, warning_level: null, pause_level: null };
let viewing = null; // id of a past print shown in the timeline, else live
let lastSeq = null, loadingFrame = false, lastKey = '';
let tlTimer = null;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const fmtClock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
function fmtDur(s) {
  if (s == null || !isFinite(s)) return '—';
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}
const heater = (h) => (h ? `${h.actual.toFixed(0)}°${h.target > 0 ? ' → ' + h.target.toFixed(0) + '°' : ''}` : '—');
const pct = (x) => (x == null ? '—' : `${(x * 100).toFixed(0)} %`);

// Every path is relative to the page, so the same page works at / (one printer) and at
// /p/<name>/ (several); the server's own links (/api/snapshots/…) are made relative too.
const rel = (u) => (u && u.startsWith('/') ? u.slice(1) : u);

async function getJSON(path) {
  const r = await fetch(path, { credentials: 'same-origin' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}
async function post(path, body) {
  const r = await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CSRF },
    body: JSON.stringify(body || {}),
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || `HTTP ${r.status}`);
  return j;
}

function confirmDialog(text, yes) {
  return new Promise((resolve) => {
    const d = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yes;
    d.onclose = () => resolve(d.returnValue === 'yes');
    d.returnValue = '';
    d.showModal();
  });
}

// ---- status -----------------------------------------------------------------
function renderStatus(s) {
  status = s;
  const h = $('health');
  h.textContent = s.health.ok ? 'healthy' : 'attention';
  h.className = 'pill ' + (s.health.ok ? 'ok' : 'bad');
  h.title = s.health.problems.join('\n');

  const p = s.printer, job = p.job;
  refreshOverlay(s);
  const st = $('p-state');
  st.textContent = p.state;
  st.className = 'pill ' + (p.state === 'printing' ? 'ok' : p.state === 'paused' || p.state === 'pausing' ? 'warning' : p.state === 'error' || p.state === 'disconnected' ? 'bad' : '');
  $('p-file').textContent = job ? job.file || '(unknown file)' : 'no print';
  $('p-layer').textContent = p.layer != null ? `${p.layer}${p.layer_count ? ' of ' + p.layer_count : ''}` : '—';
  $('p-z').textContent = job && job.z != null ? `${job.z.toFixed(2)} mm` : '—';
  $('p-progress').textContent = pct(job && job.progress);
  $('p-bar').style.width = job && job.progress != null ? `${(job.progress * 100).toFixed(1)}%` : '0';
  let left = null;
  if (job && job.elapsed != null && job.progress > 0.01) left = job.elapsed / job.progress - job.elapsed;
  $('p-left').textContent = fmtDur(left);
  $('p-hotend').textContent = heater(p.temps.hotend);
  $('p-bed').textContent = heater(p.temps.bed);
  const active = ['printing', 'pausing', 'paused', 'heating'].includes(p.state);
  $('btn-pause').disabled = !(p.state === 'printing' || p.state === 'heating');
  $('btn-resume').disabled = p.state !== 'paused';
  $('btn-cancel').disabled = !active;

  const d = s.decision, v = $('verdict');
  if (d) {
    const judged = d.gate === 'judged';
    $('v-level').textContent = judged ? d.level.toUpperCase() : d.gate.replace(/_/g, ' ');
    $('v-score').textContent = `score ${d.smoothed.toFixed(2)}${d.kind ? ' · ' + d.kind : ''}`;
    v.className = 'verdict ' + (judged ? d.level : 'idle');
    v.title = d.note;
  }
  const c = s.camera;
  $('cam-caption').textContent = `${c.name}: ${c.state} · ${c.fps.toFixed(1)} fps · frame ${lastSeq ?? '—'}` +
    ` · inference ${s.vision.mean_latency_ms != null ? s.vision.mean_latency_ms.toFixed(0) + ' ms' : '—'}` +
    (c.last_error ? ` · ${c.last_error}` : '');

  const facts = [
    ['Camera', `${c.state}, ${c.fps.toFixed(1)} fps`], ['Frames', c.frames], ['Dropped', c.dropped],
    ['Bad frames', c.bad_frames], ['Inference', s.vision.mean_latency_ms != null ? `${s.vision.mean_latency_ms.toFixed(0)} ms` : '—'],
    ['Printer link', p.state === 'disconnected' ? 'down' : 'up'], ['Link', p.link],
    ['Outbox', `${s.outbox.pending} pending, ${s.outbox.failed} failed`], ['Uptime', fmtDur(s.uptime_s)],
  ];
  if (s.geometry) {
    const g = s.geometry;
    facts.push(['Geometry', `${g.state}, ${g.judged_layers} layers judged` +
      (g.findings.length ? `, ${g.findings.map((f) => f.kind.replace(/_/g, ' ')).join(', ')}` : '')]);
  }
  const hf = $('health-facts');
  hf.replaceChildren(...facts.map(([k, val]) => { const x = el('div'); x.append(el('dt', {}, k), el('dd', {}, String(val))); return x; }));
  $('problems').replaceChildren(...s.health.problems.map((t) => el('li', {}, t)));

  // Incidents and printer actions change with the printer state or the verdict.
  const key = `${p.state}|${d ? d.level : ''}|${job ? job.file : ''}`;
  if (key !== lastKey) { lastKey = key; refreshLists(); }
}

// ---- the expected print over the live frame (calibrated camera, /api/overlay) ---------
let overlayKey = null, lastOverlay = null;
async function refreshOverlay(s) {
  const g = s.geometry, box = $('overlay'), layer = s.printer.layer;
  if (!g || g.state !== 'watching' || layer == null) {
    overlayKey = null;
    box.classList.add('off');
    return;
  }
  const found = g.findings.length ? g.findings[g.findings.length - 1] : null;
  const key = `${layer}|${s.printer.job ? s.printer.job.file : ''}|${g.findings.length}`;
  if (key === overlayKey) return;
  overlayKey = key;
  try {
    drawOverlay(await getJSON('api/overlay'), found);
  } catch (e) {
    overlayKey = null;
    box.classList.add('off');
  }
}

function drawOverlay(o, found) {
  const box = $('overlay');
  box.setAttribute('viewBox', `0 0 ${o.width} ${o.height}`);
  const kids = [];
  if (o.roi) kids.push(sv('rect', { class: 'ov-roi', x: o.roi.x, y: o.roi.y, width: o.roi.width, height: o.roi.height }));
  const d = o.outline.map(([a, b]) => `M${a[0].toFixed(1)} ${a[1].toFixed(1)}L${b[0].toFixed(1)} ${b[1].toFixed(1)}`).join('');
  kids.push(sv('path', { class: 'ov-outline', d }));
  if (found && found.region) {
    const r = found.region;
    kids.push(sv('rect', { class: 'ov-region', x: r.x, y: r.y, width: r.width, height: r.height }));
  }
  const fs = Math.max(8, o.height / 22);
  const label = `expected outline, layer ${o.layer + 1}` + (found ? ` · ${found.kind.replace(/_/g, ' ')}` : '');
  kids.push(sv('text', { class: 'ov-label', x: fs / 2, y: o.height - fs / 2, 'font-size': fs }, label));
  box.replaceChildren(...kids);
  box.dataset.layer = o.layer;
  box.dataset.segments = o.outline.length;
  lastOverlay = o;
  box.classList.remove('off');
}

function showFrame(seq) {
  if (seq == null || seq === lastSeq || loadingFrame) return;
  loadingFrame = true;
  const img = $('live');
  img.onload = () => { loadingFrame = false; lastSeq = seq; img.dataset.seq = seq; $('nofeed').hidden = true; };
  img.onerror = () => { loadingFrame = false; };
  img.src = `api/live.jpg?seq=${seq}`;
}

// ---- timeline -----------------------------------------------------------------
function scheduleTimeline() {
  if (tlTimer) return;
  tlTimer = setTimeout(() => { tlTimer = null; drawTimeline(); }, 200);
}

function drawTimeline() {
  const W = Math.max(320, $('timeline').clientWidth || 1000), H = W < 600 ? 240 : 280, L = 34, R = 10, T = 22, B = 34, band = 8;
  const svg = sv('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'failure score over the print' });
  const pts = (tl.steps.length && !viewing)
    ? tl.steps.map((s) => ({ t: s.at, v: s.smoothed, raw: s.raw, level: s.level, layer: s.layer, pl: s.pause_level, judged: s.gate === 'judged' }))
    : tl.points.map((p) => ({ t: p.start_at, v: p.score_last, raw: null, level: p.level, layer: p.layer, pl: null, judged: true }));
  const start = tl.print ? tl.print.started_at : (pts.length ? pts[0].t : Date.now());
  const endLive = viewing ? 0 : Date.now();
  const end = Math.max(start + 10000, pts.length ? pts[pts.length - 1].t : 0, tl.print && tl.print.ended_at ? tl.print.ended_at : endLive);
  const x = (t) => L + ((t - start) / (end - start)) * (W - L - R);
  const y = (v) => T + (1 - Math.max(0, Math.min(1, v))) * (H - T - B - band - 4);
  for (const g of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(sv('line', { x1: L, x2: W - R, y1: y(g), y2: y(g), stroke: '#eef0f3' }));
    svg.append(sv('text', { x: L - 6, y: y(g) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#6b7280' }, g.toFixed(2)));
  }
  // Time axis: time since the print started.
  const spanS = (end - start) / 1000;
  const stepS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].find((s) => spanS / s <= 8) || 14400;
  for (let t = 0; t <= spanS; t += stepS) {
    const label = stepS < 60 ? `${t} s` : stepS < 3600 ? `${t / 60} min` : `${t / 3600} h`;
    svg.append(sv('text', { x: x(start + t * 1000), y: H - 6, 'text-anchor': 'middle', 'font-size': 11, fill: '#6b7280' }, label));
  }
  // Layer markers: a faint line at every layer change, a label where there is room.
  let lastLayer = null, lastLabelX = -1e9;
  for (const p of pts) {
    if (p.layer == null || p.layer === lastLayer) continue;
    lastLayer = p.layer;
    const xx = x(p.t);
    svg.append(sv('line', { x1: xx, x2: xx, y1: T, y2: y(0), stroke: '#e2e6ec', 'stroke-width': 1, class: 'layer-mark' }));
    if (xx - lastLabelX > 42) {
      svg.append(sv('text', { x: xx + 2, y: T - 8, 'font-size': 10, fill: '#94a3b8' }, `L${p.layer + 1}`));
      lastLabelX = xx;
    }
  }
  // Verdict band under the chart.
  const by = y(0) + 4;
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i], n = pts[i + 1];
    const x1 = x(p.t), x2 = n ? x(n.t) : x1 + 2;
    const fill = !p.judged ? '#d1d5db' : p.level === 'failure' ? '#d6312f' : p.level === 'warning' ? '#d98b00' : '#9bd8b4';
    svg.append(sv('rect', { x: x1, y: by, width: Math.max(1, x2 - x1), height: band, fill }));
  }
  // Warning and pause levels.
  const wl = status && status.decision && status.decision.warning_level != null ? status.decision.warning_level : tl.warning_level;
  if (wl != null) svg.append(sv('line', { x1: L, x2: W - R, y1: y(wl), y2: y(wl), stroke: '#d98b00', 'stroke-dasharray': '6 4', 'stroke-width': 1.5 }));
  const pl = pts.filter((p) => p.pl != null);
  if (pl.length) {
    const d = pl.map((p, i) => (i ? `H${x(p.t).toFixed(1)}V${y(p.pl).toFixed(1)}` : `M${x(p.t).toFixed(1)} ${y(p.pl).toFixed(1)}`)).join('');
    svg.append(sv('path', { d, fill: 'none', stroke: '#d6312f', 'stroke-dasharray': '6 4', 'stroke-width': 1.5 }));
  } else if (tl.pause_level != null) {
    svg.append(sv('line', { x1: L, x2: W - R, y1: y(tl.pause_level), y2: y(tl.pause_level), stroke: '#d6312f', 'stroke-dasharray': '6 4', 'stroke-width': 1.5 }));
  }
  // Raw scores (faint) and the smoothed score.
  for (const p of pts) if (p.raw != null) svg.append(sv('circle', { cx: x(p.t), cy: y(p.raw), r: 1.6, fill: '#93c5fd' }));
  if (pts.length) {
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)} ${y(p.v).toFixed(1)}`).join('');
    svg.append(sv('path', { d, fill: 'none', stroke: '#2563eb', 'stroke-width': 2.2, class: 'score-line' }));
  } else {
    svg.append(sv('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', fill: '#6b7280' }, 'no scores yet'));
  }
  // Printer actions and incidents on the same axis.
  tl.actions.forEach((a, k) => {
    const xx = x(a.at);
    if (xx < L || xx > W) return;
    svg.append(sv('line', { x1: xx, x2: xx, y1: T - 4, y2: by + band, stroke: '#7c3aed', 'stroke-width': 2, class: 'action-mark' }));
    const label = `${a.command}${a.actor === 'user' ? ' (you)' : ''}`;
    const right = xx > W - 90;
    svg.append(sv('text', { x: right ? xx - 4 : xx + 4, y: T + 10 + (k % 3) * 14, 'text-anchor': right ? 'end' : 'start', 'font-size': 12, fill: '#7c3aed', 'font-weight': 600 }, label));
  });
  for (const i of tl.incidents) {
    const xx = x(i.opened_at);
    svg.append(sv('path', { d: `M${xx - 6} ${by + band + 12}L${xx + 6} ${by + band + 12}L${xx} ${by + band + 2}Z`, fill: '#d6312f' }));
  }
  $('timeline').replaceChildren(svg);
  $('tl-title').textContent = viewing ? `· print #${viewing} (${tl.print ? tl.print.file : ''})` : tl.print ? `· current print: ${tl.print.file}` : '';
}

async function loadTimeline() {
  try {
    const t = await getJSON(viewing ? `api/prints/${viewing}/timeline` : 'api/timeline');
    tl = { ...t, actions: t.actions.map((a) => ({ at: a.at, command: a.command, actor: a.actor })) };
    drawTimeline();
  } catch (e) { $('tl-title').textContent = String(e.message || e); }
}

// ---- incidents, history, config -------------------------------------------------
function incidentCard(i) {
  const box = el('div', { class: 'incident', 'data-id': i.id });
  box.append(i.snapshot_url ? el('img', { src: rel(i.snapshot_url), alt: `snapshot of incident ${i.id}`, loading: 'lazy' }) : el('div', { class: 'muted' }, 'no snapshot'));
  const body = el('div');
  const title = el('h3', {}, `#${i.id} ${i.cause.replace(/_/g, ' ')} `);
  title.append(el('span', { class: `pill ${i.level}` }, i.level), el('span', { class: 'muted' }, i.closed_at ? ` closed (${i.closed_reason || ''})` : ' open'));
  body.append(title);
  body.append(el('p', {}, `confidence ${pct(i.confidence)} · layer ${i.layer != null ? i.layer + 1 : '—'}${i.layer_count ? ' of ' + i.layer_count : ''} · ${fmtClock(i.opened_at)}`));
  body.append(el('p', {}, `done: ${i.actions || 'nothing'}`));
  const alerts = i.alerts.map((a) => `${a.kind.replace(/_/g, ' ')} by ${a.channel}: ${a.state}${a.attempts > 1 ? ` (${a.attempts} tries)` : ''}${a.last_error ? ' – ' + a.last_error : ''}`);
  body.append(el('p', {}, `alerts: ${alerts.join(' · ') || 'none'}`));
  if (i.feedback) body.append(el('p', { class: 'feedback' }, `you said: ${i.feedback.replace(/_/g, ' ')}`));
  const btns = el('div', { class: 'buttons' });
  if (i.feedback !== 'not_a_failure') {
    const nf = el('button', { class: 'btn primary nf', 'data-id': i.id }, status && status.printer.state === 'paused' && i.holds_printer ? 'Not a failure – resume' : 'Not a failure');
    nf.onclick = () => notAFailure(i, nf);
    btns.append(nf);
  }
  const mute = el('button', { class: 'btn mute' }, 'Mute for this print');
  mute.onclick = async () => { try { const r = await post('api/mute', {}); say(r.message); } catch (e) { say(e.message, true); } };
  btns.append(mute);
  body.append(btns);
  box.append(body);
  return box;
}

async function notAFailure(i, btn) {
  btn.disabled = true;
  const resume = !!(status && status.printer.state === 'paused' && i.holds_printer);
  try {
    const r = await post(`api/incidents/${i.id}/not-a-failure`, { resume });
    say(`${r.message}${r.dataset && r.dataset.images != null ? ` · ${r.dataset.images} frames saved for retraining` : ''}`);
  } catch (e) { say(e.message, true); btn.disabled = false; }
  refreshLists();
}

async function refreshLists() {
  try {
    const [inc, prints] = await Promise.all([getJSON('api/incidents?limit=20'), getJSON('api/prints?limit=20')]);
    const box = $('incidents');
    box.replaceChildren(...(inc.length ? inc.map(incidentCard) : [el('p', { class: 'muted' }, 'none: all quiet')]));
    $('prints').replaceChildren(...prints.map((p) => {
      const tr = el('tr', { 'data-id': p.id });
      if (viewing === p.id) tr.className = 'sel';
      const video = el('td', {});
      if (p.timelapse_url) {
        const a = el('a', { href: rel(p.timelapse_url), target: '_blank', rel: 'noopener' }, 'time-lapse');
        a.onclick = (ev) => ev.stopPropagation();
        video.append(a);
      }
      tr.append(el('td', {}, new Date(p.started_at).toLocaleString()), el('td', {}, p.file), el('td', {}, p.outcome || (p.ended_at ? 'ended' : 'printing')), video);
      tr.onclick = () => { viewing = p.ended_at ? p.id : null; loadTimeline(); refreshLists(); };
      return tr;
    }));
  } catch (e) { say(e.message, true); }
  loadTimeline();
}

function say(text, bad) { const m = $('p-msg'); m.textContent = text; m.style.color = bad ? '#d6312f' : ''; }

async function command(cmd) {
  if (cmd === 'pause' && !(await confirmDialog('Pause the print now? The head parks and the heaters stay on.', 'Pause'))) return;
  if (cmd === 'cancel' && !(await confirmDialog('Cancel this print? It cannot be resumed.', 'Cancel print'))) return;
  try { const r = await post(`api/printer/${cmd}`, { confirm: cmd === 'cancel' }); say(r.message); } catch (e) { say(e.message, true); }
  refreshLists();
}
for (const b of document.querySelectorAll('[data-cmd]')) b.onclick = () => command(b.dataset.cmd);

async function loadConfig() {
  try {
    const c = await getJSON('api/config');
    $('config').textContent = JSON.stringify(c.config, null, 2);
    const r = $('roi');
    if (c.roi) {
      const [x, y, w, h] = c.roi;
      Object.assign(r.style, { left: `${x * 100}%`, top: `${y * 100}%`, width: `${w * 100}%`, height: `${h * 100}%` });
      r.dataset.label = 'region of interest';
    } else r.dataset.label = 'whole frame judged';
  } catch (e) { $('config').textContent = String(e.message || e); }
}

// ---- live updates -----------------------------------------------------------------
function connect() {
  const es = new EventSource('api/events');
  es.onopen = () => { $('link').textContent = 'live'; $('link').className = 'pill ok'; };
  es.onerror = () => { $('link').textContent = 'reconnecting'; $('link').className = 'pill warning'; };
  es.addEventListener('status', (e) => {
    const d = JSON.parse(e.data);
    renderStatus(d.status);
    showFrame(d.frame_seq);
    if (d.steps.length && !viewing) {
      tl.steps.push(...d.steps);
      if (tl.steps.length > 6000) tl.steps.splice(0, tl.steps.length - 6000);
      scheduleTimeline();
    }
  });
}

window.addEventListener('resize', scheduleTimeline);
loadConfig();
connect();
$('btn-forget-camera').onclick = async () => {
  const m = $('h-msg');
  try { const r = await post('api/camera-memory/reset', {}); m.textContent = r.message; m.style.color = ''; } catch (e) { m.textContent = e.message; m.style.color = '#d6312f'; }
};
