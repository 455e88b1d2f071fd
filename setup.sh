#!/usr/bin/env bash
# Installs everything meshbench's tests and main job use on a fresh Debian
# machine (root or sudo; the Rust toolchain, Python 3 and Node.js present):
# the third-party interop peers, the real proxies the conformance suite
# judges (Envoy 1.40, HAProxy 2.6, nginx 1.22), a Docker engine (started)
# for the container environment, and Chromium for the HTML report test. Idempotent: a second run installs nothing. CI runs it too.
# Usage: bash setup.sh
set -euo pipefail
cd "$(dirname "$0")"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== interop peers (the Thrift compiler, the Python and Node peers of tests/interop)"
bash tests/interop/setup.sh
echo "== real proxies"
bash tests/proxies/install-envoy.sh
bash tests/proxies/install-haproxy.sh
bash tests/proxies/install-nginx.sh
echo "== docker engine (tests/containers.rs, meshbench run --env containers)"
bash tests/containers/setup.sh
echo "== chromium (tests/html.rs renders the HTML report headless)"
if [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update only when the first attempt fails, as tests/interop/setup.sh does.
    as_root apt-get install -y -q chromium >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q chromium >/dev/null; }
fi
