// The expected-print overlay on the dashboard's live view, in headless Chromium,
// against a daemon printing with a calibrated camera (started by tests/e2e_geometry.rs).
//
// Env: LW_URL, LW_SHOTS, LW_PLAYWRIGHT, LW_CHROMIUM (as dashboard.mjs).
// Waits for the overlay to be drawn, screenshots the page and the camera card
// (geometry-overlay.png, geometry-overlay-card.png), and prints one JSON line:
// where the drawn outline and region of interest lie on the page, relative to
// the live image, and what /api/overlay said.
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
try {
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('#overlay:not(.off) path.ov-outline', { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('live').naturalWidth > 0, null, { timeout: 30000 });
  await page.waitForTimeout(300);
  const m = await page.evaluate(() => {
    const img = document.getElementById('live').getBoundingClientRect();
    const svg = document.getElementById('overlay');
    const path = svg.querySelector('path.ov-outline').getBoundingClientRect();
    const roi = svg.querySelector('rect.ov-roi');
    const r = roi ? roi.getBoundingClientRect() : null;
    const box = (b) => (b ? { x: b.x, y: b.y, w: b.width, h: b.height } : null);
    return { image: box(img), outline: box(path), roi: box(r), layer: Number(svg.dataset.layer), segments: Number(svg.dataset.segments) };
  });
  // The overlay the page drew (from /api/overlay), to compare with where it landed.
  m.api = await page.evaluate(() => lastOverlay);
  await page.screenshot({ path: `${shots}/geometry-overlay.png`, fullPage: true });
  await page.locator('section.card.live').screenshot({ path: `${shots}/geometry-overlay-card.png` });
  if (errors.length) throw new Error(errors.join('\n'));
  console.log(JSON.stringify(m));
} catch (e) {
  await page.screenshot({ path: `${shots}/failed-geometry-overlay.png`, fullPage: true }).catch(() => {});
  console.error(`overlay check failed: ${e.message}\n${errors.join('\n')}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
