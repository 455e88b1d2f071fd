#!/usr/bin/env bash
# Installs the real HAProxy the `haproxy` adapter runs: Debian bookworm's
# package (2.6), the version tests/expected/haproxy.yaml records. The adapter
# finds /usr/sbin/haproxy by itself; $MESHBENCH_HAPROXY or `--proxy haproxy=PATH`
# name another. Idempotent; quiet unless it fails.
# Usage: bash tests/proxies/install-haproxy.sh
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q haproxy >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q haproxy >/dev/null; }
fi
haproxy=$(command -v haproxy || echo /usr/sbin/haproxy)
"$haproxy" -v | head -n 1
"$haproxy" -v | grep -q "version 2\.6\." \
    || echo "install-haproxy.sh: not HAProxy 2.6; tests/expected/haproxy.yaml records 2.6's verdicts" >&2
