#!/usr/bin/env python3
"""A third-party Thrift peer: HelloService.sayHello served or called by Apache
Thrift's Python library (`--lib apache`, code generated from
wire/idl/hello.thrift into tests/interop/gen-py) or by thriftpy2 (`--lib
thriftpy2`, which loads the IDL at run time).

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
from pathlib import Path

INTEROP = Path(__file__).resolve().parent.parent
IDL = INTEROP.parent.parent / "wire" / "idl" / "hello.thrift"
GEN_PY = INTEROP / "gen-py"


class OneLineFormatter(logging.Formatter):
    """Library log records on one stderr line each, without tracebacks, so that a
    peer answering many failing calls does not fill a stderr pipe nobody reads."""

    def format(self, record):
        record.exc_info = record.exc_text = None
        return super().format(record)


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def die(msg, code=2):
    sys.stderr.write(f"thrift_peer: {msg}\n")
    sys.stderr.flush()
    os._exit(code)


def parse_addr(addr):
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        die(f"--addr must be HOST:PORT, got {addr!r}")
    host = host.strip("[]")
    return host, int(port), socket.AF_INET6 if ":" in host else socket.AF_INET


def greeting(lib, name, context):
    text = f"Hello {name}, response from {lib}-peer"
    if context is not None:
        text += " context=" + ",".join(f"{k}={v}" for k, v in sorted(context.items()))
    return text


def listening(sock, family):
    host, port = sock.getsockname()[:2]
    emit({"listening": f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"})


# --- Apache Thrift (PyPI `thrift`) -------------------------------------------

def apache_modules():
    if not (GEN_PY / "hello" / "HelloService.py").exists():
        die(f"{GEN_PY}/hello is missing: run `bash tests/interop/setup.sh`")
    sys.path.insert(0, str(GEN_PY))
    from hello import HelloService
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.transport import TTransport
    return HelloService, TBinaryProtocol, TCompactProtocol, TTransport


def apache_client(args, host, port, family):
    HelloService, TBinaryProtocol, TCompactProtocol, TTransport = apache_modules()
    from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
    from thrift.transport import TSocket
    sock = TSocket.TSocket(host, port, socket_family=family)
    sock.setTimeout(args.max_seconds * 1000)
    trans = (TTransport.TFramedTransport if args.transport == "framed" else TTransport.TBufferedTransport)(sock)
    proto = (TBinaryProtocol.TBinaryProtocol if args.protocol == "binary" else TCompactProtocol.TCompactProtocol)(trans)
    if args.service:
        proto = TMultiplexedProtocol(proto, args.service)
    client = HelloService.Client(proto)
    trans.open()
    try:
        return call_n(args, lambda: client.sayHello(args.name, args.context))
    finally:
        trans.close()


def apache_server(args, host, port, family):
    HelloService, TBinaryProtocol, TCompactProtocol, TTransport = apache_modules()
    from thrift.Thrift import TApplicationException
    from thrift.TMultiplexedProcessor import TMultiplexedProcessor
    from thrift.server.TServer import TThreadedServer
    from thrift.transport import TSocket

    class Handler:
        def sayHello(self, name, context):
            if name == "fail":
                raise TApplicationException(TApplicationException.INTERNAL_ERROR, "peer asked to fail")
            return greeting("apache", name, context)

    processor = HelloService.Processor(Handler())
    if args.service:
        mux = TMultiplexedProcessor()
        mux.registerProcessor(args.service, processor)
        processor = mux
    trans = TSocket.TServerSocket(host, port, socket_family=family)
    trans.listen()
    trans.listen = lambda: None  # already listening: serve() must not bind again
    tfactory = TTransport.TFramedTransportFactory() if args.transport == "framed" else TTransport.TBufferedTransportFactory()
    pfactory = TBinaryProtocol.TBinaryProtocolFactory() if args.protocol == "binary" else TCompactProtocol.TCompactProtocolFactory()
    server = TThreadedServer(processor, trans, tfactory, pfactory, daemon=True)
    return serve(server.serve, trans.handle, family, args.max_seconds)


# --- thriftpy2 -----------------------------------------------------------------

def thriftpy2_modules(args):
    import thriftpy2
    from thriftpy2 import protocol, transport
    hello = thriftpy2.load(str(IDL), module_name="hello_thrift")
    tfactory = transport.TFramedTransportFactory() if args.transport == "framed" else transport.TBufferedTransportFactory()
    pfactory = protocol.TBinaryProtocolFactory() if args.protocol == "binary" else protocol.TCompactProtocolFactory()
    return hello, tfactory, pfactory


def thriftpy2_client(args, host, port, family):
    from thriftpy2.protocol import TMultiplexedProtocolFactory
    from thriftpy2.rpc import make_client
    hello, tfactory, pfactory = thriftpy2_modules(args)
    if args.service:
        pfactory = TMultiplexedProtocolFactory(pfactory, args.service)
    client = make_client(hello.HelloService, host, port, proto_factory=pfactory, trans_factory=tfactory,
                         timeout=args.max_seconds * 1000, socket_family=family)
    try:
        return call_n(args, lambda: client.sayHello(args.name, args.context))
    finally:
        client.close()


def thriftpy2_server(args, host, port, family):
    from thriftpy2.server import TThreadedServer
    from thriftpy2.thrift import TApplicationException, TMultiplexedProcessor, TProcessor
    from thriftpy2.transport import TServerSocket
    hello, tfactory, pfactory = thriftpy2_modules(args)

    class Handler:
        def sayHello(self, name, context=None):
            if name == "fail":
                raise TApplicationException(TApplicationException.INTERNAL_ERROR, "peer asked to fail")
            return greeting("thriftpy2", name, context)

    processor = TProcessor(hello.HelloService, Handler())
    if args.service:
        mux = TMultiplexedProcessor()
        mux.register_processor(args.service, processor)
        processor = mux
    # client_timeout=None: an idle long-lived connection must not be closed by the peer.
    trans = TServerSocket(host=host, port=port, socket_family=family, client_timeout=None)
    # thriftpy2's own listen() sets SO_REUSEPORT, which would let two servers
    # share a port and split its connections: listen without it.
    trans.sock = socket.create_server((host, port), family=family, backlog=128)
    trans.listen = lambda: None  # already listening: serve() must not bind again
    server = TThreadedServer(processor, trans, iprot_factory=pfactory, itrans_factory=tfactory, daemon=True)
    return serve(server.serve, trans.sock, family, args.max_seconds)


# --- roles ---------------------------------------------------------------------

def call_n(args, call):
    ok = True
    for _ in range(args.count):
        if time.monotonic() > args.deadline:
            ok = False
            emit({"error": f"Timeout: not sent, --max-seconds {args.max_seconds} elapsed"})
            continue
        try:
            emit({"result": call()})
        except Exception as err:  # every failure is reported and the loop goes on
            ok = False
            emit({"error": f"{type(err).__name__}: {err}"})
    return 0 if ok else 1


def serve(serve_forever, listener, family, max_seconds):
    threading.Thread(target=serve_forever, daemon=True).start()
    listening(listener, family)
    time.sleep(max_seconds)
    sys.stderr.write(f"thrift_peer: --max-seconds {max_seconds} elapsed, exiting\n")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", choices=["apache", "thriftpy2"], required=True)
    p.add_argument("--role", choices=["client", "server"], required=True)
    p.add_argument("--addr", required=True, help="HOST:PORT (server: PORT 0 picks a free port)")
    p.add_argument("--transport", choices=["framed", "buffered"], required=True)
    p.add_argument("--protocol", choices=["binary", "compact"], required=True)
    p.add_argument("--service", help="multiplexed service name (TMultiplexedProtocol/Processor)")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--name", default="meshbench")
    p.add_argument("--context", action="append", metavar="K=V",
                   help="client: send the optional `context` map argument with this entry (repeatable)")
    p.add_argument("--max-seconds", type=float, default=30)
    args = p.parse_args()
    if args.context is not None:
        if not all("=" in kv for kv in args.context):
            die("--context takes K=V")
        args.context = dict(kv.split("=", 1) for kv in args.context)
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("thrift_peer: %(name)s %(levelname)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    host, port, family = parse_addr(args.addr)
    args.deadline = time.monotonic() + args.max_seconds
    if args.role == "client":
        # The whole run is bounded: calls time out with the socket, and a call
        # hung past its socket timeout cannot keep the client alive either.
        timer = threading.Timer(args.max_seconds + 2, die, (f"client gave up after --max-seconds {args.max_seconds}", 1))
        timer.daemon = True
        timer.start()
    role = globals()[f"{args.lib}_{args.role}"]
    try:
        code = role(args, host, port, family)
    except Exception as err:
        die(f"{args.lib} {args.role} failed: {type(err).__name__}: {err}", 1 if args.role == "client" else 2)
    sys.stdout.flush()
    os._exit(code)  # daemon threads (server, connections) end with the process


if __name__ == "__main__":
    main()
