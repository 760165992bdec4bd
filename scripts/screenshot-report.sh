#!/usr/bin/env bash
# Take a full-page screenshot of a run's report.html in headless Chromium, for people
# to look at:   scripts/screenshot-report.sh results/<run-id> [out.png]
# Prints the browser check (charts, console errors, requests) as JSON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
run="${1:?usage: scripts/screenshot-report.sh RUN_DIR [OUT.png]}"
out="${2:-$run/report.png}"
[ -f "$run/report.html" ] || { echo "no report.html in $run (run: harness report $run)" >&2; exit 2; }
[ -d "$here/browser/node_modules/playwright-core" ] || npm ci --prefix "$here/browser" --no-audit --no-fund >&2
node "$here/browser/check-report.mjs" "$run/report.html" --screenshot "$out"
echo "screenshot: $out" >&2
