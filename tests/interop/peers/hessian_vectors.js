'use strict';
// hessian.js (2.11.0) as a hessian2 oracle for tests/interop/hessian.rs.
//
// stdin: a JSON array of cases, each {"name", "values": [repr...], "ours": hex}
//   where `ours` is the Rust side's encoding of `values`, or other bytes that
//   should decode to them.
// stdout: a JSON array with, per case,
//   {"theirs": hex of hessian.js's encoding of `values` (one encoder for the
//    whole sequence, as one Dubbo body), "decoded": [repr...] hessian.js's
//    decoding of the `ours` bytes (one decoder for the sequence)}
// with "encode_error" / "decode_error" instead when hessian.js throws.
//
// repr, shared with the Rust side (every value carries its hessian2 type,
// which plain JS numbers would lose):
//   {"t":"null"} {"t":"bool","v":true} {"t":"int","v":-2049}
//   {"t":"long","v":"-9007199254740993"}        decimal string: no precision loss
//   {"t":"double","v":"3ff0000000000000"}       IEEE-754 bits, big-endian hex
//   {"t":"string","v":"..."} {"t":"binary","v":"00ff"} {"t":"date","v":ms}
//   {"t":"list","type":null|"[int","items":[repr...]}
//   {"t":"map","type":null|"java.util.TreeMap","entries":[[repr,repr]...]}
//   {"t":"object","class":"example.Car","fields":[["color",repr]...]}
//   {"t":"ref","v":n}   the n-th list/map/object of the sequence, in start order

const hessian = require('hessian.js');

// --- repr -> the JS values hessian.js's encoder expects (js-to-java style) ---

// `containers` collects lists, maps and objects in the order they start, so a
// ref becomes the very same JS object: that is how hessian.js writes `Q n`.
function toJs(r, containers, mapTypes) {
  switch (r.t) {
    case 'null': return null;
    case 'bool': return r.v;
    case 'int': return { $class: 'int', $: r.v };
    case 'long': return { $class: 'long', $: r.v };
    case 'double': return { $class: 'double', $: Buffer.from(r.v, 'hex').readDoubleBE(0) };
    case 'string': return r.v;
    case 'binary': return Buffer.from(r.v, 'hex');
    case 'date': return new Date(r.v);
    case 'list': {
      const items = [];
      const list = r.type ? { $class: r.type, $: items } : items;
      containers.push(list);
      for (const item of r.items) items.push(toJs(item, containers, mapTypes));
      return list;
    }
    case 'map': {
      const entries = new Map();
      const map = r.type ? { $class: r.type, $: entries } : entries;
      if (r.type) mapTypes[r.type] = true;
      containers.push(map);
      for (const [k, v] of r.entries) {
        const key = toJs(k, containers, mapTypes);
        entries.set(key, toJs(v, containers, mapTypes));
      }
      return map;
    }
    case 'object': {
      const fields = {};
      const object = { $class: r.class, $: fields };
      containers.push(object);
      for (const [name, v] of r.fields) fields[name] = toJs(v, containers, mapTypes);
      return object;
    }
    case 'ref': {
      if (!(r.v in containers)) throw new Error('ref ' + r.v + ' to nothing');
      return containers[r.v];
    }
    default: throw new Error('unknown repr type ' + r.t);
  }
}

function encode(values) {
  const containers = [];
  const mapTypes = {};
  const js = values.map((v) => toJs(v, containers, mapTypes));
  // Typed maps are written as 'M' only for types declared as maps.
  const encoder = new hessian.EncoderV2({ mapTypes });
  for (const v of js) encoder.write(v);
  return encoder.get().toString('hex');
}

// --- hessian.js's decoding -> repr ---

function doubleBits(v) {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v, 0);
  return b.toString('hex');
}

function mapEntries(m) {
  // hessian.js keeps the real keys, in wire order, in a hidden ES6 Map.
  return Array.from(m.$map.entries());
}

const PROTO = hessian.DecoderV2.prototype;

// Turns what each of hessian.js's read methods returns into a repr. Nested
// values are already reprs: they are read through the same dispatch table.
// Containers are read "with type" (to keep their Java type names), scalars
// without (where hessian.js would wrap a bool as {$class, $}).
const TAGGERS = {
  readNull: [false, () => ({ t: 'null' })],
  readBool: [false, (v) => ({ t: 'bool', v })],
  readInt: [false, (v) => ({ t: 'int', v })],
  readLong: [false, (v) => ({ t: 'long', v: String(v) })],
  readDouble: [false, (v) => ({ t: 'double', v: doubleBits(v) })],
  readDate: [false, (v) => ({ t: 'date', v: v.getTime() })],
  readString: [false, (v) => ({ t: 'string', v })],
  readBytes: [false, (v) => ({ t: 'binary', v: v.toString('hex') })],
  readArray: [true, (v) => (Array.isArray(v)
    ? { t: 'list', type: null, items: v }
    : { t: 'list', type: v.$class, items: v.$ })],
  readHashMap: [true, (v) => ({ t: 'map', type: null, entries: mapEntries(v.$) })],
  readMap: [true, (v) => ({ t: 'map', type: v.$class, entries: mapEntries(v.$) })],
  readObject: [true, (v) => ({ t: 'object', class: v.$class, fields: Object.entries(v.$) })],
};

function taggingDecoder(buf) {
  const decoder = new hessian.DecoderV2(buf);
  const codes = {};
  for (const [code, method] of Object.entries(decoder.BYTE_CODES)) {
    codes[code] = 'tagged_' + method;
  }
  decoder.BYTE_CODES = codes;
  for (const [method, [withType, tagger]] of Object.entries(TAGGERS)) {
    decoder['tagged_' + method] = function () {
      return tagger(PROTO[method].call(this, withType));
    };
  }
  // A ref stays a ref: its index is the comparison.
  decoder.tagged_readRef = function () {
    return { t: 'ref', v: PROTO.readRefId.call(this) };
  };
  return decoder;
}

function decode(hex) {
  const buf = Buffer.from(hex, 'hex');
  const decoder = taggingDecoder(buf);
  const values = [];
  while (decoder.position() < buf.length) values.push(decoder.read(true));
  return values;
}

function attempt(fn) {
  try {
    return [fn(), null];
  } catch (e) {
    return [null, String(e && e.stack || e)];
  }
}

function main(input) {
  const cases = JSON.parse(input);
  const results = cases.map((c) => {
    const [theirs, encodeError] = attempt(() => encode(c.values));
    const [decoded, decodeError] = attempt(() => decode(c.ours));
    return { name: c.name, theirs, encode_error: encodeError, decoded, decode_error: decodeError };
  });
  process.stdout.write(JSON.stringify(results));
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => main(Buffer.concat(chunks).toString('utf8')));
