#!/usr/bin/env node
// A third-party gRPC client: @grpc/grpc-js (gRPC's pure-JavaScript
// implementation) with @grpc/proto-loader reading wire/idl/greeter.proto at
// run time, calling Greeter.SayHello N times on one channel, with metadata.
// stdout: one JSON object per line, as grpc_client.py prints them.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

function parse(argv) {
  const args = { count: 3, name: 'laurence', metadata: [], maxSeconds: 20 };
  for (let i = 2; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--addr') args.addr = value;
    else if (flag === '--count') args.count = Number(value);
    else if (flag === '--name') args.name = value;
    else if (flag === '--metadata') args.metadata.push(value);
    else if (flag === '--max-seconds') args.maxSeconds = Number(value);
    else { process.stderr.write(`grpc_client.js: unknown flag ${flag}\n`); process.exit(2); }
  }
  if (!args.addr) { process.stderr.write('grpc_client.js: --addr is required\n'); process.exit(2); }
  return args;
}

function call(client, args) {
  return new Promise((resolve) => {
    const metadata = new grpc.Metadata();
    for (const kv of args.metadata) {
      const at = kv.indexOf('=');
      metadata.add(kv.slice(0, at), kv.slice(at + 1));
    }
    let initial = {};
    const deadline = new Date(Date.now() + args.maxSeconds * 1000);
    const c = client.SayHello({ name: args.name }, metadata, { deadline }, (err, user) => {
      if (err) resolve({ code: err.code, details: err.details });
      else resolve({ name: user.name, id: user.id, metadata: initial });
    });
    c.on('metadata', (m) => {
      initial = Object.fromEntries(Object.entries(m.getMap()).map(([k, v]) => [k, String(v)]));
    });
  });
}

async function main() {
  const args = parse(process.argv);
  const proto = path.join(__dirname, '..', '..', '..', 'wire', 'idl', 'greeter.proto');
  const definition = loader.loadSync(proto, { keepCase: true });
  const api = grpc.loadPackageDefinition(definition).org.apache.dubbogo.samples.api;
  const client = new api.Greeter(args.addr, grpc.credentials.createInsecure());
  let ok = true;
  for (let i = 0; i < args.count; i++) {
    const result = await call(client, args);
    if (result.code !== undefined) ok = false;
    process.stdout.write(JSON.stringify(result) + '\n');
  }
  client.close();
  process.exit(ok ? 0 : 1);
}

setTimeout(() => { process.stderr.write('grpc_client.js: gave up\n'); process.exit(3); }, 60000).unref();
main();
