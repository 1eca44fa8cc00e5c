#!/usr/bin/env bash
# Installs what building (and, with --test, testing) Cairn needs, only where it is
# missing: the wasm target, the pinned wasm-bindgen-cli, and for tests Chromium
# (Debian's package) and the Playwright runner (npm; it downloads no browser).
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_BINDGEN_VERSION=0.2.130

say() { echo "[setup] $*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 10 minutes on 2 cores, once)"
  # Not --locked: its lockfile names a crate version the registry no longer has.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "need the Debian packages: $* (run as root, or install them yourself)"; exit 1
  fi
  say "installing Debian packages: $*"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null || apt_install chromium
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    say "installing the Playwright runner (npm ci; no browser download)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
