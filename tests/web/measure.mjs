// Opens the dashboard once in headless Chromium and reports what the first load
// cost (bytes of HTML + JS + CSS, navigation and paint timings), then keeps the
// page open for LW_HOLD seconds (scripts/web_measure.sh samples the daemon's CPU
// meanwhile). Env: LW_URL, LW_PLAYWRIGHT, LW_CHROMIUM, LW_HOLD.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.LW_PLAYWRIGHT);
const browser = await chromium.launch({ executablePath: process.env.LW_CHROMIUM, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const sizes = {};
page.on('response', async (r) => {
  const u = new URL(r.url());
  if (u.pathname === '/' || u.pathname.startsWith('/assets/')) {
    try {
      sizes[u.pathname] = { body: (await r.body()).length, encoded: (await r.request().sizes()).responseBodySize };
    } catch { /* ignore */ }
  }
});
await page.goto(process.env.LW_URL, { waitUntil: 'load' });
await page.waitForFunction(() => document.getElementById('live').dataset.seq !== undefined, null, { timeout: 30000 });
const t = await page.evaluate(() => {
  const n = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
  return { response_end_ms: n.responseEnd, dom_content_loaded_ms: n.domContentLoadedEventEnd, load_ms: n.loadEventEnd, first_contentful_paint_ms: fcp ? fcp.startTime : null };
});
const total = Object.values(sizes).reduce((a, s) => a + s.body, 0);
console.log(JSON.stringify({ first_load_bytes: total, files: sizes, ...t }));
await new Promise((r) => setTimeout(r, Number(process.env.LW_HOLD || 30) * 1000));
const seq = await page.$eval('#live', (i) => i.dataset.seq);
console.log(JSON.stringify({ live_seq_at_end: Number(seq) }));
await browser.close();
