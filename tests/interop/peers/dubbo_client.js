#!/usr/bin/env node
// A third-party Dubbo2 consumer: dubbo2.js (DirectlyDubbo, hessian.js 2.5.0 inside)
// calling METHOD(java.lang.String NAME) N times on one connection.
//
// stdout carries one JSON object per line; stderr carries diagnostics.
// See tests/interop/README.md for the contract and for the exact bytes it sends.
'use strict';

const path = require('path');
const { parseArgs } = require('util');

function die(msg, code = 1) {
  process.stderr.write(`dubbo_client.js: ${msg}\n`);
  process.exit(code);
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        addr: { type: 'string' },
        count: { type: 'string', default: '5' },
        name: { type: 'string', default: 'meshbench' },
        attach: { type: 'string', multiple: true, default: [] },
        interface: { type: 'string', default: 'org.apache.dubbo.samples.basic.api.DemoService' },
        method: { type: 'string', default: 'sayHello' },
        'service-version': { type: 'string' },
        group: { type: 'string' },
        'dubbo-version': { type: 'string', default: '2.0.2' },
        'max-seconds': { type: 'string', default: '30' },
      },
    }));
  } catch (err) {
    die(err.message, 2);
  }
  if (!values.addr) die('--addr HOST:PORT is required', 2);
  const attachments = {};
  for (const kv of values.attach) {
    const at = kv.indexOf('=');
    if (at < 0) die('--attach takes K=V', 2);
    attachments[kv.slice(0, at)] = kv.slice(at + 1);
  }
  const count = Number(values.count);
  const maxSeconds = Number(values['max-seconds']);
  if (!Number.isInteger(count) || count < 0) die('--count takes a whole number', 2);
  if (!(maxSeconds > 0)) die('--max-seconds takes a positive number', 2);
  return { ...values, count, maxSeconds, attachments };
}

function load() {
  // Found through NODE_PATH (tests/interop/peer.rs sets it) or next to this folder.
  const modules = path.join(__dirname, '..', 'node_modules');
  try {
    return require(require.resolve('dubbo2.js', { paths: [modules, ...module.paths] }));
  } catch (err) {
    die(`dubbo2.js cannot be loaded (${err.message}): run \`bash tests/interop/setup.sh\``, 2);
  }
}

async function main() {
  const opts = options();
  const watchdog = setTimeout(() => die(`gave up after --max-seconds ${opts.maxSeconds}`), opts.maxSeconds * 1000 + 1000);
  const { DirectlyDubbo, Context, java } = load();
  // DirectlyDubbo has no attachment API (only the ZooKeeper `Dubbo` class has
  // middlewares); every call gets a fresh Context from Context.create, whose
  // `attachments` the encoder merges into the request's attachment map.
  const create = Context.create;
  Context.create = () => {
    const ctx = create.call(Context);
    ctx.attachments = opts.attachments;
    return ctx;
  };
  const deadline = Date.now() + opts.maxSeconds * 1000;
  // DirectlyDubbo reads dubboInvokeTimeout (seconds) from this object at every
  // call: 10 s per call, but never past --max-seconds.
  const props = { dubboAddress: opts.addr, dubboVersion: opts['dubbo-version'], dubboInvokeTimeout: 10 };
  const dubbo = DirectlyDubbo.from(props);
  const service = dubbo.proxyService({
    dubboInterface: opts.interface,
    version: opts['service-version'],
    group: opts.group,
    methods: { [opts.method]: (name) => [java.String(name)] },
  });
  let ok = true;
  for (let i = 0; i < opts.count; i++) {
    props.dubboInvokeTimeout = Math.max(0.001, Math.min(10, (deadline - Date.now()) / 1000));
    const { res, err } = await service[opts.method](opts.name);
    if (err) {
      // A status other than OK comes back as the raw hessian body text: control
      // characters (its length prefix) are turned into spaces.
      ok = false;
      emit({ error: `${err.name || 'Error'}: ${String(err.message).replace(/[\s\x00-\x1f]+/g, ' ').trim()}` });
    } else {
      emit({ result: res });
    }
  }
  clearTimeout(watchdog);
  process.exitCode = ok ? 0 : 1;
  process.stdout.write('', () => process.exit());  // the socket would keep node alive
}

main().catch((err) => die(`dubbo2.js client failed: ${err && err.stack ? err.stack : err}`));
