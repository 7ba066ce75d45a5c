'use strict'

// Creation of the native handle and its address lookup, like Node's
// lib/internal/dgram.js: the one place that knows the shape of the native
// UdpHandle (lib/native.js) besides lib/socket.js, and the callbacks every
// handle of the thread reports through.

const fs = require('fs')
const { UdpHandle, udpSetCallbacks } = require('./native.js')
const { datagramBuffer } = require('./staging.js')
const { codes: { ERR_SOCKET_BAD_TYPE } } = require('./errors.js')
const { isIP, isInt32, validateFunction } = require('./validators.js')
const nodeVersion = require('./node-version.js')
const { nextTick } = require('./ticks.js')

const kStateSymbol = Symbol('state symbol')
// The socket that owns a handle, for the callbacks the handle makes.
const kOwner = Symbol('owner_symbol')

// Flags of handle.bind(), libuv's values where libuv has them.
const UV_UDP_IPV6ONLY = 1
const UV_UDP_REUSEADDR = 4
const UV_UDP_REUSEPORT = 8

const UV_EINVAL = -22

let dns // Lazy load for startup performance.
let tty // Only bind({ fd }) needs it.
let batchLib // lib/batch.js: only receiveBatches needs it.

function lookup4 (lookup, address, callback) {
  return lookup(address || '127.0.0.1', 4, callback)
}

function lookup6 (lookup, address, callback) {
  return lookup(address || '::1', 6, callback)
}

// The callbacks of every native UDP handle of this thread, handed over once;
// the handle is their `this` (recvStart() names it), as Node's UDPWrap calls
// handle.onmessage. They forward to the functions the socket installs on the
// handle (onmessage, onbatch, onerror, onsend). rinfo is built here, with
// Node's key order. One set per thread, not closures per handle: a socket per
// query then makes none.
// Symbol.for: the callbacks the addon calls are those of the copy of this module that loaded
// last in the thread (Jest loads one per test file), and they read this from every copy's handles.
const kFamilyName = Symbol.for('dgram-rs.familyName')

// A fourth argument, the datagrams' sizes, comes only in batch mode; six
// more, the receive information, only with receiveInfo (lib/control.js).
function onmessage (buf, address, port, sizes, localAddress, interfaceIndex, tos, ttl, timestamp, truncated) {
  // A datagram comes as a number or an ArrayBuffer (lib/staging.js); a batch as a Buffer.
  if (sizes === undefined) buf = datagramBuffer(buf)
  const rinfo = sizes === undefined
    ? { address, family: this[kFamilyName], port, size: buf.length }
    : { address, family: this[kFamilyName], port, size: (batchLib ??= require('./batch.js')).batchSize(buf) }
  if (interfaceIndex !== undefined) {
    rinfo.localAddress = localAddress
    rinfo.interfaceIndex = interfaceIndex
    rinfo.tos = tos
    rinfo.ttl = ttl
    rinfo.timestamp = timestamp
    rinfo.truncated = truncated
  }
  return sizes === undefined
    ? this.onmessage(buf, rinfo)
    : this.onbatch(buf, sizes, rinfo)
}

function onerror (errno) {
  return this.onerror(errno)
}

function onsend (id, status, bytes) {
  return this.onsend(id, status, bytes)
}

udpSetCallbacks(onmessage, onerror, onsend)

function createNativeHandle (family) {
  const handle = new UdpHandle(family)
  handle[kFamilyName] = family === 4 ? 'IPv4' : 'IPv6'
  return handle
}

// Starts receiving; queued sends complete through the same callbacks, and
// a handle only sends once bound, i.e. after this.
function recvStart (handle) {
  return handle.recvStart()
}

// The default lookup (no `lookup` option) goes to dns.lookup, which answers
// an IP literal itself: callback(null, address, family) on the next tick and
// nothing else. So where dns.lookup is Node's own, a literal is answered here
// with no call, and the last literal seen is remembered, so that a socket
// sending to one address does not test it again for every datagram. A
// replaced or wrapped dns.lookup (APM instrumentation, caches, test doubles)
// is always called, as node:dgram calls it: which one is Node's is decided by
// identity at the lookup (isNodeDnsLookup), never by what dns.lookup was
// when some earlier socket was made.
//
// Which dns.lookup, and which literals skip it, follow the running version
// (lib/node-version.js): up to 24.18 / 26.4, the dns.lookup of the socket's
// creation, for every address; from 24.19 / 26.5, a literal of the socket's
// family never reaches dns.lookup, and anything else goes to dns.lookup as
// it is at that moment.
//
// One default lookup per family serves every socket whose lookup is Node's
// (made on first use): a closure per socket cost a socket per query memory
// of its own.
const literalLookups = { 4: undefined, 6: undefined }
const defaultAddress = { 4: '127.0.0.1', 6: '::1' }

let nodeDnsLookup // Node's own dns.lookup, once seen.
let notNodeDnsLookup // The last function found not to be.

// Node's dns.lookup, told by its source text: every replacement has its own
// text (a bound function or a Proxy reads "[native code]"), even one made
// before dgram-rs was loaded.
const kNodeDnsLookupSource = 'function lookup(hostname, options, callback) {\n  let hints ='

function isNodeDnsLookup (fn) {
  if (fn === nodeDnsLookup) return true
  if (fn === notNodeDnsLookup || nodeDnsLookup !== undefined || typeof fn !== 'function') return false
  if (Function.prototype.toString.call(fn).startsWith(kNodeDnsLookupSource)) {
    nodeDnsLookup = fn
    return true
  }
  notNodeDnsLookup = fn
  return false
}

function literalLookup (family) {
  let known
  let knownFamily = 0
  return (address, callback) => {
    address ||= defaultAddress[family]
    if (address !== known) {
      // Node's dns.lookup refuses what is no string; 24.19+ / 26.5+ test
      // the literal before.
      const found = typeof address === 'string' || nodeVersion.literalLookup ? isIP(address) : 0
      if (found === 0) return socketDnsLookup()(address, family, callback)
      known = address
      knownFamily = found
    }
    // 24.19+ / 26.5+ answer a literal of the family without dns.lookup, and
    // give one of the other family to dns.lookup as it is now. Before, this
    // lookup serves only sockets made while dns.lookup was Node's.
    if (nodeVersion.literalLookup && knownFamily !== family && !isNodeDnsLookup((dns ??= require('dns')).lookup)) {
      return dns.lookup(address, family, callback)
    }
    nextTick(callback, null, address, knownFamily)
    return {}
  }
}

// The dns.lookup a socket of literalLookup() calls for a name.
function socketDnsLookup () {
  return nodeVersion.literalLookup ? dnsLookup : nodeDnsLookup
}

// dns.lookup as it is at the call, called as dns.lookup(...).
function dnsLookup (address, family, callback) {
  return (dns ??= require('dns')).lookup(address, family, callback)
}

function newHandle (type, lookup) {
  let custom = true
  if (lookup === undefined) {
    // Up to 24.18 / 26.4, the socket keeps the dns.lookup of its creation. From 24.19 / 26.5,
    // dns.lookup is read at each lookup that needs it, and node:dgram loads dns then (a socket
    // that only meets literals of its family never loads it: about 1 ms of a fresh process).
    if (!nodeVersion.literalLookup) {
      dns ??= require('dns')
      lookup = dns.lookup
      custom = !isNodeDnsLookup(lookup)
    } else {
      custom = false
    }
  } else {
    validateFunction(lookup, 'lookup')
  }

  if (type === 'udp4') {
    const handle = createNativeHandle(4)
    handle.lookup = custom
      ? lookup4.bind(handle, lookup)
      : (literalLookups[4] ??= literalLookup(4))
    return handle
  }

  if (type === 'udp6') {
    const handle = createNativeHandle(6)
    handle.lookup = custom
      ? lookup6.bind(handle, lookup)
      : (literalLookups[6] ??= literalLookup(6))
    return handle
  }

  throw new ERR_SOCKET_BAD_TYPE()
}

// Node asks libuv (uv_guess_handle) what kind of thing an fd is before
// adopting it for bind({ fd }), and refuses anything but a UDP socket with
// ERR_INVALID_FD_TYPE naming the kind. Userland has no such call: fstat
// tells files, pipes and ttys apart, and the kind of a socket is looked up
// in /proc (Linux). A socket found nowhere (not bound yet, or no /proc) is
// taken for UDP, and the native open() refuses it if it is not.
function guessHandleType (fd) {
  let stat
  try {
    stat = fs.fstatSync(fd)
  } catch {
    return 'UNKNOWN'
  }
  if (stat.isSocket()) return guessSocketType(fd)
  tty ??= require('tty')
  if (tty.isatty(fd)) return 'TTY'
  if (stat.isFile() || stat.isCharacterDevice()) return 'FILE'
  if (stat.isFIFO()) return 'PIPE'
  return 'UNKNOWN'
}

// Where uv_guess_handle() looks at SO_TYPE and the address family, look the
// socket's inode up in the kernel's tables of this network namespace.
function guessSocketType (fd) {
  let inode
  try {
    const link = fs.readlinkSync(`/proc/self/fd/${fd}`)
    inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
  } catch {
    return 'UDP'
  }
  if (inode === undefined) return 'UDP'
  // The inode is column 9 of tcp/udp and column 6 of unix; unix's column 4
  // is the socket type (1 = SOCK_STREAM, a named pipe for libuv).
  const find = (table, column) => {
    try {
      return fs.readFileSync(`/proc/self/net/${table}`, 'latin1')
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .find((fields) => fields[column] === inode)
    } catch {
      return undefined
    }
  }
  if (find('udp', 9) || find('udp6', 9)) return 'UDP'
  if (find('tcp', 9) || find('tcp6', 9)) return 'TCP'
  const unix = find('unix', 6)
  if (unix) return parseInt(unix[4], 16) === 1 ? 'PIPE' : 'UNKNOWN'
  return 'UDP'
}

// Node's C++ UDPWrap::Bind converts its arguments instead of checking them:
// the address with ToString, the port with ToUint32, and libuv's htons()
// keeps its low 16 bits (bind(70000) binds port 4464). The native handle
// wants a string and a u16, so do those conversions here.
function bindHandle (handle, ip, port, flags) {
  return handle.bind(`${ip}`, (+port >>> 0) & 0xFFFF, flags >>> 0)
}

function _createSocketHandle (address, port, addressType, fd, flags) {
  const handle = newHandle(addressType)
  let err

  if (isInt32(fd) && fd > 0) {
    const type = guessHandleType(fd)
    if (type !== 'UDP') {
      err = UV_EINVAL
    } else {
      err = handle.open(fd)
    }
  } else if (port || address) {
    err = bindHandle(handle, address, port || 0, flags)
  }

  if (err) {
    handle.close()
    return err
  }

  return handle
}

module.exports = {
  kOwner,
  kStateSymbol,
  _createSocketHandle,
  bindHandle,
  guessHandleType,
  newHandle,
  recvStart,
  UV_UDP_IPV6ONLY,
  UV_UDP_REUSEADDR,
  UV_UDP_REUSEPORT
}
