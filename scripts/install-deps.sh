#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build and test the harness:
# the PostgreSQL server binaries (the local stand-in for Aurora DSQL).
# The Rust toolchain is assumed (rustup). Safe to re-run.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if have_pg; then
  echo "PostgreSQL server binaries: present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL server binaries are missing; run as root or: sudo apt-get install postgresql" >&2
  exit 1
fi
echo "installing Debian's postgresql package..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have_pg || { echo "postgresql installed, but initdb/pg_ctl are still not found" >&2; exit 1; }
echo "PostgreSQL server binaries: installed"
