#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build and test the harness:
# - the PostgreSQL server binaries (the local stand-in for Aurora DSQL);
# - Chromium and Node.js with playwright-core (scripts/browser), which open report.html
#   headless in the tests and in scripts/screenshot-report.sh;
# - iproute2 (`ip`), with which the distributed-run tests create network namespaces;
# - cfn-lint (PyPI), which checks the CloudFormation template in deploy/.
# The Rust toolchain is assumed (rustup). Safe to re-run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

missing=()
have_pg || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian's ${missing[*]}..."
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
have_pg || { echo "postgresql installed, but initdb/pg_ctl are still not found" >&2; exit 1; }
echo "PostgreSQL server binaries: present"
echo "Chromium: $(chromium --version 2>/dev/null || echo missing)"

if [ ! -d "$here/browser/node_modules/playwright-core" ]; then
  echo "installing playwright-core (drives Debian's Chromium; downloads no browser)..."
  npm ci --prefix "$here/browser" --no-audit --no-fund --loglevel=error
fi
echo "Node.js $(node --version), playwright-core: present"

if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "installing cfn-lint from PyPI..."
  python3 -m pip install --quiet cfn-lint 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages cfn-lint
fi
command -v cfn-lint >/dev/null 2>&1 || { echo "cfn-lint installed, but not on PATH" >&2; exit 1; }
echo "$(cfn-lint --version): present"
