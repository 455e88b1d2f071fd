#!/usr/bin/env python3
"""A third-party Dubbo2 consumer: dubbo-ssl-python (the apache/dubbo-python2
lineage) calling METHOD(String NAME) in direct-connection mode, N times on one
connection.

stdout carries one JSON object per line; stderr carries diagnostics.
See tests/interop/README.md for the contract and for the exact bytes it sends.
"""
import argparse
import json
import logging
import os
import sys
import threading
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def die(msg, code=1):
    sys.stderr.write(f"dubbo_client: {msg}\n")
    sys.stderr.flush()
    os._exit(code)


def run(args, attachments):
    try:
        from dubbo_ssl.client import DubboClient
    except ImportError as err:
        die(f"dubbo-ssl-python is not importable ({err}): run `bash tests/interop/setup.sh`")
    # The library keeps one connection per "host:port" for the whole process.
    client = DubboClient(interface=args.interface, group=args.group, version=args.service_version,
                         dubbo_version=args.dubbo_version, host=args.addr)
    deadline = time.monotonic() + args.max_seconds
    ok = True
    for _ in range(args.count):
        try:
            timeout = max(deadline - time.monotonic(), 0.001)
            emit({"result": client.call(args.method, [args.name], context=attachments or None, timeout=timeout)})
        except Exception as err:  # every failure is reported and the loop goes on
            ok = False
            message = " ".join(str(err).split())  # the library's server-side errors start with "\n"
            emit({"error": f"{type(err).__name__}: {message}"})
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", required=True, help="HOST:PORT of the provider")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--name", default="meshbench")
    p.add_argument("--attach", action="append", default=[], metavar="K=V", help="attachment (repeatable)")
    p.add_argument("--interface", default="org.apache.dubbo.samples.basic.api.DemoService")
    p.add_argument("--method", default="sayHello")
    p.add_argument("--service-version", default="1.0.0", help="service version (the library's default)")
    p.add_argument("--group", default=None, help="group attachment (default: none, sent as hessian null)")
    p.add_argument("--dubbo-version", default="2.4.10",
                   help="dubbo protocol version string of the body (the library's default)")
    p.add_argument("--max-seconds", type=float, default=30)
    args = p.parse_args()
    if not all("=" in kv for kv in args.attach):
        die("--attach takes K=V", 2)
    attachments = dict(kv.split("=", 1) for kv in args.attach)
    logging.basicConfig(level=logging.CRITICAL)  # the library logs every failed call with a traceback
    timer = threading.Timer(args.max_seconds + 1, die, (f"gave up after --max-seconds {args.max_seconds}",))
    timer.daemon = True
    timer.start()
    try:
        code = run(args, attachments)
    except Exception as err:
        die(f"dubbo-ssl-python client failed: {type(err).__name__}: {err}")
    sys.stdout.flush()
    os._exit(code)  # also ends the library's reader and heartbeat threads at once


if __name__ == "__main__":
    main()
