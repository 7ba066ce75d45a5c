'use strict'

// socket.messages({ highWaterMark }) and `for await (const [msg, rinfo] of
// socket)`: the socket's datagrams as an async iterator that holds at most
// `highWaterMark` of them. When the consumer falls behind, reading pauses:
// the kernel's receive buffer (or, with backgroundReceive, the inbox) holds
// what comes meanwhile and drops what does not fit, which getStats() counts.
// Reading resumes once the consumer has taken half. The iterator ends when
// the socket closes (at once when it is closed already) and throws the
// socket's 'error'.
//
// The pause is the socket's, so it is taken only when every consumer wants
// it: every 'message', 'messages' and 'segments' listener of the socket
// belongs to one of its iterators, and each of those is full. A full
// iterator beside another consumer (a listener, an iterator that keeps up)
// does not starve it: it keeps what comes, past its highWaterMark, until its
// own consumer catches up or leaves; nothing is dropped either way.
//
// One read is always delivered whole (up to 32 datagrams, or 32 GRO batches
// of up to 64): a pause that falls in the middle of one takes effect after it.

const { Buffer } = require('buffer')
const { codes: { ERR_INVALID_ARG_TYPE } } = require('./errors.js')
const { validateInteger } = require('./validators.js')

const DEFAULT_HIGH_WATER_MARK = 1024

// The iterators of each socket, and whether the socket's reading is paused
// for them.
const consumers = new WeakMap()

function consumersOf (socket, setPaused) {
  let entry = consumers.get(socket)
  if (entry === undefined) {
    entry = { iterators: new Set(), paused: false, setPaused }
    consumers.set(socket, entry)
    // A listener added while reading is paused is a consumer that must not
    // wait, and one removed may leave only full iterators: decide again once
    // the change is made (the events come before it).
    const onChange = (event) => {
      if (event === 'message' || event === 'messages' || event === 'segments') Promise.resolve().then(() => decide(socket))
    }
    socket.on('newListener', onChange)
    socket.on('removeListener', onChange)
  }
  return entry
}

// Pauses reading when every consumer of `socket` is a full iterator; resumes
// it otherwise.
function decide (socket) {
  const entry = consumers.get(socket)
  if (entry === undefined) return
  const n = entry.iterators.size
  let pause = n > 0 &&
    socket.listenerCount('message') === n && socket.listenerCount('messages') === n &&
    socket.listenerCount('segments') === n
  if (pause) {
    for (const it of entry.iterators) if (!it.full) { pause = false; break }
  }
  if (pause !== entry.paused) {
    entry.paused = pause
    entry.setPaused(socket, pause)
  }
}

// `setPaused(socket, paused)` pauses or resumes the socket's reading, and
// `isClosed(socket)` says whether close() was called; both are lib/socket.js's
// (or lib/fallback.js's): the iterator knows nothing of the native handle.
function createMessages (socket, options, { setPaused, isClosed }) {
  if (options === undefined) options = {}
  if (options === null || typeof options !== 'object') { throw new ERR_INVALID_ARG_TYPE('options', 'Object', options) }
  const { highWaterMark = DEFAULT_HIGH_WATER_MARK } = options
  validateInteger(highWaterMark, 'options.highWaterMark', 1)
  const resumeAt = Math.floor(highWaterMark / 2)

  // A FIFO of [msg, rinfo] with a moving head (no O(n) shift).
  let queue = []
  let head = 0
  let waiting = null
  let error = null
  let ended = isClosed(socket)
  // Whether this iterator holds its highWaterMark (until it is down to half).
  const self = { full: false }
  const shared = consumersOf(socket, setPaused)

  const pending = () => queue.length - head
  const setFull = (full) => {
    self.full = full
    decide(socket)
  }
  const push = (entry) => {
    if (waiting !== null) {
      const { resolve } = waiting
      waiting = null
      resolve({ value: entry, done: false })
      return
    }
    queue.push(entry)
    if (!self.full && pending() >= highWaterMark) setFull(true)
  }
  const onMessage = (msg, rinfo) => push([msg, rinfo])
  // receiveBatches sockets: each datagram on its own, as a copy (zero-copy
  // views are emptied when the listeners return).
  const onMessages = (messages, rinfo) => {
    for (const msg of messages) { push([Buffer.from(msg), { ...rinfo, size: msg.length }]) }
  }
  const onSegments = (data, segmentSize, rinfo) => {
    if (data.length === 0) push([Buffer.alloc(0), { ...rinfo, size: 0 }])
    for (let offset = 0; offset < data.length; offset += segmentSize) {
      const msg = Buffer.from(data.subarray(offset, offset + segmentSize))
      push([msg, { ...rinfo, size: msg.length }])
    }
  }
  const onError = (err) => {
    error = err
    settle()
  }
  const onClose = () => {
    ended = true
    settle()
  }
  const cleanup = () => {
    socket.removeListener('message', onMessage)
    socket.removeListener('messages', onMessages)
    socket.removeListener('segments', onSegments)
    socket.removeListener('error', onError)
    socket.removeListener('close', onClose)
    if (shared.iterators.delete(self)) {
      self.full = false
      decide(socket)
    }
  }
  // Answers a waiting next() once the iterator has nothing more to give.
  const settle = () => {
    if (waiting === null || pending() !== 0) return
    const { resolve, reject } = waiting
    waiting = null
    if (error !== null) {
      const err = error
      error = null
      ended = true
      cleanup()
      reject(err)
    } else if (ended) {
      cleanup()
      resolve({ value: undefined, done: true })
    }
  }

  if (!ended) {
    shared.iterators.add(self)
    socket.on('message', onMessage)
    socket.on('messages', onMessages)
    socket.on('segments', onSegments)
    socket.on('error', onError)
    socket.on('close', onClose)
  }

  return {
    next () {
      if (pending() !== 0) {
        const entry = queue[head]
        queue[head++] = undefined
        if (head > 1024 && head * 2 > queue.length) {
          queue = queue.slice(head)
          head = 0
        }
        if (self.full && pending() <= resumeAt) setFull(false)
        return Promise.resolve({ value: entry, done: false })
      }
      if (error !== null) {
        const err = error
        error = null
        ended = true
        cleanup()
        return Promise.reject(err)
      }
      if (ended) {
        cleanup()
        return Promise.resolve({ value: undefined, done: true })
      }
      return new Promise((resolve, reject) => { waiting = { resolve, reject } })
    },
    return () {
      ended = true
      queue = []
      head = 0
      cleanup()
      if (waiting !== null) {
        const { resolve } = waiting
        waiting = null
        resolve({ value: undefined, done: true })
      }
      return Promise.resolve({ value: undefined, done: true })
    },
    [Symbol.asyncIterator] () {
      return this
    }
  }
}

module.exports = { createMessages }
