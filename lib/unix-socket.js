'use strict'

// 'unix_dgram' sockets (AF_UNIX, SOCK_DGRAM): node:dgram's Socket shape with
// Unix socket names for addresses, over the native UnixHandle (lib/native.js,
// src/unix_handle.rs), which drives the same owner and engines as UDP.
//
// A name is a file-system path, or (Linux) an abstract name whose first
// character is '\0'. Binding a path creates a socket file; it stays after
// close, and binding it again fails with EADDRINUSE, as in C: unlinking a
// stale path is the caller's choice (fs.unlinkSync before bind).

const EventEmitter = require('events')
const { Buffer } = require('buffer')
const { isArrayBufferView } = require('util').types
const { UnixHandle } = require('./native.js')
const { datagramBuffer } = require('./staging.js')
const { sliceBuffer } = require('./buffers.js')
const {
  ErrnoException,
  ExceptionWithHostPort,
  uvExceptionContext,
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_SOCKET_ALREADY_BOUND,
    ERR_SOCKET_BAD_BUFFER_SIZE,
    ERR_SOCKET_BUFFER_SIZE,
    ERR_SOCKET_DGRAM_IS_CONNECTED,
    ERR_SOCKET_DGRAM_NOT_CONNECTED,
    ERR_SOCKET_DGRAM_NOT_RUNNING,
    ERR_SOCKET_UNSUPPORTED_FOR_TYPE
  }
} = require('./errors.js')
const { validateFunction, validateUint32 } = require('./validators.js')
const { nextTick, setImmediate } = require('./ticks.js')

const TYPE = 'unix_dgram'

const kState = Symbol('unix state')

function UnixSocket (options, listener) {
  EventEmitter.call(this)
  let recvBufferSize
  let sendBufferSize
  if (options !== null && typeof options === 'object') {
    if (options.recvBufferSize) {
      validateUint32(options.recvBufferSize, 'options.recvBufferSize')
      recvBufferSize = options.recvBufferSize
    }
    if (options.sendBufferSize) {
      validateUint32(options.sendBufferSize, 'options.sendBufferSize')
      sendBufferSize = options.sendBufferSize
    }
  }
  const handle = new UnixHandle()
  this.type = TYPE
  if (typeof listener === 'function') { this.on('message', listener) }
  this[kState] = {
    handle,
    started: false,
    bound: false,
    connected: false,
    remote: undefined,
    recvBufferSize,
    sendBufferSize,
    // Sends queued behind a full receiver, by id, until onsend completes them.
    nextId: 1,
    reqs: new Map()
  }
}
Object.setPrototypeOf(UnixSocket.prototype, EventEmitter.prototype)
Object.setPrototypeOf(UnixSocket, EventEmitter)

function healthCheck (self) {
  const state = self[kState]
  if (state.handle === null) { throw new ERR_SOCKET_DGRAM_NOT_RUNNING() }
  return state
}

// The OS socket exists from the first bind, connect or send; it receives from
// then on (an unbound, unconnected socket just never gets anything).
function start (self) {
  const state = self[kState]
  if (state.started) return 0
  const err = state.handle.open()
  if (err) return err
  state.started = true
  const { handle } = state
  if (state.recvBufferSize) handle.bufferSize(state.recvBufferSize, true)
  if (state.sendBufferSize) handle.bufferSize(state.sendBufferSize, false)
  return handle.recvStart(
    (buf, address) => {
      // A datagram comes as a number or an ArrayBuffer (lib/staging.js).
      buf = datagramBuffer(buf)
      self.emit('message', buf, { address, family: 'unix', size: buf.length })
    },
    (errno) => self.emit('error', new ErrnoException(errno, 'recvmsg')),
    (ended) => onSends(self, self[kState].reqs, ended, 0),
    () => {}
  )
}

function validateName (name, argName) {
  if (typeof name !== 'string') { throw new ERR_INVALID_ARG_TYPE(argName, 'string', name) }
}

UnixSocket.prototype.bind = function (path, callback) {
  if (path !== null && typeof path === 'object') path = path.path
  validateName(path, 'path')
  const state = healthCheck(this)
  if (state.bound) throw new ERR_SOCKET_ALREADY_BOUND()
  if (typeof callback === 'function') this.once('listening', callback)
  const err = start(this) || state.handle.bind(path)
  if (err) {
    const ex = new ExceptionWithHostPort(err, 'bind', path)
    nextTick(() => this.emit('error', ex))
    return this
  }
  state.bound = true
  nextTick(() => this.emit('listening'))
  return this
}

UnixSocket.prototype.connect = function (path, callback) {
  validateName(path, 'path')
  const state = healthCheck(this)
  if (state.connected) throw new ERR_SOCKET_DGRAM_IS_CONNECTED()
  if (callback !== undefined) validateFunction(callback, 'callback')
  const err = start(this) || state.handle.connect(path)
  if (err) {
    const ex = new ExceptionWithHostPort(err, 'connect', path)
    nextTick(() => (callback ? callback(ex) : this.emit('error', ex)))
    return
  }
  state.connected = true
  state.remote = path
  if (callback) this.once('connect', callback)
  nextTick(() => this.emit('connect'))
}

UnixSocket.prototype.disconnect = function () {
  const state = healthCheck(this)
  if (!state.connected) throw new ERR_SOCKET_DGRAM_NOT_CONNECTED()
  const err = state.handle.disconnect()
  if (err) throw new ErrnoException(err, 'connect')
  state.connected = false
  state.remote = undefined
}

function toBuffer (msg) {
  if (typeof msg === 'string') return Buffer.from(msg)
  if (isArrayBufferView(msg)) { return Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength) }
  if (Array.isArray(msg)) return Buffer.concat(msg.map(toBuffer))
  throw new ERR_INVALID_ARG_TYPE('buffer', ['Buffer', 'TypedArray', 'DataView', 'string'], msg)
}

// send(msg[, offset, length], path[, callback]); connected:
// send(msg[, offset, length][, callback]).
UnixSocket.prototype.send = function (msg, ...args) {
  const state = healthCheck(this)
  let buf = toBuffer(msg)
  if (typeof args[0] === 'number' && typeof args[1] === 'number') {
    // node:dgram's checks: an offset or length past the end is a RangeError.
    const [offset, length] = args.splice(0, 2)
    buf = sliceBuffer(buf, offset, length)
  }
  let path = null
  if (typeof args[0] === 'string') path = args.shift()
  const callback = args[0]
  if (callback !== undefined) validateFunction(callback, 'callback')
  if (state.connected && path !== null) throw new ERR_SOCKET_DGRAM_IS_CONNECTED()
  if (!state.connected && path === null) { throw new ERR_INVALID_ARG_TYPE('path', 'string', args[0]) }

  const err = start(this)
  const id = state.nextId
  state.nextId = state.nextId === 0xFFFFFFFF ? 1 : state.nextId + 1
  const result = err || state.handle.send(buf, path, id)
  if (result > 0) {
    if (callback) nextTick(callback, null, result - 1)
  } else if (result === 0) {
    state.reqs.set(id, { callback, path: path ?? state.remote })
  } else {
    fail(this, callback, result, path ?? state.remote)
  }
}

function fail (self, callback, errno, path) {
  const ex = new ExceptionWithHostPort(errno, 'send', path)
  if (callback) nextTick(callback, ex)
  else nextTick(() => self.emit('error', ex))
}

// The queued sends one flush took or refused, [id, status, bytes, ...] from
// `from`, in the order sent: one call from the addon for them all. The map is
// the one they were filed in, so that a callback that closes the socket leaves
// the rest of the batch to complete here, as sent (close() cancels only what is
// still queued). Should a callback throw, the rest complete on the next tick
// (the error goes on as uncaught): none is left without its callback.
function onSends (self, reqs, ended, from) {
  let i = from
  try {
    for (; i + 2 < ended.length; i += 3) onSend(self, reqs, ended[i], ended[i + 1], ended[i + 2])
  } finally {
    if (i + 2 < ended.length) nextTick(onSends, self, reqs, ended, i + 3)
  }
}

function onSend (self, reqs, id, status, bytes) {
  const req = reqs.get(id)
  if (req === undefined) return
  reqs.delete(id)
  if (status < 0) fail(self, req.callback, status, req.path)
  else if (req.callback) req.callback(null, bytes)
}

UnixSocket.prototype.close = function (callback) {
  const state = healthCheck(this)
  if (typeof callback === 'function') this.once('close', callback)
  const ended = state.handle.close()
  state.handle = null
  // Queued sends end as libuv ends them on close: what completed, then ECANCELED.
  const reqs = state.reqs
  state.reqs = new Map()
  for (let i = 0; i + 2 < ended.length; i += 3) {
    const req = reqs.get(ended[i])
    if (req === undefined) continue
    reqs.delete(ended[i])
    const [status, bytes] = [ended[i + 1], ended[i + 2]]
    setImmediate(() => {
      if (!req.callback) return
      if (status < 0) req.callback(new ExceptionWithHostPort(status, 'send', req.path))
      else req.callback(null, bytes)
    })
  }
  nextTick(() => this.emit('close'))
  return this
}

UnixSocket.prototype[Symbol.asyncDispose] = async function () {
  if (this[kState].handle === null) return
  await new Promise((resolve) => this.close(resolve))
}

function name (self, method, syscall) {
  const state = healthCheck(self)
  const out = {}
  const err = state.handle[method](out)
  if (err) throw new ErrnoException(err, syscall)
  return { address: out.address, family: 'unix' }
}

UnixSocket.prototype.address = function () {
  return name(this, 'getsockname', 'getsockname')
}

UnixSocket.prototype.remoteAddress = function () {
  const state = healthCheck(this)
  if (!state.connected) throw new ERR_SOCKET_DGRAM_NOT_CONNECTED()
  return name(this, 'getpeername', 'getpeername')
}

UnixSocket.prototype.ref = function () {
  this[kState].handle?.ref()
  return this
}

UnixSocket.prototype.unref = function () {
  this[kState].handle?.unref()
  return this
}

function bufferSize (self, size, recv) {
  if (size >>> 0 !== size || Object.is(size, -0)) throw new ERR_SOCKET_BAD_BUFFER_SIZE()
  const state = healthCheck(self)
  const ret = state.handle.bufferSize(size, recv)
  if (ret < 0) {
    throw new ERR_SOCKET_BUFFER_SIZE(uvExceptionContext(
      ret, recv ? 'uv_recv_buffer_size' : 'uv_send_buffer_size'))
  }
  return ret
}

UnixSocket.prototype.setRecvBufferSize = function (size) {
  bufferSize(this, size, true)
}

UnixSocket.prototype.setSendBufferSize = function (size) {
  bufferSize(this, size, false)
}

UnixSocket.prototype.getRecvBufferSize = function () {
  return bufferSize(this, 0, true)
}

UnixSocket.prototype.getSendBufferSize = function () {
  return bufferSize(this, 0, false)
}

UnixSocket.prototype.getSendQueueSize = function () {
  return this[kState].handle?.getSendQueueSize() ?? 0
}

UnixSocket.prototype.getSendQueueCount = function () {
  return this[kState].handle?.getSendQueueCount() ?? 0
}

// The UDP-only methods: a clear error naming the socket type.
for (const method of [
  'setBroadcast', 'setTTL', 'setMulticastTTL', 'setMulticastLoopback',
  'setMulticastInterface', 'addMembership', 'dropMembership',
  'addSourceSpecificMembership', 'dropSourceSpecificMembership', 'sendto',
  'sendBatch'
]) {
  UnixSocket.prototype[method] = function () {
    throw new ERR_SOCKET_UNSUPPORTED_FOR_TYPE(method, TYPE)
  }
}

module.exports = { UnixSocket }
