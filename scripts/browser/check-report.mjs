// Open a report.html in headless Chromium and print what a person would see, as JSON:
// every chart's size and marks, console errors, page errors, and every request that is
// not the file itself (a self-contained report makes none).
//
//   node scripts/browser/check-report.mjs results/<run>/report.html [--screenshot out.png]
//
// Chromium is the system's ($CHROMIUM, else Debian's /usr/bin/chromium, else Google
// Chrome as on GitHub's hosted runners); playwright-core only drives it.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const shotAt = args.indexOf('--screenshot');
const screenshot = shotAt >= 0 ? args[shotAt + 1] : null;
if (!file || (shotAt >= 0 && !screenshot)) {
  console.error('usage: check-report.mjs REPORT.html [--screenshot OUT.png]');
  process.exit(2);
}
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
const result = { url, consoleErrors: [], pageErrors: [], requests: [], charts: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') result.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => result.pageErrors.push(String(e)));
  page.on('request', (r) => { if (r.url() !== url) result.requests.push(r.url()); });
  await page.goto(url, { waitUntil: 'load' });
  result.title = await page.title();
  result.charts = await page.$$eval('svg.chart', (svgs) => svgs.map((svg) => {
    const box = svg.getBoundingClientRect();
    return {
      id: svg.id,
      width: Math.round(box.width),
      height: Math.round(box.height),
      lines: svg.querySelectorAll('polyline.series').length,
      points: svg.querySelectorAll('circle').length,
      bars: svg.querySelectorAll('rect.bar').length,
    };
  }));
  result.verification = await page.$eval('#verification', (e) => e.textContent.trim()).catch(() => null);
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true });
    result.screenshot = screenshot;
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result, null, 2));
