// The dashboard's camera calibration (/calibrate): clicked pixels + bed
// millimetres → POST api/calibration/solve|save (the same solver and limits as
// `layerwatch calibrate solve`). Paths are relative to the page.
'use strict';
const CSRF = document.querySelector('meta[name="csrf"]').content;
const $ = (id) => document.getElementById(id);
const num = (id) => Number($(id).value);
let points = [];
let active = 0;
let last = null;

function bed() {
  return { size_mm: [num('bed-w'), num('bed-d')], origin_mm: [num('bed-x'), num('bed-y')] };
}
function corners() {
  const b = bed(), [x0, y0] = b.origin_mm, [w, d] = b.size_mm;
  return [
    ['bed corner, front left', [x0, y0, 0]], ['bed corner, front right', [x0 + w, y0, 0]],
    ['bed corner, back right', [x0 + w, y0 + d, 0]], ['bed corner, back left', [x0, y0 + d, 0]],
  ];
}
function reset() {
  const b = bed();
  const cx = b.origin_mm[0] + b.size_mm[0] / 2, cy = b.origin_mm[1] + b.size_mm[1] / 2;
  points = corners().map(([label, mm]) => ({ label, mm, px: null, corner: true }));
  points.push({ label: 'nozzle tip, low', mm: [cx, cy, 20], px: null });
  points.push({ label: 'nozzle tip, high', mm: [cx, cy, 80], px: null });
  active = 0;
  draw();
}
function draw() {
  const body = $('pts');
  body.textContent = '';
  points.forEach((p, i) => {
    const tr = document.createElement('tr');
    tr.className = i === active ? 'active' : '';
    tr.dataset.index = String(i);
    const td = (x) => { const c = document.createElement('td'); if (x instanceof Node) c.append(x); else c.textContent = x; tr.append(c); return c; };
    td(String(i + 1));
    td(p.label);
    p.mm.forEach((v, k) => {
      const inp = document.createElement('input');
      inp.type = 'number'; inp.step = '0.1'; inp.value = String(v); inp.disabled = !!p.corner;
      inp.setAttribute('aria-label', `point ${i + 1} ${'XYZ'[k]}`);
      inp.onchange = () => { p.mm[k] = Number(inp.value); };
      td(inp);
    });
    td(p.px ? `${p.px[0].toFixed(1)}, ${p.px[1].toFixed(1)}` : 'click…');
    const e = last && last.residual_px && last.residual_px[i] != null ? `${last.residual_px[i].toFixed(2)} px` : '';
    td(e);
    tr.onclick = (ev) => { if (ev.target.tagName !== 'INPUT') { active = i; draw(); } };
    body.append(tr);
  });
  const img = $('cal-frame'), svg = $('cal-marks');
  if (img.naturalWidth) svg.setAttribute('viewBox', `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
  svg.textContent = '';
  points.forEach((p, i) => {
    if (!p.px) return;
    const c = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
    c.setAttribute('cx', p.px[0]); c.setAttribute('cy', p.px[1]); c.setAttribute('r', 6);
    const t = document.createElementNS('http://www.w3.org/2000/svg', 'text');
    t.setAttribute('x', p.px[0] + 8); t.setAttribute('y', p.px[1] - 8); t.textContent = String(i + 1);
    svg.append(c, t);
  });
}
function loadFrame() {
  const img = $('cal-frame');
  img.onload = () => { $('cal-size').textContent = `frame ${img.naturalWidth}×${img.naturalHeight} px`; draw(); };
  img.onerror = () => { $('cal-size').textContent = 'no frame from the camera yet'; };
  img.src = `api/live.jpg?t=${Date.now()}`;
}
$('cal-img').addEventListener('click', (ev) => {
  const img = $('cal-frame');
  if (!img.naturalWidth || !points[active]) return;
  const r = img.getBoundingClientRect();
  const px = [(ev.clientX - r.left) * img.naturalWidth / r.width, (ev.clientY - r.top) * img.naturalHeight / r.height];
  points[active].px = px;
  const next = points.findIndex((p) => !p.px);
  active = next >= 0 ? next : active;
  draw();
});
$('refresh').onclick = loadFrame;
['bed-w', 'bed-d', 'bed-x', 'bed-y'].forEach((id) => { $(id).onchange = () => {
  const c = corners(); points.forEach((p, i) => { if (p.corner) p.mm = c[i][1]; }); draw();
}; });
$('add').onclick = () => {
  const b = bed();
  points.push({ label: 'nozzle tip', mm: [b.origin_mm[0] + b.size_mm[0] / 2, b.origin_mm[1] + b.size_mm[1] / 2, 50], px: null });
  active = points.length - 1;
  draw();
};
function request() {
  const img = $('cal-frame');
  const used = points.filter((p) => p.px);
  return { frame_size: [img.naturalWidth, img.naturalHeight], bed: bed(), ransac: $('ransac').checked,
    points: used.map((p) => ({ bed_mm: p.mm, px: p.px })) };
}
async function send(path) {
  const out = $('result');
  out.className = 'small';
  out.textContent = '…';
  const r = await fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': CSRF }, body: JSON.stringify(request()),
  });
  const j = await r.json().catch(() => ({}));
  if (j.rms_px == null) {
    out.className = 'small err';
    out.textContent = j.error || `HTTP ${r.status}`;
    return;
  }
  // Residuals come back for the clicked points only: spread them over the rows.
  const res = []; let k = 0;
  points.forEach((p) => { res.push(p.px ? j.residual_px[k++] : null); });
  last = { ...j, residual_px: res };
  draw();
  const fit = `RMS ${j.rms_px.toFixed(2)} px (max ${j.max_px.toFixed(2)}), ${j.rms_mm.toFixed(2)} mm on the bed (max ${j.max_mm.toFixed(2)})`;
  out.className = j.accepted ? 'small okc' : 'small err';
  out.textContent = j.accepted
    ? `${fit}${j.written ? ` — written to ${j.written}; restart layerwatch to use it` : ''}`
    : `refused: ${j.refused || j.error} (${fit})`;
  const pre = $('toml'), a = $('download');
  pre.hidden = !j.camera_toml; a.hidden = !j.camera_toml;
  if (j.camera_toml) {
    pre.textContent = j.camera_toml;
    a.href = URL.createObjectURL(new Blob([j.camera_toml], { type: 'application/toml' }));
  }
}
$('solve').onclick = () => send('api/calibration/solve');
$('save').onclick = () => send('api/calibration/save');
reset();
loadFrame();
