#!/usr/bin/env python3
"""A third-party gRPC client: grpcio (gRPC's C-core) calling
Greeter.SayHello(HelloRequest{NAME}) N times on one channel, with metadata.

stdout carries one JSON object per line: {"name", "id", "metadata"} for an
answer (metadata: the initial metadata the server sent), {"code", "details"}
for a failed call. stderr carries diagnostics.
"""
import argparse
import json
import os
import sys


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", required=True, help="HOST:PORT of the server (h2c)")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--name", default="laurence")
    p.add_argument("--metadata", action="append", default=[], metavar="K=V")
    p.add_argument("--authority", default=None, help=":authority to send")
    p.add_argument("--max-seconds", type=float, default=20)
    args = p.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "gen-grpc"))
    try:
        import grpc
        import greeter_pb2
        import greeter_pb2_grpc
    except ImportError as err:
        sys.stderr.write(f"grpc_client: {err}: run `bash tests/interop/setup.sh`\n")
        return 1
    metadata = [tuple(kv.split("=", 1)) for kv in args.metadata]
    options = [("grpc.default_authority", args.authority)] if args.authority else []
    ok = True
    with grpc.insecure_channel(args.addr, options=options) as channel:
        stub = greeter_pb2_grpc.GreeterStub(channel)
        for _ in range(args.count):
            try:
                user, call = stub.SayHello.with_call(
                    greeter_pb2.HelloRequest(name=args.name),
                    metadata=metadata, timeout=args.max_seconds)
                emit({"name": user.name, "id": user.id,
                      "metadata": dict(call.initial_metadata())})
            except grpc.RpcError as err:
                ok = False
                emit({"code": err.code().value[0], "details": err.details()})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
