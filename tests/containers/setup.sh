#!/usr/bin/env bash
# The container environment's engine (tests/containers.rs, `--env containers`):
# Debian's docker.io, and dockerd started when none answers. No registry is
# needed: meshbench builds its image from this build's binaries.
# Idempotent: with an engine answering it does nothing.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v dockerd >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q docker.io >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q docker.io >/dev/null; }
fi
if ! docker info >/dev/null 2>&1; then
    log="${TMPDIR:-/tmp}/meshbench-dockerd.log"
    as_root sh -c "nohup dockerd >'$log' 2>&1 &"
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $log" >&2; tail -20 "$log" >&2; exit 1; }
fi
echo "docker engine $(docker info --format '{{.ServerVersion}}') ($(docker info --format '{{.Driver}}'))"
