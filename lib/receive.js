'use strict'

// What the native handle delivers, as node:dgram's events: 'message' per
// datagram, or with receiveBatches, 'messages' per read split into views
// (lib/batch.js's splitBatch), lent for the listeners' duration with
// 'zero-copy', or 'segments' per run of equal-size datagrams, lent. The
// handle calls these on itself (this); rinfo is built by lib/handle.js.

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
  const mode = self[kStateSymbol].receiveBatches
  if (mode === true) {
    self.emit('messages', (batchLib ??= require('./batch.js')).splitBatch(buf, segment), rinfo)
    return
  }
  // The views are lent until this returns (lib/buffers.js: a send made
  // meanwhile copies them).
  if (mode === 'segments') lend(buf, emitSegments, self, [buf, segment, rinfo])
  else lend(buf, emitMessages, self, [(batchLib ??= require('./batch.js')).splitBatch(buf, segment), rinfo])
}

// 'segments': one event per run of equal-size datagrams, no object per
// datagram (a read slot is one run; see segmentRuns).
function emitSegments (self, [buf, sizes, rinfo]) {
  if (typeof sizes === 'number') {
    self.emit('segments', buf, sizes, rinfo)
    return
  }
  const runs = (batchLib ??= require('./batch.js')).segmentRuns(buf, sizes)
  for (let i = 0; i < runs.length; i += 2) {
    self.emit('segments', runs[i], runs[i + 1], { ...rinfo, size: runs[i].length })
  }
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
