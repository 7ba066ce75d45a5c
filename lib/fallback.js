'use strict'

// Where no native addon loads (macOS, Windows, FreeBSD, a platform package
// that was not installed, DGRAM_RS_FALLBACK=1): node:dgram itself, with
// dgram-rs's additions (lib/batch.js) done in JavaScript on its public API.
//
// - Socket is a subclass of node:dgram's Socket (every socket is also
//   `instanceof require('node:dgram').Socket`); node:dgram's own prototype is
//   left untouched.
// - sendBatch(messages, port[, address][, callback]) and
//   sendBatch(buffer, segmentSize, port[, address][, callback]) (connected:
//   without port and address) validate as the native ones do, then make one
//   send() per datagram, in order. callback(err, count) once all are done:
//   the first refusal (or null) and how many datagrams were sent.
// - createSocket({ type, receiveBatches: true | 'zero-copy' }) emits
//   'messages' (messages, rinfo) instead of 'message': the datagrams one
//   wakeup of the loop read, per run of one sender (see gather()).
//   'zero-copy' lends the datagrams' own memory while the listeners run and
//   detaches it afterwards (every view then has length 0), as the native
//   receive does. 'segments' emits 'segments' (data, data.length, rinfo) per
//   datagram, lent in the same way: node:dgram's reads are one datagram
//   each, as a receiver's without offload are.

const dgram = require('dgram')
const fs = require('fs')
const { createMessages } = require('./messages.js')
const { batchDatagrams, batchDestination, validateReceiveBatches } = require('./batch.js')
const { copyLent, isLending, lend } = require('./buffers.js')
const { nextTick, setImmediate } = require('./ticks.js')
const EventEmitter = require('events')
const { isIP } = require('net')
const { Buffer } = require('buffer')
const { isArrayBufferView } = require('util').types

const emit = EventEmitter.prototype.emit

const kPending = Symbol('pendingMessages')
const kClosing = Symbol('closing')
const kMode = Symbol('receiveBatches')

// At most this many datagrams per 'messages' event, as a GRO batch.
const MAX_BATCH = 64

function Socket (type, listener) {
  const mode = type !== null && typeof type === 'object' ? validateReceiveBatches(type) : false
  Reflect.apply(dgram.Socket, this, [type, listener])
  if (mode) {
    // Only batch sockets get these (as own, non-enumerable properties).
    this[kPending] = undefined
    this[kClosing] = false
    this[kMode] = mode
    Object.defineProperty(this, 'emit', {
      configurable: true,
      writable: true,
      value: emitGathered
    })
    Object.defineProperty(this, 'close', { configurable: true, writable: true, value: closeBatches })
  }
}
Object.setPrototypeOf(Socket.prototype, dgram.Socket.prototype)
Object.setPrototypeOf(Socket, dgram.Socket)

function createSocket (type, listener) {
  return new Socket(type, listener)
}

// receiveBatches: node:dgram's onMessage emits 'message' per datagram (libuv
// reads up to 32 per wakeup). They are gathered until the loop's check phase
// (setImmediate: after this wakeup's reads, before its timers), then emitted
// as 'messages' per run of up to 64 datagrams from one sender, as a GRO read
// would give them.
function gather (socket, event, args) {
  if (event !== 'message') return Reflect.apply(emit, socket, [event, ...args])
  countReceived(socket, args[0])
  if (socket[kPending] === undefined) {
    socket[kPending] = []
    setImmediate(FLUSH[socket[kMode]], socket)
  }
  socket[kPending].push(args[0], args[1])
  return socket.listenerCount(socket[kMode] === 'segments' ? 'segments' : 'messages') > 0
}

function emitGathered (event, ...args) {
  return gather(this, event, args)
}

function closeBatches (...args) {
  const result = Reflect.apply(Socket.prototype.close, this, args)
  // No 'messages' after close(), not even of datagrams already read.
  this[kClosing] = true
  this[kPending] = undefined
  return result
}

// Calls each(messages, rinfo) per run of one sender's datagrams, until the
// socket is closed.
function flushRuns (socket, each) {
  const pending = socket[kPending]
  socket[kPending] = undefined
  if (pending === undefined) return
  for (let i = 0; i < pending.length && !socket[kClosing];) {
    const first = pending[i + 1]
    const messages = [pending[i]]
    let size = pending[i].length
    i += 2
    while (i < pending.length && messages.length < MAX_BATCH &&
           pending[i + 1].port === first.port && pending[i + 1].address === first.address) {
      messages.push(pending[i])
      size += pending[i].length
      i += 2
    }
    each(messages, { ...first, size })
  }
}

// true: the views are of one Buffer of their own per run.
function flushCopied (socket) {
  flushRuns(socket, (messages, rinfo) => {
    if (messages.length > 1) {
      const all = Buffer.concat(messages, rinfo.size)
      let offset = 0
      for (let j = 0; j < messages.length; j++) {
        const length = messages[j].length
        messages[j] = all.subarray(offset, offset + length)
        offset += length
      }
    }
    Reflect.apply(emit, socket, ['messages', messages, rinfo])
  })
}

// 'zero-copy': each datagram's own memory (node:dgram allocates one
// ArrayBuffer per datagram) is lent while the listeners run and detached when
// they return or throw, so a kept view has length 0 and never shows bytes.
function emitLentMessages (socket, [messages, rinfo]) {
  Reflect.apply(emit, socket, ['messages', messages, rinfo])
}

// 'segments': each datagram a run of its own.
function emitLentSegments (socket, [messages, rinfo]) {
  for (let j = 0; j < messages.length && !socket[kClosing]; j++) {
    const m = messages[j]
    Reflect.apply(emit, socket, ['segments', m, m.length, { ...rinfo, size: m.length }])
  }
}

function lendRun (socket, messages, rinfo, emitRun) {
  for (let j = 0; j < messages.length; j++) {
    const m = messages[j]
    if (m.byteOffset !== 0 || m.byteLength !== m.buffer.byteLength) { messages[j] = Buffer.from(m) } // not its own memory: lend a copy
  }
  try {
    // A send made meanwhile copies what it sends (lib/buffers.js).
    lend(messages, emitRun, socket, [messages, rinfo])
  } finally {
    for (let j = 0; j < messages.length; j++) { structuredClone(messages[j].buffer, { transfer: [messages[j].buffer] }) }
  }
}

function flushLent (socket) {
  flushRuns(socket, (messages, rinfo) => lendRun(socket, messages, rinfo, emitLentMessages))
}

function flushSegments (socket) {
  flushRuns(socket, (messages, rinfo) => lendRun(socket, messages, rinfo, emitLentSegments))
}

// How each receiveBatches mode emits what a wakeup gathered.
const FLUSH = { true: flushCopied, 'zero-copy': flushLent, segments: flushSegments }

// node:dgram's send, but a lent 'zero-copy' view it is given (from a
// 'messages' listener) is copied: it may go out after the view is emptied.
Socket.prototype.send = function send (msg) {
  // Outside a zero-copy 'messages' listener (almost every send): node:dgram's
  // send as it is, with no array made per send.
  if (!isLending()) return Reflect.apply(dgram.Socket.prototype.send, this, arguments)
  const args = Array.from(arguments)
  if (Array.isArray(msg)) {
    args[0] = msg.slice()
    copyLent(args[0])
  } else if (isArrayBufferView(msg)) {
    const views = [msg]
    copyLent(views)
    args[0] = views[0]
  }
  return Reflect.apply(dgram.Socket.prototype.send, this, args)
}

Socket.prototype.sendBatch = function sendBatch (messages, ...rest) {
  const { data, segmentSize, list } = batchDatagrams(messages, rest)
  if (list !== undefined) return sendMany(this, list, ...rest)
  // The buffer form: its datagrams, as views of the buffer.
  const segments = []
  for (let offset = 0; offset < data.length || segments.length === 0; offset += segmentSize) { segments.push(data.subarray(offset, offset + segmentSize)) }
  sendMany(this, segments, ...rest)
}

function isConnected (socket) {
  try {
    socket.remoteAddress()
    return true
  } catch (e) {
    // Closed (ERR_SOCKET_DGRAM_NOT_RUNNING): checked after the arguments, as
    // the native sendBatch does.
    return e.code !== 'ERR_SOCKET_DGRAM_NOT_CONNECTED' &&
      e.code !== 'ERR_SOCKET_DGRAM_NOT_RUNNING'
  }
}

// The argument checks of the native sendBatch (lib/batch.js), in its order,
// then one send() per datagram.
function sendMany (socket, list, ...rest) {
  const connected = isConnected(socket)
  const { port, address, callback } = batchDestination(connected, ...rest)
  try {
    socket.address()
  } catch (e) {
    // Closed: the native check's error. (Unbound: EBADF, and send() binds.)
    if (e.code === 'ERR_SOCKET_DGRAM_NOT_RUNNING') throw e
  }

  let pending = list.length
  let error = null
  let sent = 0
  const done = (err) => {
    if (!err) sent++
    else if (error === null) error = err
    if (--pending > 0) return
    if (callback) {
      // A failed lookup fails the whole batch, with no count, as natively.
      if (error && error.syscall !== 'send') callback(error)
      else callback(error, sent)
    } else if (error && error.syscall !== 'send') {
      socket.emit('error', error) // a failed lookup, as the native sendBatch reports it
    }
  }
  if (pending === 0) {
    if (callback) nextTick(callback, null, 0)
    return
  }
  const sendOne = (i, next) => {
    const after = (err) => {
      done(err)
      if (next) next()
    }
    if (connected) socket.send(list[i], after)
    else socket.send(list[i], port, address, after)
  }
  if (connected || address == null || isIP(address) !== 0) {
    // Each send() looks the address up on its own, in order (an IP address
    // answers on the next tick): all can go at once.
    for (let i = 0; i < list.length; i++) sendOne(i, null)
  } else {
    // A host name: lookups could answer out of order, so one at a time.
    const step = (i) => sendOne(i, i + 1 < list.length ? () => step(i + 1) : null)
    step(0)
  }
}

// socket.messages() / for await: the iterator of lib/messages.js, pausing
// node:dgram's reading through its handle (found by node's own state symbol;
// where it cannot be found, the iterator does not pause).
function nodeHandle (socket) {
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'state symbol')
  const state = key === undefined ? undefined : socket[key]
  return state && state.handle
}

const iteratorControl = {
  setPaused (socket, paused) {
    const handle = nodeHandle(socket)
    if (!handle) return
    if (paused) handle.recvStop()
    else handle.recvStart()
  },
  // close() (below) keeps the kernel's last drop count: it was called.
  isClosed (socket) {
    return socket[kFinalDrops] !== undefined
  }
}

Socket.prototype.messages = function messages (options) {
  return createMessages(this, options, iteratorControl)
}

Socket.prototype[Symbol.asyncIterator] = function () {
  return createMessages(this, undefined, iteratorControl)
}

// getStats(): what JavaScript can see on node:dgram. Received datagrams and
// bytes are counted as 'message' is emitted; the kernel's drops are read from
// /proc/net/udp(6) (Linux). Sends and queue drops are not visible there: 0.
const kReceived = Symbol('received')

function countReceived (socket, buf) {
  const counts = socket[kReceived] || (socket[kReceived] = [0, 0])
  counts[0]++
  counts[1] += buf.length
}

// A batch socket's own emit (gather()) counts as well.
Socket.prototype.emit = function (event, ...args) {
  if (event === 'message') countReceived(this, args[0])
  return Reflect.apply(emit, this, [event, ...args])
}

const kFinalDrops = Symbol('finalDrops')

// close() keeps the kernel's last drop count for getStats().
Socket.prototype.close = function close (...args) {
  if (this[kFinalDrops] === undefined) this[kFinalDrops] = kernelDrops(this)
  return Reflect.apply(dgram.Socket.prototype.close, this, args)
}

Socket.prototype.getStats = function getStats () {
  const [datagramsReceived, bytesReceived] = this[kReceived] || [0, 0]
  return {
    datagramsReceived,
    bytesReceived,
    datagramsSent: 0,
    bytesSent: 0,
    droppedByKernel: this[kFinalDrops] === undefined ? kernelDrops(this) : this[kFinalDrops],
    droppedByQueue: 0
  }
}

// The `drops` column of the socket's line in /proc/net/udp or udp6 (by the
// inode of its descriptor), or 0 where that cannot be read.
function kernelDrops (socket) {
  try {
    const handle = nodeHandle(socket)
    const link = fs.readlinkSync(`/proc/self/fd/${handle.fd}`)
    const inode = /^socket:\[(\d+)\]$/.exec(link)[1]
    for (const table of ['udp', 'udp6']) {
      const line = fs.readFileSync(`/proc/self/net/${table}`, 'latin1').split('\n')
        .map((l) => l.trim().split(/\s+/)).find((f) => f[9] === inode)
      if (line) return Number(line[line.length - 1])
    }
  } catch {}
  return 0
}

module.exports = {
  // node:dgram's own deprecated export (it warns, DEP0112, as node:dgram's
  // does), where node:dgram still has it (Node 24 and earlier).
  ...('_createSocketHandle' in dgram ? { _createSocketHandle: dgram._createSocketHandle } : {}),
  createSocket,
  Socket
}
