#!/usr/bin/env python3
"""A third-party gRPC server: grpcio serving Greeter.SayHello on h2c.

It answers User{name: "Hello " + name, id: "grpcio-peer"} with the request's
`user` and `x-request-id` metadata echoed back as initial metadata, and fails
a call whose name is "fail" with UNAVAILABLE. Prints {"listening": "HOST:PORT"}
once serving; stops after --max-seconds.
"""
import argparse
import json
import os
import sys
from concurrent import futures


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1:0")
    p.add_argument("--max-seconds", type=float, default=30)
    args = p.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "gen-grpc"))
    import grpc
    import greeter_pb2
    import greeter_pb2_grpc

    class Greeter(greeter_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            received = dict(context.invocation_metadata())
            echoed = [(k, received[k]) for k in ("user", "x-request-id") if k in received]
            context.send_initial_metadata(echoed)
            if request.name == "fail":
                context.abort(grpc.StatusCode.UNAVAILABLE, "asked to fail")
            return greeter_pb2.User(name="Hello " + request.name, id="grpcio-peer")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    greeter_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    host = args.addr.rsplit(":", 1)[0]
    port = server.add_insecure_port(args.addr)
    server.start()
    sys.stdout.write(json.dumps({"listening": f"{host}:{port}"}) + "\n")
    sys.stdout.flush()
    server.wait_for_termination(timeout=args.max_seconds)
    server.stop(grace=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
