'use strict'
// Child process of fuzz.test.js: node fuzz-child.js <module> <seed> <start> <count>
// Runs fuzz cases [start, start+count) and writes one JSON line per case as soon as it is done, so
// that if a call aborts the process, the parent knows which case did it and resumes after it.
const fs = require('node:fs')
const net = require('node:net')
const [moduleName, seedArg, startArg, countArg] = process.argv.slice(2)
const dgram = require(moduleName)
const { describeError } = require('./impls')

function mulberry32 (a) {
  return function () {
    a |= 0; a = a + 0x6D2B79F5 | 0
    let t = Math.imul(a ^ a >>> 15, 1 | a)
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
    return ((t ^ t >>> 14) >>> 0) / 4294967296
  }
}

const METHODS = [
  'bind', 'connect', 'disconnect', 'send', 'sendto', 'close', 'address', 'remoteAddress',
  'setBroadcast', 'setTTL', 'setMulticastTTL', 'setMulticastLoopback', 'setMulticastInterface',
  'addMembership', 'dropMembership', 'addSourceSpecificMembership', 'dropSourceSpecificMembership',
  'setRecvBufferSize', 'setSendBufferSize', 'getRecvBufferSize', 'getSendBufferSize',
  'getSendQueueSize', 'getSendQueueCount', 'ref', 'unref'
]

// Values for every argument position. Ports that a bind could use are all ones that coerce to 0
// (node:dgram does not validate bind ports), destinations are loopback only.
function pool (log) {
  return [
    undefined, null, true, false, 0, -0, 1, -1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 32, 65535, 65536, 9, '9',
    '', 'abc', '127.0.0.1', '::1', '239.255.0.1', '232.1.1.1', '0', ' ', 'localhost',
    Buffer.from('hi'), new Uint8Array(3), new Uint16Array(2), new DataView(new ArrayBuffer(2)), new ArrayBuffer(2),
    [], ['a', Buffer.from('b')], [1], {}, { port: 0, address: '127.0.0.1' }, { port: 'x' },
    Symbol('s'), 10n, () => log('callback'), function named () { log('callback named', arguments.length) }
  ]
}

const isMulticast = (v) => typeof v === 'string' && (net.isIPv4(v) ? Number(v.split('.')[0]) >= 224 : /^ff/i.test(v))
const BIND_PORT_OK = new Set([undefined, null, false, 0, -0, NaN, '', 'abc', '0', ' ', 'localhost', 65536, 2 ** 32])

// Keeps each call on loopback and off fixed ports; documented exclusions.
function sanitize (method, args) {
  if (method === 'bind') {
    // A bind must not take a fixed port: replace any port that does not coerce to 0.
    if (typeof args[0] === 'object' && args[0] !== null && !Array.isArray(args[0]) && !ArrayBuffer.isView(args[0])) {
      args[0] = { port: 0, address: '127.0.0.1' }
    } else if (!BIND_PORT_OK.has(args[0])) {
      args[0] = 0
    }
    // …nor a wildcard (the default when the address is empty) nor a multicast address.
    if (typeof args[1] !== 'function' && (typeof args[1] !== 'string' || args[1] === '' || isMulticast(args[1]))) {
      args[1] = '127.0.0.1'
    }
  }
  if (method === 'send' || method === 'sendto' || method === 'connect') {
    // No destination may be multicast (it would leave through the default interface).
    for (let i = 0; i < args.length; i++) if (isMulticast(args[i])) args[i] = '127.0.0.1'
  }
  if (/Membership$/.test(method)) {
    // Without an explicit interface the kernel joins on the default interface, and IGMP reports
    // leave the host: force the loopback interface when the interface argument is not a string.
    const i = /SourceSpecific/.test(method) ? 2 : 1
    while (args.length <= i) args.push(undefined)
    if (typeof args[i] !== 'string' || args[i] === '' || args[i] === ' ') args[i] = '127.0.0.1'
  }
  if (method === 'setRecvBufferSize' || method === 'setSendBufferSize') {
    // node:dgram aborts the process on -0 (an internal CHECK(args[0]->IsUint32()) fails).
    if (Object.is(args[0], -0)) args[0] = 0
  }
  return args
}

function describeValue (v, s) {
  if (s !== undefined && v === s) return 'this'
  if (v === undefined) return 'undefined'
  if (typeof v === 'symbol' || typeof v === 'bigint') return `${typeof v}:${String(v)}`
  if (typeof v === 'function') return 'function'
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN'
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.byteLength})`
  if (v && typeof v === 'object') {
    const o = {}
    for (const k of Object.keys(v)) o[k] = k === 'port' ? typeof v[k] : describeValue(v[k], s)
    return o
  }
  return v
}

// A lookup that never asks DNS: IP literals resolve to themselves, anything else fails.
function lookup (address, family, cb) {
  const f = net.isIP(address)
  if (f) return process.nextTick(cb, null, address, f)
  const err = new Error(`getaddrinfo ENOTFOUND ${address}`)
  err.code = 'ENOTFOUND'
  process.nextTick(cb, err)
}

async function runCase (i) {
  const rand = mulberry32(Number(seedArg) * 100003 + i)
  const pick = (arr) => arr[Math.floor(rand() * arr.length)]
  const events = []
  const log = (...e) => events.push(e.map((x) => x instanceof Error ? describeError(x) : describeValue(x)))
  const type = rand() < 0.75 ? 'udp4' : 'udp6'
  const bound = rand() < 0.5
  const method = pick(METHODS)
  const values = pool(log)
  const args = sanitize(method, Array.from({ length: Math.floor(rand() * 5) }, () => pick(values)))
  const s = dgram.createSocket({ type, lookup })
  for (const ev of ['error', 'listening', 'close', 'connect']) s.on(ev, (...a) => log(ev, ...a.filter((x) => x !== undefined)))
  if (bound) {
    await new Promise((resolve) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', resolve))
    events.length = 0
  }
  const argDesc = args.map((a) => describeValue(a))
  let result
  try {
    result = { returned: describeValue(s[method](...args), s) }
  } catch (e) {
    result = { threw: describeError(e) }
  }
  await new Promise((resolve) => setTimeout(resolve, 5))
  try { s.close() } catch {}
  await new Promise((resolve) => setImmediate(resolve))
  return { i, type, bound, method, args: argDesc, result, events }
}

;(async () => {
  const start = Number(startArg)
  for (let i = start; i < start + Number(countArg); i++) {
    const r = await runCase(i)
    fs.writeSync(1, JSON.stringify(r, (k, v) => typeof v === 'bigint' ? String(v) : v) + '\n')
  }
})()
