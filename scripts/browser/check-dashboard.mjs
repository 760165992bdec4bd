// Open `harness run --dashboard`'s page in headless Chromium while the run goes and
// print what a person would have seen, as JSON: the calls the live banner showed, read
// every 250 ms, and once the run is over the final report's data (report.html's own
// #report-data, which the page shows in its place), with console and page errors.
//
//   node scripts/browser/check-dashboard.mjs http://127.0.0.1:PORT/ [--screenshot OUT.png]
//
// Chromium is the system's ($CHROMIUM, else Debian's /usr/bin/chromium); playwright-core
// only drives it. Gives up after 120 s.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';

const [url, flag, shot] = process.argv.slice(2);
if (!url || (flag && flag !== '--screenshot') || (flag && !shot)) {
  console.error('usage: check-dashboard.mjs URL [--screenshot OUT.png]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM
    || ['/usr/bin/chromium', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'].find(existsSync)
    || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  const seen = [];
  let final = null;
  const until = Date.now() + 120000;
  while (Date.now() < until) {
    const now = await page.evaluate(() => {
      const live = document.getElementById('live');
      if (live) return { live: live.dataset.calls ? Number(live.dataset.calls) : null, text: live.textContent };
      const data = document.getElementById('report-data');
      return { final: data ? JSON.parse(data.textContent) : null };
    });
    if (now.final) { final = now.final; break; }
    if (now.live != null && seen[seen.length - 1] !== now.live) seen.push(now.live);
    await page.waitForTimeout(250);
  }
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  const figures = final ? final.tables.find((t) => t.id === 'figures') : null;
  console.log(JSON.stringify({ seen, final: final != null, figures, errors }));
} finally {
  await browser.close();
}
