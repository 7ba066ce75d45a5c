'use strict'

// What the native handle delivers, as node:dgram's events: 'message' per
// datagram, or with receiveBatches, 'messages' per read split into views
// (lib/batch.js's splitBatch), lent for the listeners' duration with
// 'zero-copy'. The handle calls these on itself (this); rinfo is built by
// lib/handle.js.

const { ErrnoException } = require('./errors.js')
const { lend } = require('./buffers.js')
const { kOwner, kStateSymbol } = require('./handle.js')

let batchLib // lib/batch.js: only receiveBatches needs it.

// handle.onmessage: one received datagram; rinfo is built by lib/handle.js.
function onMessage (buf, rinfo) {
  const self = this[kOwner]
  if (!fromBlockedSender(self, rinfo)) { self.emit('message', buf, rinfo) }
}

// handle.onbatch: what one read gave, in batch mode (lib/batch.js).
function onBatch (buf, segment, rinfo) {
  const self = this[kOwner]
  if (fromBlockedSender(self, rinfo)) return
  if (self[kStateSymbol].receiveBatches !== 'zero-copy') {
    self.emit('messages', (batchLib ??= require('./batch.js')).splitBatch(buf, segment), rinfo)
    return
  }
  // The views are lent until this returns (lib/buffers.js: a send made
  // meanwhile copies them).
  lend(buf, emitMessages, self, [(batchLib ??= require('./batch.js')).splitBatch(buf, segment), rinfo])
}

// Node 22.13+ / 23.4+: datagrams from blocked senders are dropped silently.
function fromBlockedSender (self, rinfo) {
  const blockList = self[kStateSymbol].receiveBlockList
  return blockList !== undefined &&
    blockList.check(rinfo.address, rinfo.family.toLowerCase())
}

function emitMessages (self, [messages, rinfo]) {
  self.emit('messages', messages, rinfo)
}

// handle.onerror: a failed receive (negative errno).
function onError (errno) {
  const self = this[kOwner]
  return self.emit('error', new ErrnoException(errno, 'recvmsg'))
}

module.exports = { onBatch, onError, onMessage }
