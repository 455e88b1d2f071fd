#!/bin/sh
# Validate every static example with Envoy 1.40 (`--mode validate` does NOT open the xDS files;
# xds/*.yaml were checked by running bootstrap-xds.yaml, see README.md "Checks run").
set -eu
ENVOY=${ENVOY:-/opt/envoy-venv/lib/python3.11/site-packages/envoy/_bin/envoy}
cd "$(dirname "$0")"
for f in bootstrap-xds.yaml http-routes.yaml clusters.yaml thrift-proxy.yaml dubbo-proxy.yaml \
         tcp-proxy.yaml grpc-h2.yaml; do
  printf '%-20s ' "$f"
  "$ENVOY" --mode validate -c "$f" -l critical 2>&1 | tail -n 1
done
