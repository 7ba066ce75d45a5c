'use strict'

// The message arguments node:dgram's send() accepts, turned into bytes, with
// node:dgram's checks and errors (ported from Node's lib/dgram.js); shared by
// the UDP socket, its batch sends and the 'unix_dgram' socket.

const { Buffer } = require('buffer')
const { isArrayBufferView } = require('util').types
const {
  codes: {
    ERR_BUFFER_OUT_OF_BOUNDS,
    ERR_INVALID_ARG_TYPE
  }
} = require('./errors.js')

// send(msg, offset, length, ...): the bytes of msg from offset, length long.
function sliceBuffer (buffer, offset, length) {
  if (typeof buffer === 'string') {
    buffer = Buffer.from(buffer)
  } else if (!isArrayBufferView(buffer)) {
    throw new ERR_INVALID_ARG_TYPE('buffer',
      ['Buffer',
        'TypedArray',
        'DataView',
        'string'],
      buffer)
  }

  offset = offset >>> 0
  length = length >>> 0
  if (offset > buffer.byteLength) {
    throw new ERR_BUFFER_OUT_OF_BOUNDS('offset')
  }

  if (offset + length > buffer.byteLength) {
    throw new ERR_BUFFER_OUT_OF_BOUNDS('length')
  }

  return Buffer.from(buffer.buffer, buffer.byteOffset + offset, length)
}

// A list of messages as Buffers over the same memory, or null if one is not
// a string or a view.
function fixBufferList (list) {
  const newlist = new Array(list.length)

  for (let i = 0, l = list.length; i < l; i++) {
    const buf = list[i]
    if (typeof buf === 'string') { newlist[i] = Buffer.from(buf) } else if (!isArrayBufferView(buf)) { return null } else { newlist[i] = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) }
  }

  return newlist
}

// The 'zero-copy' reads being lent now (while 'messages' listeners run:
// receiveBatches): a Buffer, or an array of them, one per read slot; or
// undefined. Their memory (`.buffer`) is looked at only when a send is made
// meanwhile: reading it makes V8 create the ArrayBuffer object of a
// natively made Buffer, which cost every batch a few per cent.
let lent

// Runs fn(self, arg) with `reads` lent.
function lend (reads, fn, self, arg) {
  const outer = lent
  lent = reads
  try {
    return fn(self, arg)
  } finally {
    lent = outer
  }
}

function isLent (memory) {
  if (!Array.isArray(lent)) return lent.buffer === memory
  for (let i = 0; i < lent.length; i++) if (lent[i].buffer === memory) return true
  return false
}

// Whether 'messages' listeners are running with lent views now.
function isLending () {
  return lent !== undefined
}

// A send may go out after the listener that made it returns (after a lookup,
// after bind), when a lent view is empty: the views in `list` (an array of
// views, changed in place) whose memory is lent now become copies.
function copyLent (list) {
  if (lent === undefined) return
  for (let i = 0; i < list.length; i++) {
    const view = list[i]
    if (isLent(view.buffer)) list[i] = Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength))
  }
}

module.exports = { copyLent, fixBufferList, isLending, lend, sliceBuffer }
