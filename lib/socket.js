// Copyright Joyent, Inc. and other Node contributors.
//
// Permission is hereby granted, free of charge, to any person obtaining a
// copy of this software and associated documentation files (the
// "Software"), to deal in the Software without restriction, including
// without limitation the rights to use, copy, modify, merge, publish,
// distribute, sublicense, and/or sell copies of the Software, and to permit
// persons to whom the Software is furnished to do so, subject to the
// following conditions:
//
// The above copyright notice and this permission notice shall be included
// in all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
// OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
// MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
// NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
// DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
// OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
// USE OR OTHER DEALINGS IN THE SOFTWARE.

'use strict'

// The Socket class: a port of Node 20's lib/dgram.js over the native
// UdpHandle (see lib/handle.js). The state machine, the pre-bind send queue,
// DNS lookup, validation, events and their ticks are Node's, line for line
// where possible. What changed:
// - primordials are plain JS;
// - async_hooks and the `owner` alias Node defines on
//   its C++ UDP wrap are dropped;
// - in a cluster worker, the primary's node:dgram creates the shared socket
//   and sends Node's own UDP handle: the native handle adopts a duplicate of
//   its descriptor, and the worker keeps the original until the socket
//   closes (closing it tells the primary), see lib/cluster-worker.js;
// - Node's SendWrap is a plain object, kept in a FIFO until the handle
//   completes a queued send;
// - from Node 22/23: the reusePort, receiveBlockList and sendBlockList
//   options;
// - where Node 20 aborts the process on a bad argument (a -0 buffer size, a
//   non-string address from a custom lookup on send), an error is reported.

const EventEmitter = require('events')
const dc = require('diagnostics_channel')
const udpSocketChannel = dc.channel('udp.socket')
const { cancelSends, doSend, flushSends, isBlocked, onSend, startBatch } = require('./send.js')
const { onBatch, onError, onMessage } = require('./receive.js')
const { copyLent, fixBufferList, sliceBuffer } = require('./buffers.js')
const { Buffer } = require('buffer')
const { isArrayBufferView } = require('util').types
const { deprecate, promisify } = require('util')
const {
  ErrnoException,
  ExceptionWithHostPort,
  uvExceptionContext,
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_INVALID_FD_TYPE,
    ERR_IP_BLOCKED,
    ERR_MISSING_ARGS,
    ERR_SOCKET_ALREADY_BOUND,
    ERR_SOCKET_BAD_BUFFER_SIZE,
    ERR_SOCKET_BUFFER_SIZE,
    ERR_SOCKET_DGRAM_IS_CONNECTED,
    ERR_SOCKET_DGRAM_NOT_CONNECTED,
    ERR_SOCKET_DGRAM_NOT_RUNNING
  }
} = require('./errors.js')
const {
  isIP,
  isInt32,
  validateAbortSignal,
  validateBlockList,
  validateFunction,
  validateNumber,
  validateObject,
  validatePort,
  validateString,
  validateUint32
} = require('./validators.js')
const {
  kOwner,
  kStateSymbol,
  bindHandle,
  guessHandleType,
  newHandle,
  recvStart,
  UV_UDP_IPV6ONLY,
  UV_UDP_REUSEADDR,
  UV_UDP_REUSEPORT
} = require('./handle.js')
// Loaded when first needed: a socket made without options, as most are, never needs them, and
// each module loaded costs a program's start-up (node:dgram comes from Node's snapshot).
let reuseport // lib/reuseport.js
let background // lib/background.js
let batchLib // lib/batch.js: receiveBatches and sendBatch()
let messages // lib/messages.js
const nodeVersion = require('./node-version.js')
const { nextTick } = require('./ticks.js')
const { closeTwin, makeSendable } = require('./child-handle.js')
const {
  applyControl,
  installControlMethods,
  validateControlOptions,
  validateSendControl
} = require('./control.js')

// Node 20 polyfills these two symbols; use the same ones it does.
const SymbolAsyncDispose = Symbol.asyncDispose || Symbol.for('nodejs.asyncDispose')
const SymbolDispose = Symbol.dispose || Symbol.for('nodejs.dispose')

const BIND_STATE_UNBOUND = 0
const BIND_STATE_BINDING = 1
const BIND_STATE_BOUND = 2

const CONNECT_STATE_DISCONNECTED = 0
const CONNECT_STATE_CONNECTING = 1
const CONNECT_STATE_CONNECTED = 2

const RECV_BUFFER = true
const SEND_BUFFER = false

// Node's --test-udp-no-try-send (for its own tests of the queue-info methods)
// makes every send wait in the queue until the loop finds the socket writable.
const kNoTrySend = process.execArgv.includes('--test-udp-no-try-send')

let addAbortListener // Lazily loaded: only sockets with a signal need it.

function Socket (type, listener) {
  EventEmitter.call(this)
  let lookup
  let recvBufferSize
  let sendBufferSize
  let receiveBlockList
  let sendBlockList
  let reusePortBalance
  let backgroundReceive
  let control
  let receiveBatches = false

  let options
  if (type !== null && typeof type === 'object') {
    options = type
    type = options.type
    lookup = options.lookup
    if (options.recvBufferSize) {
      validateUint32(options.recvBufferSize, 'options.recvBufferSize')
    }
    if (options.sendBufferSize) {
      validateUint32(options.sendBufferSize, 'options.sendBufferSize')
    }
    recvBufferSize = options.recvBufferSize
    sendBufferSize = options.sendBufferSize
    // Node 22.13+ / 23.4+.
    if (options.receiveBlockList) {
      validateBlockList(options.receiveBlockList, 'options.receiveBlockList')
      receiveBlockList = options.receiveBlockList
    }
    if (options.sendBlockList) {
      validateBlockList(options.sendBlockList, 'options.sendBlockList')
      sendBlockList = options.sendBlockList
    }
    // dgram-rs's options, each read once; the module that validates one is
    // loaded only where it is given.
    // dgram-rs: spread a reusePort group evenly (lib/reuseport.js).
    const balance = options.reusePortBalance
    if (balance !== undefined) {
      reuseport ??= require('./reuseport.js')
      reusePortBalance = reuseport.validateReusePortBalance(options, balance)
    }
    // dgram-rs: read on a runtime thread into a bounded inbox (lib/background.js).
    const inbox = options.backgroundReceive
    if (inbox !== undefined && inbox !== false) {
      background ??= require('./background.js')
      backgroundReceive = background.validateBackgroundReceive(options, inbox)
    }
    // dgram-rs: receiveInfo, maxMessageSize, receiveErrors (lib/control.js).
    control = validateControlOptions(options)
    // dgram-rs: 'messages' (or 'segments') per read instead of 'message' (lib/batch.js).
    const batches = options.receiveBatches
    if (batches !== undefined) {
      batchLib ??= require('./batch.js')
      receiveBatches = batchLib.validateReceiveBatches(options, batches)
    }
  }

  const handle = newHandle(type, lookup)
  handle[kOwner] = this
  if (kNoTrySend) { handle.setQueueEverySend(true) }
  // Receiving sets its own handlers when it starts (startReceiving).
  handle.onsend = onSend

  this.type = type

  if (typeof listener === 'function') { this.on('message', listener) }

  this[kStateSymbol] = {
    handle,
    receiving: false,
    bindState: BIND_STATE_UNBOUND,
    connectState: CONNECT_STATE_DISCONNECTED,
    queue: undefined,
    reuseAddr: options && options.reuseAddr, // Use UV_UDP_REUSEADDR if true.
    reusePort: options && options.reusePort, // Node 22.12+ / 23.1+.
    // getStats() after close(): the closed handle keeps the figures it had at closing.
    closedHandle: undefined,
    ipv6Only: options && options.ipv6Only,
    recvBufferSize,
    sendBufferSize,
    // Every send is a request with an id the handle gives back with its
    // result. Requests with datagrams still queued in the handle, by id: the
    // handle completes each datagram through onsend(id, status, bytes).
    // Made on first use, as is `gathered`: a socket per query never needs them.
    nextSendId: 0,
    sendReqs: undefined,
    // Lookups of send() not answered yet, and the request of each datagram
    // gathered in the handle while they are outstanding, in order (see
    // gatherSend): undefined when none are.
    lookups: 0,
    gathered: undefined,
    flushScheduled: false
  }
  // The block lists (Node 22.13+ / 23.4+) and dgram-rs's options, on the state only where
  // given (undefined otherwise): every property of the state costs every socket 8 bytes, and
  // 10,000 idle sockets took more memory than node:dgram's. reusePortBalance
  // (lib/reuseport.js); backgroundReceive (lib/background.js); control (lib/control.js);
  // receiveBatches (lib/batch.js): 'messages' per read, with 'zero-copy' lent for the
  // listeners' duration only, or 'segments', lent runs of equal-size datagrams.
  const state = this[kStateSymbol]
  if (receiveBlockList !== undefined) state.receiveBlockList = receiveBlockList
  if (sendBlockList !== undefined) state.sendBlockList = sendBlockList
  if (reusePortBalance !== undefined) state.reusePortBalance = reusePortBalance
  if (backgroundReceive !== undefined) state.backgroundReceive = backgroundReceive
  if (control !== undefined) state.control = control
  if (receiveBatches !== false) state.receiveBatches = receiveBatches

  if (options?.signal !== undefined) {
    const { signal } = options
    validateAbortSignal(signal, 'options.signal')
    const onAborted = () => {
      if (this[kStateSymbol].handle) this.close()
    }
    if (signal.aborted) {
      onAborted()
    } else {
      addAbortListener ??= require('events').addAbortListener
      const disposable = addAbortListener(signal, onAborted)
      this.once('close', disposable[SymbolDispose])
    }
  }
  if (udpSocketChannel.hasSubscribers) {
    udpSocketChannel.publish({
      socket: this
    })
  }
}
// Inherits from node:dgram's Socket (an EventEmitter), as Node's child_process
// wants of a socket it sends to a child (lib/child-handle.js).
makeSendable(Socket, (socket) => socket[kStateSymbol].handle)

let UnixSocket // Lazily loaded: only 'unix_dgram' sockets need it.

function createSocket (type, listener) {
  // dgram-rs: Unix datagram sockets (lib/unix-socket.js).
  if (type === 'unix_dgram' || (type !== null && typeof type === 'object' && type.type === 'unix_dgram')) {
    UnixSocket ??= require('./unix-socket.js').UnixSocket
    return new UnixSocket(type, listener)
  }
  return new Socket(type, listener)
}

function startReceiving (socket) {
  const state = socket[kStateSymbol]

  state.handle.onmessage = onMessage
  state.handle.onerror = onError
  // onbatch only where batches come (a property fewer on every other handle).
  if (state.receiveBatches) {
    state.handle.onbatch = onBatch
    state.handle.setBatchReceive(true, state.receiveBatches !== true)
  }
  if (state.backgroundReceive !== undefined) { state.handle.setBackgroundReceive(state.backgroundReceive) }
  if (state.control) {
    const err = applyControl(socket, state.handle, state.control)
    if (err) { nextTick(() => socket.emit('error', new ErrnoException(err, 'setsockopt'))) }
  }
  recvStart(state.handle)
  state.receiving = true
  state.bindState = BIND_STATE_BOUND

  if (state.recvBufferSize) { bufferSize(socket, state.recvBufferSize, RECV_BUFFER) }

  if (state.sendBufferSize) { bufferSize(socket, state.sendBufferSize, SEND_BUFFER) }
}

function startListening (socket) {
  startReceiving(socket)
  socket.emit('listening')
}

// bindSync() and connectSync() emit on the next tick, unless closed by then.
function emitListeningNT (socket) {
  if (socket[kStateSymbol].handle) { socket.emit('listening') }
}

function emitConnectNT (socket) {
  if (socket[kStateSymbol].handle) { socket.emit('connect') }
}

function replaceHandle (self, newHandle) {
  const state = self[kStateSymbol]
  const oldHandle = state.handle
  // Sync the old handle state to new handle
  if (!oldHandle.hasRef() && typeof newHandle.unref === 'function') {
    newHandle.unref()
  }
  newHandle.lookup = oldHandle.lookup
  newHandle.onsend = onSend
  newHandle[kOwner] = self

  // Replace the existing handle by the given one.
  oldHandle.close()
  state.handle = newHandle
}

// A cluster worker's bind without `exclusive` asks the primary for the shared
// socket (lib/cluster-worker.js, loaded only then).
//
// node:dgram's bind() requires 'cluster' to ask, which loads child_process,
// net and Node's streams: about 5 ms of a fresh process's start. Asked
// before cluster is loaded, the answer can only be no: cluster.isWorker is
// whether NODE_UNIQUE_ID was in process.env when cluster was first required,
// and a cluster worker's Node requires it while starting (then deletes the
// variable). So cluster is loaded here only where it already is, or where
// NODE_UNIQUE_ID would make it the worker's, or where Node does not list its
// loaded modules.
//
// The answer is kept from the first bind on, as node:dgram's is: its first
// bind loads cluster, which fixes isWorker for the life of the process. So a
// socket per query reads neither process.env nor the module list again, and a
// program that sets NODE_UNIQUE_ID after its first bind still binds alone.
let clusterWorker // Unset until the first bind asks.
function isClusterWorker () {
  if (clusterWorker === undefined) {
    const loaded = process.moduleLoadList
    clusterWorker = Array.isArray(loaded) && !Object.hasOwn(process.env, 'NODE_UNIQUE_ID') &&
      !loaded.includes('NativeModule cluster')
      ? false
      : require('cluster').isWorker
  }
  return clusterWorker
}

function bindServerHandle (self, options, errCb) {
  require('./cluster-worker.js').bindServerHandle(self, options, errCb, startListening)
}

function bufferSize (self, size, buffer) {
  if (size >>> 0 !== size) { throw new ERR_SOCKET_BAD_BUFFER_SIZE() }

  // Closed, the handle is null and the call below throws its TypeError, for
  // every size. Open, Node 20 lets -0 through the test above and then aborts
  // the process in C++ (CHECK(args[0]->IsUint32())): reject it with the same
  // error as -1 instead.
  const { handle } = self[kStateSymbol]
  if (handle !== null && Object.is(size, -0)) { throw new ERR_SOCKET_BAD_BUFFER_SIZE() }

  const ret = handle.bufferSize(size, buffer)
  if (ret < 0) {
    throw new ERR_SOCKET_BUFFER_SIZE(uvExceptionContext(
      ret, buffer === RECV_BUFFER ? 'uv_recv_buffer_size' : 'uv_send_buffer_size'))
  }
  return ret
}

// What bind(port, callback) waits on for a failure: Node 24.21+ / 26.8+ an
// errorMonitor, so that a failed bind with no 'error' listener of the user's
// throws as any unhandled 'error' does; before, an 'error' listener, which
// swallows it.
const kBindErrorEvent = nodeVersion.bindErrorMonitor ? EventEmitter.errorMonitor : 'error'

Socket.prototype.bind = function (port_, address_ /* , callback */) {
  let port = port_

  healthCheck(this)
  const state = this[kStateSymbol]

  if (state.bindState !== BIND_STATE_UNBOUND) { throw new ERR_SOCKET_ALREADY_BOUND() }

  state.bindState = BIND_STATE_BINDING

  const cb = arguments.length && arguments[arguments.length - 1]
  if (typeof cb === 'function') {
    function removeListeners () {
      this.removeListener(kBindErrorEvent, removeListeners)
      this.removeListener('listening', onListening)
    }

    function onListening () {
      removeListeners.call(this)
      cb.call(this)
    }

    this.on(kBindErrorEvent, removeListeners)
    this.on('listening', onListening)
  }

  // A handle made by dgram._createSocketHandle().
  if (port !== null &&
      typeof port === 'object' &&
      typeof port.recvStart === 'function') {
    replaceHandle(this, port)
    startListening(this)
    return this
  }

  // Open an existing fd instead of creating a new one.
  if (port !== null && typeof port === 'object' &&
      isInt32(port.fd) && port.fd > 0) {
    const fd = port.fd
    const exclusive = !!port.exclusive
    const state = this[kStateSymbol]

    if (isClusterWorker() && !exclusive) {
      bindServerHandle(this, {
        address: null,
        port: null,
        addressType: this.type,
        fd,
        flags: null
      }, (err) => {
        // Callback to handle error.
        const ex = new ErrnoException(err, 'open')
        state.bindState = BIND_STATE_UNBOUND
        this.emit('error', ex)
      })
      return this
    }

    const type = guessHandleType(fd)
    if (type !== 'UDP') { throw new ERR_INVALID_FD_TYPE(type) }
    const err = state.handle.open(fd)

    if (err) { throw new ErrnoException(err, 'open') }

    startListening(this)
    return this
  }

  let address
  let exclusive

  if (port !== null && typeof port === 'object') {
    address = port.address || ''
    exclusive = !!port.exclusive
    port = port.port
  } else {
    address = typeof address_ === 'function' ? '' : address_
    exclusive = false
  }

  // Defaulting address for bind to all interfaces
  if (!address) {
    if (this.type === 'udp4') { address = '0.0.0.0' } else { address = '::' }
  }

  // Resolve address first
  state.handle.lookup(address, (err, ip) => {
    if (!state.handle) { return } // Handle has been closed in the mean time

    if (err) {
      state.bindState = BIND_STATE_UNBOUND
      this.emit('error', err)
      return
    }

    const flags = bindFlags(state)

    if (isClusterWorker() && !exclusive) {
      bindServerHandle(this, {
        address: ip,
        port,
        addressType: this.type,
        fd: -1,
        flags
      }, (err) => {
        // Callback to handle error.
        const ex = new ExceptionWithHostPort(err, 'bind', ip, port)
        state.bindState = BIND_STATE_UNBOUND
        this.emit('error', ex)
      })
      return
    }

    const ex = bindBalanced(state, ip, port, flags)
    if (ex) {
      state.bindState = BIND_STATE_UNBOUND
      this.emit('error', ex)
      return
    }

    startListening(this)
  })

  return this
}

// The flags bind(2) is asked with, from the socket's options.
function bindFlags (state) {
  return (state.reuseAddr ? UV_UDP_REUSEADDR : 0) |
    (state.ipv6Only ? UV_UDP_IPV6ONLY : 0) |
    (state.reusePort ? UV_UDP_REUSEPORT : 0)
}

// Binds the handle, then spreads its reusePort group as asked
// (lib/reuseport.js): the error, if one of them failed.
function bindBalanced (state, ip, port, flags) {
  let syscall = 'bind'
  let err = bindHandle(state.handle, ip, port || 0, flags)
  if (!err && state.reusePortBalance) {
    syscall = 'setsockopt'
    err = reuseport.applyReusePortBalance(state.handle, state.reusePortBalance)
  }
  return err ? new ExceptionWithHostPort(err, syscall, ip, port) : null
}

Socket.prototype.connect = function (port, address, callback) {
  port = validatePort(port, 'Port', false)
  if (typeof address === 'function') {
    callback = address
    address = ''
  } else if (address === undefined) {
    address = ''
  }

  validateString(address, 'address')

  const state = this[kStateSymbol]

  if (state.connectState !== CONNECT_STATE_DISCONNECTED) { throw new ERR_SOCKET_DGRAM_IS_CONNECTED() }

  state.connectState = CONNECT_STATE_CONNECTING
  if (state.bindState === BIND_STATE_UNBOUND) { this.bind({ port: 0, exclusive: true }, null) }

  if (state.bindState !== BIND_STATE_BOUND) {
    enqueue(this, _connect.bind(this, port, address, callback))
    return
  }

  _connect.call(this, port, address, callback)
}

// Node 24.19+ / 26.4+: bind() and connect() done at once. bind(2) and a UDP
// connect(2) are local and do not block; only a name lookup would, so both
// take IP literals only. 'listening' and 'connect' come on the next tick.
function bindSync (options = {}) {
  healthCheck(this)
  validateObject(options, 'options')
  const state = this[kStateSymbol]

  if (state.bindState !== BIND_STATE_UNBOUND) { throw new ERR_SOCKET_ALREADY_BOUND() }

  // Validated before the state changes: a bad argument leaves the socket
  // unbound and usable.
  const port = validatePort(options.port ?? 0, 'options.port')
  let { address } = options
  if (!address) {
    address = this.type === 'udp4' ? '0.0.0.0' : '::'
  } else {
    validateString(address, 'options.address')
    if (isIP(address) === 0) {
      throw new ERR_INVALID_ARG_VALUE('options.address', address,
        'must be a numeric IP address; bindSync does not perform DNS resolution')
    }
  }

  state.bindState = BIND_STATE_BINDING

  const ex = bindBalanced(state, address, port, bindFlags(state))
  if (ex) {
    state.bindState = BIND_STATE_UNBOUND
    throw ex
  }

  startReceiving(this)
  nextTick(emitListeningNT, this)
  return this.address()
}

function connectSync (port, address) {
  healthCheck(this)
  port = validatePort(port, 'Port', false)

  const state = this[kStateSymbol]

  if (state.connectState !== CONNECT_STATE_DISCONNECTED) { throw new ERR_SOCKET_DGRAM_IS_CONNECTED() }

  if (address == null || address === '') {
    address = this.type === 'udp4' ? '127.0.0.1' : '::1'
  } else {
    validateString(address, 'address')
    if (isIP(address) === 0) {
      throw new ERR_INVALID_ARG_VALUE('address', address,
        'must be a numeric IP address; connectSync does not perform DNS resolution')
    }
  }

  if (state.bindState === BIND_STATE_UNBOUND) {
    this.bindSync()
  } else if (state.bindState !== BIND_STATE_BOUND) {
    throw new ERR_SOCKET_ALREADY_BOUND()
  }

  state.connectState = CONNECT_STATE_CONNECTING

  if (isBlocked(state.sendBlockList, address)) {
    state.connectState = CONNECT_STATE_DISCONNECTED
    throw new ERR_IP_BLOCKED(address)
  }

  const err = state.handle.connect(address, port)
  if (err) {
    state.connectState = CONNECT_STATE_DISCONNECTED
    throw new ExceptionWithHostPort(err, 'connect', address, port)
  }

  state.connectState = CONNECT_STATE_CONNECTED
  nextTick(emitConnectNT, this)
}

if (nodeVersion.syncMethods) {
  Socket.prototype.bindSync = bindSync
  Socket.prototype.connectSync = connectSync
}

function _connect (port, address, callback) {
  const state = this[kStateSymbol]
  if (callback) { this.once('connect', callback) }

  const afterDns = (ex, ip) => {
    doConnect(ex, this, ip, address, port, callback)
  }

  state.handle.lookup(address, afterDns)
}

function doConnect (ex, self, ip, address, port, callback) {
  const state = self[kStateSymbol]
  if (!state.handle) { return }

  if (!ex && isBlocked(state.sendBlockList, ip)) {
    ex = new ERR_IP_BLOCKED(ip)
  }

  if (!ex) {
    // Node's C++ converts the address with ToString.
    const err = state.handle.connect(`${ip}`, port)
    if (err) {
      ex = new ExceptionWithHostPort(err, 'connect', address, port)
    }
  }

  if (ex) {
    state.connectState = CONNECT_STATE_DISCONNECTED
    return nextTick(() => {
      if (callback) {
        self.removeListener('connect', callback)
        callback(ex)
      } else {
        self.emit('error', ex)
      }
    })
  }

  state.connectState = CONNECT_STATE_CONNECTED
  nextTick(() => self.emit('connect'))
}

Socket.prototype.disconnect = function () {
  const state = this[kStateSymbol]
  if (state.connectState !== CONNECT_STATE_CONNECTED) { throw new ERR_SOCKET_DGRAM_NOT_CONNECTED() }

  const err = state.handle.disconnect()
  if (err) { throw new ErrnoException(err, 'connect') } else { state.connectState = CONNECT_STATE_DISCONNECTED }
}

// Thin wrapper around `send`, here for compatibility with dgram_legacy.js
Socket.prototype.sendto = function (buffer,
  offset,
  length,
  port,
  address,
  callback) {
  validateNumber(offset, 'offset')
  validateNumber(length, 'length')
  validateNumber(port, 'port')
  validateString(address, 'address')

  this.send(buffer, offset, length, port, address, callback)
}

function enqueue (self, toEnqueue) {
  const state = self[kStateSymbol]

  // If the send queue hasn't been initialized yet, do it, and install an
  // event handler that flushes the send queue after binding is done.
  if (state.queue === undefined) {
    state.queue = []
    self.once(EventEmitter.errorMonitor, onListenError)
    self.once('listening', onListenSuccess)
  }
  state.queue.push(toEnqueue)
}

function onListenSuccess () {
  this.removeListener(EventEmitter.errorMonitor, onListenError)
  clearQueue.call(this)
}

// The error itself goes to the 'error' listeners; here only the queue is dropped.
function onListenError () {
  this.removeListener('listening', onListenSuccess)
  this[kStateSymbol].queue = undefined
}

function clearQueue () {
  const state = this[kStateSymbol]
  const queue = state.queue
  state.queue = undefined

  // Flush the send queue.
  for (const queueEntry of queue) { queueEntry() }
}

// valid combinations
// For connectionless sockets
// send(buffer, offset, length, port, address, callback)
// send(buffer, offset, length, port, address)
// send(buffer, offset, length, port, callback)
// send(buffer, offset, length, port)
// send(bufferOrList, port, address, callback)
// send(bufferOrList, port, address)
// send(bufferOrList, port, callback)
// send(bufferOrList, port)
// For connected sockets
// send(buffer, offset, length, callback)
// send(buffer, offset, length)
// send(bufferOrList, callback)
// send(bufferOrList)
Socket.prototype.send = function (buffer,
  offset,
  length,
  port,
  address,
  callback) {
  return send(this, undefined, buffer, offset, length, port, address, callback)
}

// dgram-rs: sendWithOptions(msg, { port, address, tos, sourceAddress }[,
// callback]), connected: sendWithOptions(msg, { tos, sourceAddress }[,
// callback]) (lib/control.js). A method of its own, not a form of send():
// node:dgram gives an object in send()'s second place a meaning (a bad port,
// or, connected, an ignored callback), and may one day give it another.
Socket.prototype.sendWithOptions = function (msg, options, callback) {
  validateObject(options, 'options')
  const control = validateSendControl(options, this.type === 'udp4' ? 4 : 6)
  if (callback !== undefined) { validateFunction(callback, 'callback') }
  if (this[kStateSymbol].connectState === CONNECT_STATE_CONNECTED) {
    if (options.port !== undefined || options.address !== undefined) { throw new ERR_SOCKET_DGRAM_IS_CONNECTED() }
    return send(this, control, msg, callback)
  }
  const port = validatePort(options.port, 'options.port', false)
  if (options.address != null) { validateString(options.address, 'options.address') }
  return send(this, control, msg, port, options.address, callback)
}

// Both: `control` is sendWithOptions's (undefined for send()).
// dgram-rs: sendBatch(messages, port[, address][, callback]),
// sendBatch(buffer, segmentSize, port[, address][, callback]) and, connected,
// without port and address (lib/batch.js): send()'s state machine, pre-bind
// queue and lookup, for many datagrams at once.
// The arguments are named, not gathered (...rest): a batch of 64 datagrams
// is one call, whose own cost shows.
Socket.prototype.sendBatch = function (messages, a, b, c, d) {
  batchLib ??= require('./batch.js')
  if (isArrayBufferView(messages)) sendBatch(this, batchLib.batchBuffer(messages, a), b, c, d)
  else sendBatch(this, batchLib.batchList(messages), a, b, c)
}

// (port[, address][, callback]), or connected ([callback]).
function sendBatch (self, batch, a, b, c) {
  const state = self[kStateSymbol]
  const connected = state.connectState === CONNECT_STATE_CONNECTED
  const { port, address, callback } = batchLib.batchDestination(connected, a, b, c)
  healthCheck(self)

  if (state.bindState === BIND_STATE_UNBOUND) { self.bind({ port: 0, exclusive: true }, null) }
  if (state.bindState !== BIND_STATE_BOUND) {
    enqueue(self, () => connected
      ? sendBatch(self, batch, callback)
      : sendBatch(self, batch, port, address, callback))
    return
  }
  const afterLookup = (ex, ip) => startBatch(self, batch, connected, port, address, callback, ex, ip)
  if (connected) afterLookup(null, null)
  else state.handle.lookup(address, afterLookup)
}

function send (self, control, buffer, offset, length, port, address, callback) {
  let list
  const state = self[kStateSymbol]
  const connected = state.connectState === CONNECT_STATE_CONNECTED
  if (!connected) {
    if (address || (port && typeof port !== 'function')) {
      buffer = sliceBuffer(buffer, offset, length)
    } else {
      callback = port
      port = offset
      address = length
    }
  } else {
    if (typeof length === 'number') {
      buffer = sliceBuffer(buffer, offset, length)
      if (typeof port === 'function') {
        callback = port
        port = null
      }
    } else {
      callback = offset
    }

    if (port || address) { throw new ERR_SOCKET_DGRAM_IS_CONNECTED() }
  }

  if (!Array.isArray(buffer)) {
    if (typeof buffer === 'string') {
      list = [Buffer.from(buffer)]
    } else if (!isArrayBufferView(buffer)) {
      throw new ERR_INVALID_ARG_TYPE('buffer',
        ['Buffer',
          'TypedArray',
          'DataView',
          'string'],
        buffer)
    } else if (buffer instanceof Uint8Array) {
      list = [buffer]
    } else {
      // The native handle takes byte views; Node's C++ takes any view.
      list = [Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)]
    }
  } else if (!(list = fixBufferList(buffer))) {
    throw new ERR_INVALID_ARG_TYPE('buffer list arguments',
      ['Buffer',
        'TypedArray',
        'DataView',
        'string'],
      buffer)
  }

  if (!connected) { port = validatePort(port, 'Port', false) }

  // Normalize callback so it's either a function or undefined but not anything
  // else.
  if (typeof callback !== 'function') { callback = undefined }

  if (typeof address === 'function') {
    callback = address
    address = undefined
  } else if (address != null) {
    validateString(address, 'address')
  }

  healthCheck(self)

  if (state.bindState === BIND_STATE_UNBOUND) { self.bind({ port: 0, exclusive: true }, null) }

  if (list.length === 0) { list.push(Buffer.alloc(0)) }
  copyLent(list)

  // If the socket hasn't been bound yet, push the outbound packet onto the
  // send queue and send after binding is complete.
  if (state.bindState !== BIND_STATE_BOUND) {
    enqueue(self, control
      ? send.bind(undefined, self, control, list, port, address, callback)
      : self.send.bind(self, list, port, address, callback))
    return
  }

  // Lookups still to answer: the last one of a tick flushes the sends gathered meanwhile
  // (see gatherSend).
  state.lookups++
  const afterDns = (ex, ip) => {
    state.lookups--
    doSend(ex, self, ip, list, address, port, callback, control)
    if (state.lookups === 0 && state.gathered !== undefined) { flushSends(self) }
  }

  if (!connected) {
    try {
      state.handle.lookup(address, afterDns)
    } catch (err) {
      // A custom lookup that throws never answers: it must not hold back
      // the sends gathered after it.
      state.lookups--
      throw err
    }
  } else {
    afterDns(null, null)
  }
}

Socket.prototype.close = function (callback) {
  const state = this[kStateSymbol]
  const queue = state.queue

  if (typeof callback === 'function') { this.on('close', callback) }

  if (queue !== undefined) {
    queue.push(this.close.bind(this))
    return this
  }

  healthCheck(this)
  // Sends this tick already made leave before the socket closes, as with
  // node:dgram, where each was sent when it was made.
  flushSends(this)
  // Closing the handle stops its reading and keeps its final statistics.
  state.receiving = false
  const cancelled = state.handle.close()
  state.closedHandle = state.handle
  state.handle = null
  // The node:dgram handle a send to a child process made (lib/child-handle.js).
  closeTwin(this)
  // A cluster worker's shared socket: closing the primary's handle tells it.
  if (state.clusterHandle !== undefined) {
    state.clusterHandle.close()
    state.clusterHandle = undefined
  }
  nextTick(socketCloseNT, this)
  cancelSends(state, cancelled)

  return this
}

Socket.prototype[SymbolAsyncDispose] = async function () {
  if (!this[kStateSymbol].handle) {
    return
  }
  return promisify(this.close).call(this)
}

function socketCloseNT (self) {
  self.emit('close')
}

Socket.prototype.address = function () {
  healthCheck(this)

  // Pre-seeded so that the keys come in Node's order whatever order the
  // native side fills them in.
  const out = { address: undefined, family: undefined, port: undefined }
  const err = this[kStateSymbol].handle.getsockname(out)
  if (err) {
    throw new ErrnoException(err, 'getsockname')
  }

  return out
}

Socket.prototype.remoteAddress = function () {
  healthCheck(this)

  const state = this[kStateSymbol]
  if (state.connectState !== CONNECT_STATE_CONNECTED) { throw new ERR_SOCKET_DGRAM_NOT_CONNECTED() }

  const out = { address: undefined, family: undefined, port: undefined }
  const err = state.handle.getpeername(out)
  if (err) { throw new ErrnoException(err, 'getpeername') }

  return out
}

// The handle's setters and membership calls are named like the socket's, and
// so is the syscall of the error each reports.
function callHandle (self, method, ...args) {
  const err = self[kStateSymbol].handle[method](...args)
  if (err) { throw new ErrnoException(err, method) }
}

Socket.prototype.setBroadcast = function (arg) {
  callHandle(this, 'setBroadcast', !!arg)
}

// dgram-rs: setTOS, getTOS, setDontFragment, getPathMTU, getStats (lib/control.js).
installControlMethods(Socket.prototype)

// Node's C++ takes a TTL with ToInt32 (`| 0`): 1.5 is 1, NaN is 0.
Socket.prototype.setTTL = function (ttl) {
  validateNumber(ttl, 'ttl')
  callHandle(this, 'setTTL', ttl | 0)
  return ttl
}

Socket.prototype.setMulticastTTL = function (ttl) {
  validateNumber(ttl, 'ttl')
  callHandle(this, 'setMulticastTTL', ttl | 0)
  return ttl
}

Socket.prototype.setMulticastLoopback = function (arg) {
  callHandle(this, 'setMulticastLoopback', !!arg)
  return arg // 0.4 compatibility
}

Socket.prototype.setMulticastInterface = function (interfaceAddress) {
  healthCheck(this)
  validateString(interfaceAddress, 'interfaceAddress')

  callHandle(this, 'setMulticastInterface', interfaceAddress)
}

// Node's C++ converts addresses with ToString (a Symbol throws a TypeError)
// and takes an undefined or null interface as "any".
function toAddress (value) {
  return `${value}`
}

function toInterface (value) {
  return value === undefined || value === null ? null : `${value}`
}

function membership (self, method, multicastAddress, interfaceAddress) {
  healthCheck(self)

  if (!multicastAddress) {
    throw new ERR_MISSING_ARGS('multicastAddress')
  }

  callHandle(self, method, toAddress(multicastAddress), toInterface(interfaceAddress))
}

function sourceSpecificMembership (self, method, sourceAddress, groupAddress,
  interfaceAddress) {
  healthCheck(self)

  validateString(sourceAddress, 'sourceAddress')
  validateString(groupAddress, 'groupAddress')

  callHandle(self, method, sourceAddress, groupAddress, toInterface(interfaceAddress))
}

Socket.prototype.addMembership = function (multicastAddress, interfaceAddress) {
  membership(this, 'addMembership', multicastAddress, interfaceAddress)
}

Socket.prototype.dropMembership = function (multicastAddress, interfaceAddress) {
  membership(this, 'dropMembership', multicastAddress, interfaceAddress)
}

Socket.prototype.addSourceSpecificMembership = function (sourceAddress,
  groupAddress,
  interfaceAddress) {
  sourceSpecificMembership(this, 'addSourceSpecificMembership', sourceAddress,
    groupAddress, interfaceAddress)
}

Socket.prototype.dropSourceSpecificMembership = function (sourceAddress,
  groupAddress,
  interfaceAddress) {
  sourceSpecificMembership(this, 'dropSourceSpecificMembership', sourceAddress,
    groupAddress, interfaceAddress)
}

function healthCheck (socket) {
  if (!socket[kStateSymbol].handle) {
    // Error message from dgram_legacy.js.
    throw new ERR_SOCKET_DGRAM_NOT_RUNNING()
  }
}

function stopReceiving (socket) {
  const state = socket[kStateSymbol]

  if (!state.receiving) { return }

  state.handle.recvStop()
  state.receiving = false
}

Socket.prototype.ref = function () {
  const handle = this[kStateSymbol].handle

  if (handle) { handle.ref() }

  return this
}

Socket.prototype.unref = function () {
  const handle = this[kStateSymbol].handle

  if (handle) { handle.unref() }

  return this
}

Socket.prototype.setRecvBufferSize = function (size) {
  bufferSize(this, size, RECV_BUFFER)
}

Socket.prototype.setSendBufferSize = function (size) {
  bufferSize(this, size, SEND_BUFFER)
}

Socket.prototype.getRecvBufferSize = function () {
  return bufferSize(this, 0, RECV_BUFFER)
}

Socket.prototype.getSendBufferSize = function () {
  return bufferSize(this, 0, SEND_BUFFER)
}

// dgram-rs: the datagrams as an async iterator (lib/messages.js).
Socket.prototype.messages = function (options) {
  messages ??= require('./messages.js')
  return messages.createMessages(this, options, iteratorControl)
}

Socket.prototype[Symbol.asyncIterator] = function () { return Socket.prototype.messages.call(this) }

const iteratorControl = {
  setPaused (self, paused) {
    const { handle } = self[kStateSymbol]
    if (handle) { handle.setPaused(paused) }
  },
  isClosed (self) {
    return self[kStateSymbol].closedHandle !== undefined
  }
}

Socket.prototype.getSendQueueSize = function () {
  return this[kStateSymbol].handle.getSendQueueSize()
}

Socket.prototype.getSendQueueCount = function () {
  return this[kStateSymbol].handle.getSendQueueCount()
}

// Deprecated private APIs: accessors of the socket's state (DEP0112),
// removed in Node 25.
if (nodeVersion.deprecatedPrivates) {
  installDeprecatedPrivates()
}

function installDeprecatedPrivates () {
  for (const [name, key] of [
    ['_handle', 'handle'],
    ['_receiving', 'receiving'],
    ['_bindState', 'bindState'],
    ['_queue', 'queue'],
    ['_reuseAddr', 'reuseAddr']
  ]) {
    Object.defineProperty(Socket.prototype, name, {
      __proto__: null,
      get: deprecate(function () {
        return this[kStateSymbol][key]
      }, `Socket.prototype.${name} is deprecated`, 'DEP0112'),
      set: deprecate(function (val) {
        this[kStateSymbol][key] = val
      }, `Socket.prototype.${name} is deprecated`, 'DEP0112')
    })
  }

  Socket.prototype._healthCheck = deprecate(function () {
    healthCheck(this)
  }, 'Socket.prototype._healthCheck() is deprecated', 'DEP0112')

  Socket.prototype._stopReceiving = deprecate(function () {
    stopReceiving(this)
  }, 'Socket.prototype._stopReceiving() is deprecated', 'DEP0112')
}

module.exports = {
  createSocket,
  Socket
}
