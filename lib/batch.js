'use strict'

// The opt-in batch API (beyond node:dgram; nothing here changes its
// behaviour):
//
// - socket.sendBatch(messages, port[, address][, callback]) and, connected,
//   socket.sendBatch(messages[, callback]): many datagrams in one call. Runs
//   of equal-size datagrams leave as UDP segmentation offload sends (up to 64
//   datagrams per syscall), others one by one, all in order.
// - socket.sendBatch(buffer, segmentSize, port[, address][, callback]) (and,
//   connected, without port and address): the datagrams are consecutive
//   `segmentSize`-byte slices of one buffer (the last may be shorter), sent
//   straight from it: no per-datagram object at all.
//   Both forms call callback(err, count) once every datagram has been sent or
//   refused (datagrams queued behind a full socket buffer are waited for):
//   count is how many were sent, err the first refusal (null if none).
// - createSocket({ type, receiveBatches: true }): instead of 'message' per
//   datagram, 'messages' per read and sender: (messages: Buffer[], rinfo),
//   where the messages are views into one Buffer holding what one read took
//   from one sender (up to 32 datagrams, or GRO batches of up to 64 each) and
//   rinfo.size is its total.
// - createSocket({ type, receiveBatches: 'zero-copy' }): the same, but when
//   the read was one slot (a GRO batch, or a lone datagram), the messages are
//   views of the socket's read buffer itself, lent while the 'messages'
//   listeners run: when they return, every view becomes empty (length 0; its
//   memory detached, never stale). Copy what you keep.
// - createSocket({ type, receiveBatches: 'segments' }): no object per
//   datagram at all, the mirror of sendBatch's buffer form: 'segments'
//   (data, segmentSize, rinfo) per run of equal-size datagrams one read took
//   from one sender (a GRO batch is one run), where the datagrams are data's
//   consecutive segmentSize-byte slices (the last may be shorter; an empty
//   data is one empty datagram) and rinfo.size is data.length. data is lent
//   as with 'zero-copy'.

const { Buffer } = require('buffer')
const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE,
    ERR_SOCKET_DGRAM_IS_CONNECTED
  }
} = require('./errors.js')
const { copyLent, fixBufferList, isLending } = require('./buffers.js')
const { validateInteger, validatePort, validateString } = require('./validators.js')
const { isArrayBufferView } = require('util').types

// The largest UDP payload (IPv4).
const MAX_SEGMENT = 65507

const MESSAGE_TYPES = ['Buffer', 'TypedArray', 'DataView', 'string']

// Splits what one read took from one sender into views. Three shapes:
// - `buf` one read slot (a GRO batch, or one datagram) whose datagrams are
//   `sizes` bytes each (a number; the last may be shorter);
// - `buf` and `sizes` arrays of those, one per slot;
// - `buf` one Buffer of datagrams back to back and `sizes` an array of their
//   lengths (the background receive path).
function splitBatch (buf, sizes) {
  const messages = []
  if (typeof sizes === 'number') {
    splitSlot(buf, sizes, messages)
  } else if (Array.isArray(buf)) {
    for (let i = 0; i < buf.length; i++) splitSlot(buf[i], sizes[i], messages)
  } else {
    const { buffer, byteOffset } = buf
    let offset = 0
    for (const size of sizes) {
      messages.push(new FastBuffer(buffer, byteOffset + offset, size))
      offset += size
    }
  }
  return messages
}

// The views are Node's own Buffers, made as subarray() makes them but without
// its species lookup and argument checks, which cost about as much again per
// view: Buffer[Symbol.species] is Node's internal FastBuffer class.
const FastBuffer = Buffer[Symbol.species]

function splitSlot (buf, size, messages) {
  const length = buf.length
  if (length === 0) {
    messages.push(buf)
    return
  }
  const { buffer, byteOffset } = buf
  for (let offset = 0; offset < length; offset += size) {
    messages.push(new FastBuffer(buffer, byteOffset + offset, Math.min(size, length - offset)))
  }
}

// What one read took from one sender as runs of equal-size datagrams, for
// 'segments': [data, segmentSize, data, segmentSize, ...]. The shapes are
// splitBatch's; a number `sizes` is one run and is not passed here.
function segmentRuns (buf, sizes) {
  const runs = []
  if (Array.isArray(buf)) {
    // A read slot is one run: a GRO batch, or one datagram.
    for (let i = 0; i < buf.length; i++) runs.push(buf[i], sizes[i])
    return runs
  }
  // The background path's datagrams back to back: a run ends at a change of
  // size, or after a shorter datagram (a shorter last one, as GRO's).
  const { buffer, byteOffset } = buf
  let offset = 0
  for (let i = 0; i < sizes.length;) {
    const size = sizes[i++]
    let length = size
    // An empty datagram is a run of its own (its segmentSize is 0).
    for (; i < sizes.length; i++) {
      const next = sizes[i]
      if (size === 0 || next === 0 || next > size) break
      length += next
      if (next < size) { i++; break }
    }
    runs.push(new FastBuffer(buffer, byteOffset + offset, length), size)
    offset += length
  }
  return runs
}

// Bytes in what splitBatch() splits.
function batchSize (buf) {
  if (!Array.isArray(buf)) return buf.length
  let total = 0
  for (const slot of buf) total += slot.length
  return total
}

// sendBatch's datagrams, checked: `rest` holds the arguments after
// `messages`; the buffer form takes the segment size from its front. Either
// { data, segmentSize, count } (one buffer cut into datagrams) or
// { list, count }. A lent 'zero-copy' view is copied: the batch may go out
// after it is emptied (lib/buffers.js).
function batchDatagrams (messages, rest) {
  if (isArrayBufferView(messages)) return batchBuffer(messages, rest.shift())
  return batchList(messages)
}

// The buffer form's datagrams: { data, segmentSize, count }.
function batchBuffer (buffer, segmentSize) {
  validateInteger(segmentSize, 'segmentSize', 1, MAX_SEGMENT)
  // A Buffer as it is (the common case: no object made per call); another
  // view as a Buffer over its bytes.
  let data = buffer instanceof Buffer ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  if (isLending()) {
    const lent = [data]
    copyLent(lent)
    data = lent[0]
  }
  return { data, segmentSize, count: Math.max(1, Math.ceil(data.length / segmentSize)) }
}

// The messages form's datagrams: { list, count }.
function batchList (messages) {
  if (!Array.isArray(messages)) { throw new ERR_INVALID_ARG_TYPE('messages', ['Array', 'Buffer', 'TypedArray', 'DataView'], messages) }
  const list = fixBufferList(messages)
  if (list === null) { throw new ERR_INVALID_ARG_TYPE('messages', MESSAGE_TYPES, messages) }
  copyLent(list)
  return { list, count: list.length }
}

// sendBatch's destination and callback, checked in order: (port[, address])
// unconnected, nothing connected, then an optional callback.
function batchDestination (connected, port, address, callback) {
  if (typeof port === 'function') {
    callback = port
    port = undefined
    address = undefined
  } else if (typeof address === 'function') {
    callback = address
    address = undefined
  }
  if (connected) {
    if (port !== undefined || address !== undefined) { throw new ERR_SOCKET_DGRAM_IS_CONNECTED() }
  } else {
    port = validatePort(port, 'Port', false)
  }
  if (address != null) { validateString(address, 'address') }
  if (typeof callback !== 'function') { callback = undefined }
  return { port, address, callback }
}

// createSocket's receiveBatches: false (or absent), true, 'zero-copy' or
// 'segments'; anything else is a TypeError, never a silent switch of
// 'message' off.
function validateReceiveBatches (options, value = options.receiveBatches) {
  if (value === undefined || value === false || value === true || value === 'zero-copy' || value === 'segments') return value === undefined ? false : value
  throw new ERR_INVALID_ARG_VALUE('options.receiveBatches', value, "must be one of: true, false, 'zero-copy', 'segments'")
}

module.exports = { batchBuffer, batchDatagrams, batchDestination, batchList, batchSize, segmentRuns, splitBatch, validateReceiveBatches }
