// The dashboard's camera calibration page (/calibrate) in headless Chromium, against the demo
// (started by tests/web_browser.rs). Env: LW_URL, LW_SHOTS, LW_PLAYWRIGHT, LW_CHROMIUM, and
// LW_POINTS: the pixels of the page's six default rows (four bed corners, the nozzle at two
// heights) for a known camera, in the frame's own pixels. Clicks them where the scaled image shows
// them, solves, tries to save (the demo has no camera file configured), and prints one JSON line.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.LW_PLAYWRIGHT);
const shots = process.env.LW_SHOTS;
const points = JSON.parse(process.env.LW_POINTS);
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({ executablePath: process.env.LW_CHROMIUM, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
// The save without a configured camera file answers 409 on purpose: the browser logs that one.
page.on('console', (m) => {
  if (m.type() === 'error' && !m.text().includes('status of 409')) errors.push(`console: ${m.text()}`);
});
try {
  await page.goto(`${process.env.LW_URL}/calibrate`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('cal-frame').naturalWidth > 0, null, { timeout: 30000 });
  const frame = await page.evaluate(() => {
    const img = document.getElementById('cal-frame');
    const r = img.getBoundingClientRect();
    return { w: img.naturalWidth, h: img.naturalHeight, x: r.left, y: r.top, cw: r.width, ch: r.height };
  });
  for (const p of points) {
    await page.mouse.click(frame.x + (p[0] + 0.5) * frame.cw / frame.w, frame.y + (p[1] + 0.5) * frame.ch / frame.h);
  }
  const clicked = await page.locator('#pts tr').evaluateAll((rows) => rows.map((r) => r.children[5].textContent));
  await page.click('#solve');
  await page.waitForFunction(() => /RMS|refused|HTTP/.test(document.getElementById('result').textContent), null, { timeout: 15000 });
  const solved = await page.evaluate(() => ({
    text: document.getElementById('result').textContent,
    ok: document.getElementById('result').className.includes('okc'),
    toml: !document.getElementById('toml').hidden && document.getElementById('toml').textContent.includes('[pose]'),
    download: !document.getElementById('download').hidden,
    marks: document.querySelectorAll('#cal-marks circle').length,
  }));
  await page.screenshot({ path: `${shots}/calibrate-solved.png`, fullPage: true });
  await page.click('#save');
  await page.waitForFunction((before) => document.getElementById('result').textContent !== before, solved.text, { timeout: 15000 });
  const saved = await page.evaluate(() => document.getElementById('result').textContent);
  if (errors.length) throw new Error(errors.join('\n'));
  console.log(JSON.stringify({ frame, clicked, solved, saved }));
} catch (e) {
  await page.screenshot({ path: `${shots}/failed-calibrate.png`, fullPage: true }).catch(() => {});
  console.error(`calibrate check failed: ${e.message}\n${errors.join('\n')}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
