'use strict'

// require('dgram-rs/unix-dgram'): the unix-dgram package's API (v2.0.7) over
// dgram-rs's native UnixHandle, so that a program changes one require line.
// Its behaviour is kept as that package has it: bind, connect and send act
// at once and report synchronously ('listening', 'connect', 'error', the send
// callback); errors are `new Error(syscall + ' ' + errno)` with the negative
// errno as both `errno` and `code`; a connected send to a full receiver is
// NOT sent and reports congestion (callback(err) with err.code 1 and message
// 'congestion', else a 'congestion' event with the buffer), then 'writable'
// is emitted once the receiver has room again, for the caller to resend;
// rinfo is { size, address: {}, path } with path null for an unnamed or
// abstract sender. Receiving starts when the socket is created, which keeps
// the process alive until close().

const events = require('events')
const util = require('util')
const { UnixHandle } = require('./native.js')
const { datagramBuffer } = require('./staging.js')

const UV_EAGAIN = -11

function errnoException (errorno, syscall) {
  const e = new Error(syscall + ' ' + errorno)
  e.errno = e.code = errorno
  e.syscall = syscall
  return e
}

function internalError (code, msg) {
  const e = new Error(msg)
  e.code = code
  return e
}

exports.createSocket = function (type, listener) {
  // Loose comparisons, as the unix-dgram package makes them.
  // eslint-disable-next-line eqeqeq
  if (type == 'udp4' || type == 'udp6') { return require('..').createSocket(type, listener) }
  return new Socket(type, listener)
}

function Socket (type, listener) {
  // eslint-disable-next-line eqeqeq
  if (type != 'unix_dgram') { throw new Error('Unsupported socket type: ' + type) }
  const handle = new UnixHandle()
  const err = handle.open() || handle.recvStart(
    (buf, name) => {
      // A datagram comes as a number or an ArrayBuffer (lib/staging.js).
      buf = datagramBuffer(buf)
      this.emit('message', buf, {
        size: buf.length,
        address: {},
        path: name === '' || name[0] === '\0' ? null : name
      })
    },
    (errno) => this.emit('error', errnoException(errno, 'recv')),
    () => {},
    () => this.emit('writable')
  )
  if (err < 0) {
    handle.close()
    throw errnoException(err, 'socket')
  }
  this._handle = handle
  this.fd = handle.fd
  this.type = type
  if (typeof listener === 'function') { this.on('message', listener) }
}
util.inherits(Socket, events.EventEmitter)

Socket.prototype.bind = function (path) {
  const err = this._handle.bind(`${path}`)
  if (err < 0) { this.emit('error', errnoException(err, 'bind')) } else { this.emit('listening') }
}

Socket.prototype.connect = function (path) {
  const err = this._handle.connect(`${path}`)
  if (err < 0) {
    this.emit('error', errnoException(err, 'connect'))
  } else {
    this.connected = true
    this.emit('connect')
  }
}

Socket.prototype.send = function (buf, offset, length, path, callback) {
  let err
  if (this.connected) {
    err = this._handle.trySend(buf, null)
    callback = offset
    if (err === UV_EAGAIN) {
      this._handle.notifyWritable()
      err = 1
    }
  } else {
    err = this._handle.trySend(buf.subarray(offset, offset + length), `${path}`)
  }
  if (err > 1) err = 0 // Sent: the native answer is bytes + 1.
  if (typeof callback === 'function') {
    if (err < 0) {
      callback(errnoException(err, 'send'))
    } else if (err === 1) {
      callback(internalError(err, 'congestion'))
    } else {
      callback()
    }
  } else {
    if (err < 0) {
      this.emit('error', errnoException(err, 'send'))
    } else if (err === 1) {
      this.emit('congestion', buf)
    }
  }
}

// compatibility
Socket.prototype.sendto = function (buf, offset, length, path, callback) {
  return this.send(buf, offset, length, path, callback)
}

Socket.prototype.close = function () {
  if (this.fd === -1) { throw errnoException(-9, 'close') }
  this._handle.close()
  this.fd = -1
}

for (const method of ['address', 'setTTL', 'setBroadcast', 'setMulticastTTL',
  'setMulticastLoopback', 'addMembership', 'dropMembership']) {
  Socket.prototype[method] = function () {
    throw new Error('not implemented')
  }
}
