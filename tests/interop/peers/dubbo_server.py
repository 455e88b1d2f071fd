#!/usr/bin/env python3
"""A third-party Dubbo2 provider: dubbo-py's (feiyuw/dubbo-py) provider simulator
serving org.apache.dubbo.samples.basic.api.DemoService.sayHello(String).

stdout carries one JSON object per line; stderr carries diagnostics.
See tests/interop/README.md for the contract.
"""
import argparse
import json
import logging
import os
import socket
import sys
import threading
import time

INTERFACE = "org.apache.dubbo.samples.basic.api.DemoService"
SERVICE_NOT_FOUND = 60  # Dubbo2 response status codes
SERVICE_ERROR = 70


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def die(msg, code=2):
    sys.stderr.write(f"dubbo_server: {msg}\n")
    sys.stderr.flush()
    os._exit(code)


def parse_addr(addr):
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        die(f"--addr must be HOST:PORT, got {addr!r}")
    host = host.strip("[]")
    return host, int(port), socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(host, port, family, max_seconds):
    try:
        from dubbo import server as dubbo_server
        from dubbo.errors import DubboError
    except ImportError as err:
        die(f"dubbo-py is not importable ({err}): run `bash tests/interop/setup.sh`")

    # dubbo-py calls a handler with the arguments only. To see the request's
    # attachments, remember the library's own decoded DubboRequest per connection
    # thread (the request handler looks `Decoder` up in dubbo.server's globals).
    current = threading.local()

    class RecordingDecoder(dubbo_server.Decoder):
        def decode(self):
            current.msg = super().decode()
            return current.msg

    dubbo_server.Decoder = RecordingDecoder

    def say_hello(name):
        if name == "fail":
            raise DubboError(SERVICE_ERROR, "peer asked to fail")
        text = f"Hello {name}, response from dubbo-py-peer"
        attachment = getattr(current.msg, "attachment", None) or {}
        strings = sorted((k, v) for k, v in attachment.items() if isinstance(k, str) and isinstance(v, str))
        if strings:
            text += " attachments=" + ",".join(f"{k}={v}" for k, v in strings)
        return text

    def not_found(what):
        def handler(*_args):
            raise DubboError(SERVICE_NOT_FOUND, f"{what} not found")
        return handler

    # dubbo-py sends no response at all for an unknown service or method, so a
    # caller would hang; answer SERVICE_NOT_FOUND instead.
    class Methods(dict):
        def __init__(self, service, methods, missing="method"):
            super().__init__(methods)
            self.service, self.missing = service, missing

        def get(self, method, default=None):
            what = f"method {self.service}.{method}" if self.missing == "method" else f"service {self.service}"
            return super().get(method) or not_found(what)

    class Services(dict):
        def get(self, service, default=None):
            return super().get(service) or Methods(service, {}, missing="service")

    services = Services({INTERFACE: Methods(INTERFACE, {"sayHello": say_hello})})
    server_class = type("Server", (dubbo_server._DubboServer,), {"address_family": family})
    server = server_class((host, port), dubbo_server._get_dubbo_request_handler(services))
    # dubbo-py sets SO_REUSEPORT once bound, which lets another socket share the
    # port and take some of its connections: turn it off again.
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    emit({"listening": f"[{bound_host}]:{bound_port}" if family == socket.AF_INET6 else f"{bound_host}:{bound_port}"})
    time.sleep(max_seconds)
    sys.stderr.write(f"dubbo_server: --max-seconds {max_seconds} elapsed, exiting\n")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", required=True, help="HOST:PORT (PORT 0 picks a free port)")
    p.add_argument("--max-seconds", type=float, default=30)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="dubbo_server: %(name)s %(levelname)s: %(message)s")
    host, port, family = parse_addr(args.addr)
    try:
        code = serve(host, port, family, args.max_seconds)
    except Exception as err:
        die(f"dubbo-py provider failed: {type(err).__name__}: {err}")
    sys.stdout.flush()
    os._exit(code)  # daemon threads (server, connections) end with the process


if __name__ == "__main__":
    main()
