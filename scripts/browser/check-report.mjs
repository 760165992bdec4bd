// Open a report.html in headless Chromium and print what a person would see, as JSON:
// console errors, page errors, every request that is not the file itself (a
// self-contained report makes none), and at each window width: whether the page
// scrolls sideways, every chart panel (its size, and what its legend reads while the
// mouse hovers over the chart), and every panel left out with the line saying why.
//
//   node scripts/browser/check-report.mjs results/<run>/report.html \
//        [--widths 1000,1600] [--screenshot-dir DIR] [--screenshot out.png]
//
// With --screenshot-dir, a full-page screenshot per width: DIR/report-<width>.png;
// --screenshot OUT.png takes one at the first width.
// Chromium is the system's ($CHROMIUM, else Debian's /usr/bin/chromium, else Google
// Chrome as on GitHub's hosted runners); playwright-core only drives it.
import { chromium } from 'playwright-core';
import { existsSync, mkdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const option = (name) => {
  const at = args.indexOf(name);
  if (at >= 0 && !args[at + 1]) usage();
  return at >= 0 ? args[at + 1] : null;
};
function usage() {
  console.error('usage: check-report.mjs REPORT.html [--widths W1,W2] [--screenshot-dir DIR] [--screenshot OUT.png]');
  process.exit(2);
}
const values = new Set(['--widths', '--screenshot-dir', '--screenshot'].map((o) => option(o)));
const file = args.find((a) => !a.startsWith('--') && !values.has(a));
if (!file) usage();
const widths = (option('--widths') || '1200').split(',').map(Number);
const shotDir = option('--screenshot-dir');
const screenshot = option('--screenshot');
const url = pathToFileURL(resolve(file)).href;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM
    || ['/usr/bin/chromium', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'].find(existsSync)
    || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

// Every panel at this width: charts with their size and drawing, left-out lines.
const panels = (page) => page.evaluate(() => ({
  charts: [...document.querySelectorAll('#panels .panel')].map((p) => {
    const box = p.getBoundingClientRect();
    const plot = p.querySelector('.uplot');
    return {
      id: p.id.replace(/^panel-/, ''),
      title: p.querySelector('h3')?.textContent,
      width: Math.round(box.width),
      height: Math.round(box.height),
      right: Math.round(box.right),
      drawn: !!plot && !!plot.querySelector('canvas'),
      series: [...p.querySelectorAll('.u-legend .u-series')].slice(1).map((s) => s.querySelector('.u-label')?.textContent),
    };
  }),
  leftOut: [...document.querySelectorAll('.left-out')].map((e) => ({
    id: e.id.replace(/^panel-/, ''),
    text: e.textContent.trim(),
  })),
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
}));

// Hover over each chart's plotting area (at 3/4 of its width) and read its legend.
async function hover(page, ids) {
  const read = {};
  for (const id of ids) {
    const over = page.locator(`#panel-${id} .u-over`);
    await over.scrollIntoViewIfNeeded();
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2);
    await page.waitForTimeout(50);
    read[id] = await page.$$eval(`#panel-${id} .u-legend .u-series`, (rows) => rows.map((r) => ({
      label: r.querySelector('.u-label')?.textContent,
      value: r.querySelector('.u-value')?.textContent,
    })));
  }
  return read;
}

const result = { url, consoleErrors: [], pageErrors: [], requests: [], widths: [] };
try {
  const page = await browser.newPage({ viewport: { width: widths[0], height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') result.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => result.pageErrors.push(String(e)));
  page.on('request', (r) => { if (r.url() !== url) result.requests.push(r.url()); });
  await page.goto(url, { waitUntil: 'load' });
  result.title = await page.title();
  result.verification = await page.$eval('#verification', (e) => e.textContent.trim()).catch(() => null);
  result.tables = await page.$$eval('#tables table', (ts) => ts.map((t) => t.id));
  result.latencySummaryHead = await page.$$eval('#latency-summary tr:first-child th', (hs) => hs.map((h) => h.textContent));
  if (shotDir) mkdirSync(shotDir, { recursive: true });
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(200); // the charts follow their boxes' new widths
    const seen = await panels(page);
    seen.width = width;
    seen.hover = await hover(page, seen.charts.map((c) => c.id));
    if (shotDir) {
      seen.screenshot = join(shotDir, `report-${width}.png`);
      await page.screenshot({ path: seen.screenshot, fullPage: true });
    }
    result.widths.push(seen);
  }
  if (screenshot) {
    await page.setViewportSize({ width: widths[0], height: 900 });
    await page.waitForTimeout(200);
    await page.screenshot({ path: screenshot, fullPage: true });
    result.screenshot = screenshot;
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result, null, 2));
