#!/usr/bin/env bash
# Installs the real nginx the `nginx` adapter runs: Debian bookworm's package
# (1.22) and its stream module (libnginx-mod-stream, for TCP and nginx-l4), the
# versions tests/expected/nginx.yaml records. The adapter finds /usr/sbin/nginx by
# itself; $MESHBENCH_NGINX or `--proxy nginx=PATH` name another. The package's own
# service is stopped: the adapter runs nginx itself, on loopback only.
# Idempotent; quiet unless it fails.
# Usage: bash tests/proxies/install-nginx.sh
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } \
    || [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q nginx libnginx-mod-stream >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q nginx libnginx-mod-stream >/dev/null; }
    # The package may start its default site on :80; nothing here may listen off loopback.
    as_root service nginx stop >/dev/null 2>&1 || true
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx" -v 2>&1 | head -n 1
"$nginx" -v 2>&1 | grep -q "nginx/1\.22\." \
    || echo "install-nginx.sh: not nginx 1.22; tests/expected/nginx.yaml records 1.22's verdicts" >&2
