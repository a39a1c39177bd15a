// End-to-end check of the dashboard in headless Chromium against a running
// `layerwatch demo --keep` (started by tests/web_browser.rs).
//
// Env: LW_URL (http://127.0.0.1:PORT), LW_SHOTS (screenshot folder),
//      LW_PLAYWRIGHT (path of playwright-core), LW_CHROMIUM (browser binary).
// Prints one JSON line of measurements on success; exits 1 with a reason otherwise.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.LW_PLAYWRIGHT);
const url = process.env.LW_URL;
const shots = process.env.LW_SHOTS;
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({ executablePath: process.env.LW_CHROMIUM, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
let bytes = 0;
const transferred = {};
page.on('response', async (r) => {
  const u = new URL(r.url());
  if (u.pathname === '/' || u.pathname.startsWith('/assets/')) {
    try { const b = await r.body(); bytes += b.length; transferred[u.pathname] = b.length; } catch { /* streamed */ }
  }
});

const step = async (name, fn) => {
  try { return await fn(); } catch (e) {
    await page.screenshot({ path: `${shots}/failed-${name}.png`, fullPage: true }).catch(() => {});
    console.error(`step "${name}" failed: ${e.message}\n${errors.join('\n')}`);
    await browser.close();
    process.exit(1);
  }
};
const apiStatus = () => page.evaluate(async () => (await fetch('/api/status')).json());

const out = {};
await step('load', async () => {
  await page.goto(url, { waitUntil: 'load' });
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    const paint = performance.getEntriesByType('paint').find((p) => p.name === 'first-contentful-paint');
    return { dom_content_loaded_ms: n.domContentLoadedEventEnd, load_ms: n.loadEventEnd, first_contentful_paint_ms: paint ? paint.startTime : null };
  });
  Object.assign(out, nav);
});

await step('live-image-updates', async () => {
  await page.waitForFunction(() => document.getElementById('live').dataset.seq !== undefined, null, { timeout: 20000 });
  const first = await page.$eval('#live', (i) => Number(i.dataset.seq));
  await page.waitForFunction((f) => Number(document.getElementById('live').dataset.seq) > f, first, { timeout: 10000 });
  const ok = await page.$eval('#live', (i) => i.complete && i.naturalWidth > 0);
  if (!ok) throw new Error('the live image did not decode');
  out.live_seq_first = first;
});

await step('timeline-draws', async () => {
  await page.waitForFunction(() => {
    const p = document.querySelector('#timeline path.score-line');
    return p && p.getAttribute('d').split('L').length > 5;
  }, null, { timeout: 15000 });
  out.layer_marks = await page.$$eval('#timeline .layer-mark', (l) => l.length);
  if (out.layer_marks < 1) throw new Error('no layer markers on the timeline');
});

await step('pause-with-confirmation', async () => {
  await page.waitForFunction(() => document.getElementById('p-state').textContent === 'printing', null, { timeout: 20000 });
  await page.screenshot({ path: `${shots}/desktop-printing.png`, fullPage: true });
  await page.click('#btn-pause');
  await page.waitForSelector('#confirm[open]');
  await page.screenshot({ path: `${shots}/desktop-confirm-pause.png` });
  await page.click('#confirm-yes');
  await page.waitForFunction(() => document.getElementById('p-state').textContent === 'paused', null, { timeout: 15000 });
  const s = await apiStatus();
  if (s.printer.state !== 'paused') throw new Error(`the API says ${s.printer.state} after pausing`);
  await page.waitForSelector('#timeline .action-mark', { state: 'attached', timeout: 5000 });
});

await step('resume', async () => {
  await page.click('#btn-resume');
  await page.waitForFunction(() => document.getElementById('p-state').textContent === 'printing', null, { timeout: 15000 });
});

await step('incident-and-not-a-failure', async () => {
  // The demo's failure pauses the printer on its own and opens an incident.
  await page.waitForSelector('#incidents .incident button.nf', { timeout: 60000 });
  await page.waitForFunction(() => document.getElementById('p-state').textContent === 'paused', null, { timeout: 30000 });
  await page.waitForSelector('#incidents .incident img', { timeout: 10000 });
  await page.screenshot({ path: `${shots}/desktop-incident.png`, fullPage: true });
  await page.click('#incidents .incident button.nf');
  await page.waitForSelector('#incidents .incident .feedback', { timeout: 10000 });
  const inc = await page.evaluate(async () => (await fetch('/api/incidents')).json());
  if (!inc.some((i) => i.feedback === 'not_a_failure')) throw new Error('the API has no incident marked not_a_failure');
  out.not_a_failure_message = await page.$eval('#p-msg', (m) => m.textContent);
  if (!/frames saved/.test(out.not_a_failure_message)) throw new Error(`no dataset note in "${out.not_a_failure_message}"`);
  await page.screenshot({ path: `${shots}/desktop-after-feedback.png`, fullPage: true });
});

await step('phone', async () => {
  const phone = await browser.newPage({ viewport: { width: 360, height: 780 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.goto(url, { waitUntil: 'load' });
  await phone.waitForFunction(() => document.getElementById('live').dataset.seq !== undefined, null, { timeout: 15000 });
  await phone.waitForSelector('#timeline path.score-line', { timeout: 10000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await phone.screenshot({ path: `${shots}/phone-360.png`, fullPage: true });
  if (overflow > 0) throw new Error(`the page is ${overflow} px wider than a 360 px screen`);
  await phone.close();
});

out.first_load_bytes = bytes;
out.first_load = transferred;
if (errors.length) { console.error(errors.join('\n')); await browser.close(); process.exit(1); }
console.log(JSON.stringify(out));
await browser.close();
