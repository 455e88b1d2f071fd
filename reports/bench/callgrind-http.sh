#!/bin/bash
# User-space instructions meshproxy executes for N keep-alive HTTP requests, under
# valgrind --tool=callgrind (Debian package `valgrind`): a count that, unlike CPU time on a
# shared 2-core VM, does not move with the load. Per request = (Ir(N) - Ir(0)) / N.
#   bash reports/bench/callgrind-http.sh target/release 2000 /tmp/cg-2000.out
#   bash reports/bench/callgrind-http.sh target/release 0 /tmp/cg-0.out
# Everything listens on loopback (fleet 127.0.20.1, proxy 127.0.21.1) and stops by itself.
set -e
B=${1:?bin dir with meshbench and meshproxy}; N=${2:?requests}; OUT=${3:?callgrind output file}; W=$(mktemp -d)
$B/meshbench fleet --service http-sample.bench.svc.cluster.local --protocol http --address 127.0.20.1 --for 120s > $W/fleet.out 2>&1 &
FLEET=$!
sleep 1
ADDR=$(grep -oE '127\.0\.20\.1:[0-9]+' $W/fleet.out | head -1)
printf 'services:\n  - name: http-sample.bench.svc.cluster.local\n    protocol: http\n    port: 3000\n    endpoints:\n      - { address: "%s", labels: { version: v1 } }\n' $ADDR > $W/e.yaml
: > $W/r.yaml
TOKIO_WORKER_THREADS=1 valgrind --tool=callgrind --callgrind-out-file=$OUT $B/meshproxy --config $W/r.yaml --endpoints $W/e.yaml --admin 127.0.0.1:0 --listen-ip 127.0.21.1 --for 25s > $W/proxy.out 2>$W/proxy.err &
PROXY=$!
for i in $(seq 50); do grep -q "127.0.21.1" $W/proxy.out 2>/dev/null && break; sleep 0.5; done
LADDR=$(grep -oE '127\.0\.21\.1:[0-9]+' $W/proxy.out | head -1)
python3 - "$LADDR" "$N" <<'PY'
import sys, http.client
host, port = sys.argv[1].split(':'); n = int(sys.argv[2])
c = http.client.HTTPConnection(host, int(port))
for i in range(n):
    c.request('GET', '/hello', headers={'x-request-id': f'cg-{i}', 'user-agent': 'cg'})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
c.close()
PY
wait $PROXY || true
kill $FLEET 2>/dev/null || true
grep -E "^summary|^totals" $OUT | head -1
