#!/usr/bin/env bash
# Installs the third-party interop peers of tests/interop (see README.md there):
#   - the Thrift compiler (Debian thrift-compiler) and Apache Thrift's Python
#     code generated from wire/idl/hello.thrift into tests/interop/gen-py;
#   - the Python peers' libraries, pinned in requirements.txt, in tests/interop/.venv,
#     and grpcio's Python code generated from wire/idl/greeter.proto into tests/interop/gen-grpc;
#   - the Node peers' libraries, pinned in package-lock.json, in tests/interop/node_modules.
# Idempotent: a step whose inputs have not changed is skipped. Quiet unless it fails.
# Usage (from anywhere, CI runs it from the repo root): bash tests/interop/setup.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
idl="$root/wire/idl/hello.thrift"
proto="$root/wire/idl/greeter.proto"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

fail() {
    echo "tests/interop/setup.sh: $*" >&2
    if [ -s "$log" ]; then
        echo "---- output of the failed step ----" >&2
        tail -n 60 "$log" >&2
    fi
    exit 1
}

# Runs a command with its output in the log; the log is shown only on failure.
quiet() {
    : >"$log"
    "$@" >>"$log" 2>&1
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt-get install, with `apt-get update` only when the first attempt fails.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    quiet as_root apt-get install -y -q "$@" && return 0
    quiet as_root apt-get update -q || fail "apt-get update failed"
    quiet as_root apt-get install -y -q "$@" || fail "apt-get install $* failed"
}

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# 1. The Thrift compiler and the generated Apache Thrift Python code.
command -v thrift >/dev/null 2>&1 || apt_install thrift-compiler
command -v thrift >/dev/null 2>&1 || fail "thrift is still missing after installing thrift-compiler"
[ -f "$idl" ] || fail "$idl is missing"
gen_stamp="$( (thrift --version; cat "$idl") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$here/gen-py/.stamp" 2>/dev/null)" != "$gen_stamp" ]; then
    rm -rf "$here/gen-py" && mkdir -p "$here/gen-py"
    quiet thrift --gen py -out "$here/gen-py" "$idl" || fail "thrift --gen py $idl failed"
    echo "$gen_stamp" >"$here/gen-py/.stamp"
fi

# 2. The Python virtualenv with the pinned Python peers.
venv="$here/.venv"
if [ -d "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$venv"  # left over from a Python that is gone
fi
if [ ! -x "$venv/bin/python" ]; then
    if ! quiet python3 -m venv "$venv"; then
        rm -rf "$venv"
        apt_install python3-venv
        quiet /usr/bin/python3 -m venv "$venv" || fail "python3 -m venv $venv failed"
    fi
fi
py_stamp="$( ("$venv/bin/python" --version; cat "$here/requirements.txt") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$py_stamp" ]; then
    quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt" \
        || fail "pip install -r tests/interop/requirements.txt failed"
    echo "$py_stamp" >"$venv/.stamp"
fi

# 2b. The gRPC peers' generated messages and stubs (grpcio-tools' protoc).
grpc_stamp="$( (cat "$venv/.stamp"; cat "$proto") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$here/gen-grpc/.stamp" 2>/dev/null)" != "$grpc_stamp" ]; then
    rm -rf "$here/gen-grpc" && mkdir -p "$here/gen-grpc"
    quiet "$venv/bin/python" -m grpc_tools.protoc -I "$(dirname "$proto")" \
        --python_out="$here/gen-grpc" --grpc_python_out="$here/gen-grpc" "$proto" \
        || fail "grpc_tools.protoc $proto failed"
    echo "$grpc_stamp" >"$here/gen-grpc/.stamp"
fi

# 3. The Node modules of the Node peers, exactly as locked, with no install scripts.
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
node_stamp="$( (node --version; stamp_of "$here/package.json" "$here/package-lock.json") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$here/node_modules/.stamp" 2>/dev/null)" != "$node_stamp" ]; then
    (cd "$here" && quiet npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) \
        || fail "npm ci in tests/interop failed"
    echo "$node_stamp" >"$here/node_modules/.stamp"
fi

# 4. A smoke check that every library imports.
quiet "$venv/bin/python" -c 'import thrift, thriftpy2, dubbo_ssl.client, dubbo.server, grpc' \
    || fail "a Python peer library does not import"
(cd "$here" && quiet node -e 'require("hessian.js"); require("dubbo2.js"); require("js-to-java"); require("@grpc/grpc-js"); require("@grpc/proto-loader")') \
    || fail "a Node peer library does not load"
