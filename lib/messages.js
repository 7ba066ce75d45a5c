'use strict'

// socket.messages({ highWaterMark }) and `for await (const [msg, rinfo] of
// socket)`: the socket's datagrams as an async iterator that holds at most
// `highWaterMark` of them. When the consumer falls behind, reading pauses:
// the kernel's receive buffer (or, with backgroundReceive, the inbox) holds
// what comes meanwhile and drops what does not fit, which getStats() counts.
// Reading resumes once the consumer has taken half. The iterator ends when
// the socket closes and throws the socket's 'error'.
//
// One read is always delivered whole (up to 32 datagrams, or 32 GRO batches
// of up to 64): a pause that falls in the middle of one takes effect after it.

const { Buffer } = require('buffer')
const { codes: { ERR_INVALID_ARG_TYPE } } = require('./errors')
const { validateInteger } = require('./validators')

const DEFAULT_HIGH_WATER_MARK = 1024

// `setPaused(socket, paused)` pauses or resumes the socket's reading; it is
// lib/socket.js's (the iterator knows nothing of the native handle).
function createMessages (socket, options, setPaused) {
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
  let ended = false
  let paused = false

  const pending = () => queue.length - head
  const push = (entry) => {
    if (waiting !== null) {
      const { resolve } = waiting
      waiting = null
      resolve({ value: entry, done: false })
      return
    }
    queue.push(entry)
    if (!paused && pending() >= highWaterMark) {
      paused = true
      setPaused(socket, true)
    }
  }
  const onMessage = (msg, rinfo) => push([msg, rinfo])
  // receiveBatches sockets: each datagram on its own, as a copy (zero-copy
  // views are emptied when the listeners return).
  const onMessages = (messages, rinfo) => {
    for (const msg of messages) { push([Buffer.from(msg), { ...rinfo, size: msg.length }]) }
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
    socket.removeListener('error', onError)
    socket.removeListener('close', onClose)
    if (paused) {
      paused = false
      setPaused(socket, false)
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

  socket.on('message', onMessage)
  socket.on('messages', onMessages)
  socket.on('error', onError)
  socket.on('close', onClose)

  return {
    next () {
      if (pending() !== 0) {
        const entry = queue[head]
        queue[head++] = undefined
        if (head > 1024 && head * 2 > queue.length) {
          queue = queue.slice(head)
          head = 0
        }
        if (paused && pending() <= resumeAt) {
          paused = false
          setPaused(socket, false)
        }
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
