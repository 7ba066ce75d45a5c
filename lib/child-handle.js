'use strict'

// Sending a socket to a child process: subprocess.send(message, socket) (and a worker's
// process.send) accepts a node:dgram socket; the child gets a node:dgram socket bound to the same
// port. Node's child_process takes a socket that is `instanceof` node:dgram's Socket (so
// lib/socket.js's Socket inherits from it), and sends `socket[kStateSymbol].handle`, reading
// node:dgram's own state symbol: it must be one of Node's UDP handles, since Node passes the
// descriptor of the handle it is given (a C++ HandleWrap) and nothing else.
//
// So a socket answers that symbol with the state of a node:dgram socket of its own (its "twin"):
// Node's UDP handle over a duplicate of the socket's descriptor, made on first use, never
// receiving (the descriptor's datagrams stay with the dgram-rs socket), closed when the socket
// closes. The parent keeps its socket, as with node:dgram.
//
// node:dgram's state symbol is not exported: it is the first symbol node:dgram's own ref() reads
// from a socket, learnt once from a stand-in that records property reads (no socket is made).

const nodeDgram = require('dgram')
const { nextTick } = require('./ticks.js')

function learnStateSymbol () {
  let key
  const standIn = new Proxy({}, {
    get (target, name) {
      if (key === undefined && typeof name === 'symbol') key = name
      return undefined
    }
  })
  try {
    nodeDgram.Socket.prototype.ref.call(standIn)
  } catch {}
  return key !== undefined && key.description === 'state symbol' ? key : undefined
}

// socket -> its twin (a node:dgram Socket), while the socket is open.
const twins = new WeakMap()
let anyTwin = false

// { handle }: the twin's handle. A socket with no descriptor yet (unbound) gets a node:dgram
// handle with none either, for this one use, as node:dgram's own: Node's send then fails with
// EBADF, as it does there. A closed socket has none (node:dgram's handle is null then too).
// Only the handle: a node:dgram method this Socket does not define itself (one a newer Node
// adds) finds no bind or connect state there, and throws instead of acting on the twin.
function twinState (socket, handle) {
  return { handle: twinHandle(socket, handle) }
}

function twinHandle (socket, handle) {
  let twin = twins.get(socket)
  if (twin === undefined) {
    if (!handle) return null
    const fd = handle.dupFd()
    const spare = nodeDgram.createSocket(socket.type)
    if (fd < 0) {
      nextTick(() => spare.close())
      return spare[nodeState].handle
    }
    const err = spare[nodeState].handle.open(fd)
    if (err) {
      nextTick(() => spare.close())
      require('fs').closeSync(fd)
      return spare[nodeState].handle
    }
    twin = spare
    twins.set(socket, twin)
    anyTwin = true
  }
  return twin[nodeState].handle
}

// Closes the socket's twin, if it has one (from the socket's close()).
function closeTwin (socket) {
  if (!anyTwin) return
  const twin = twins.get(socket)
  if (twin === undefined) return
  twins.delete(socket)
  twin.close()
}

const nodeState = learnStateSymbol()

// Makes Socket's instances sendable to a child process; `handleOf(socket)` is the socket's
// native handle (null once closed).
function makeSendable (Socket, handleOf) {
  Object.setPrototypeOf(Socket.prototype, nodeDgram.Socket.prototype)
  Object.setPrototypeOf(Socket, nodeDgram.Socket)
  // Without the symbol (a Node whose node:dgram changed), the socket is not sendable: Node's
  // child_process then throws its own error, as it did before.
  if (nodeState === undefined) return
  Object.defineProperty(Socket.prototype, nodeState, {
    configurable: true,
    get () { return twinState(this, handleOf(this)) }
  })
}

module.exports = { closeTwin, makeSendable }
