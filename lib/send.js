'use strict'

// dgram-rs's send pipeline behind node:dgram's send() and the batch API's
// sendBatch(), once lib/socket.js has checked the arguments, bound the socket
// and looked the address up: the request each send makes, the datagrams a tick
// gathers and flushes together, the results the handle gives back (at once, or
// later through onsend by the request's id), the callbacks on node:dgram's
// ticks and in the send's async context, and what close() cancels.

const { AsyncResource } = require('async_hooks')
const {
  ExceptionWithHostPort,
  codes: { ERR_IP_BLOCKED }
} = require('./errors.js')
const { kOwner, kStateSymbol } = require('./handle.js')
const { isIP } = require('./validators.js')
const { nextTick, queueMicrotask, setImmediate } = require('./ticks.js')

const UV_EINVAL = -22

// One send() once its address is looked up (or failed to be): sends it now,
// gathers it with the tick's other sends, or fails it.
function doSend (ex, self, ip, list, address, port, callback, control) {
  const state = self[kStateSymbol]

  if (ex) {
    if (typeof callback === 'function') {
      nextTick(callback, ex)
      return
    }

    nextTick(() => self.emit('error', ex))
    return
  } else if (!state.handle) {
    return
  }

  // Node 22.13+ / 23.4+: a blocked destination fails the send, but (like
  // every other send error) is only reported to a callback.
  if (ip && isBlocked(state.sendBlockList, ip)) {
    if (callback) {
      nextTick(callback, new ERR_IP_BLOCKED(ip))
    }
    return
  }

  // Node's SendWrap: what the completion of a queued send needs.
  const req = { id: state.nextSendId, list, address, port, callback }
  state.nextSendId = (state.nextSendId + 1) >>> 0

  // Node 20 aborts the process (CHECK(args[4]->IsString())) when a custom
  // lookup yields a non-string address; fail the send as libuv does for an
  // address it cannot parse instead.
  if (port && typeof ip !== 'string') {
    completeSend(state, req, UV_EINVAL)
    return
  }
  if (port === null || port === undefined || port === 0) ip = null

  // dgram-rs: per-send control leaves at once, after what was gathered before
  // it (lib/control.js).
  if (control) {
    flushSends(self)
    completeSend(state, req, state.handle.sendWithControl(
      list, port || 0, ip, req.id, control.tos, control.sourceAddress))
    return
  }

  // More sends of this tick are on their way: gather this one, so that they
  // leave together (coalesced into GSO sends by the handle). Not a large
  // datagram: gathering copies it, and a GSO send holds at most 64 KiB, so
  // few of them; it leaves at once, after what was gathered before it.
  if (state.lookups !== 0 || state.gathered !== undefined) {
    if (byteLength(list) < GATHER_MAX_BYTES) {
      gatherSend(self, req, ip)
      return
    }
    flushSends(self)
  }
  completeSend(state, req, state.handle.send(sendable(list), port || 0, ip, req.id))
}

// The largest datagram a tick's sends gather (see doSend).
const GATHER_MAX_BYTES = 8192

function byteLength (list) {
  if (list.length === 1) return list[0].length
  let n = 0
  for (let i = 0; i < list.length; i++) n += list[i].length
  return n
}

// What the handle sends for a list of Buffers: a lone Buffer as itself (the
// common case; the handle then walks no array).
function sendable (list) {
  return list.length === 1 ? list[0] : list
}

// A send's outcome, from the handle, in Node's encoding: bytes + 1 when sent
// at once, 0 when queued (completed later by onsend), or a negative errno.
function completeSend (state, req, err) {
  const { callback } = req

  if (err >= 1) {
    // Synchronous finish. The return code is msg_length + 1 so that we can
    // distinguish between synchronous success and asynchronous success.
    if (callback) { nextTick(callback, null, err - 1) }
    return
  }

  if (err === 0) {
    // Queued: the handle calls onsend with this id when it is done. Node
    // makes a SendWrap (an async resource) for a queued send: its callback
    // runs in the send's async context, not the socket's. (A gathered send
    // gets one in afterGathered, on its own tick.)
    queuedReqs(state).set(req.id, req)
    if (callback && req.result === undefined) req.resource = new AsyncResource('UDPSENDWRAP')
    return
  }

  if (callback) {
    // Don't emit as error, dgram_legacy.js compatibility
    const ex = new ExceptionWithHostPort(err, 'send', req.address, req.port)
    nextTick(callback, ex)
  }
}

// Gathers a send for flushSends(). A destination the handle refuses fails at
// once, as an immediate send would. The last lookup of the tick flushes; a
// microtask flushes anyway, so that a slow lookup (a real DNS query) never
// holds back the sends gathered before it answers.
function gatherSend (self, req, ip) {
  const state = self[kStateSymbol]
  const err = state.handle.sendLater(sendable(req.list), req.port || 0, ip, req.id)
  if (err < 0) {
    completeSend(state, req, err)
    return
  }
  (state.gathered ??= []).push(req)
  scheduleFlush(self)
  if (req.callback) {
    // The callback's tick is queued now, from the send's own tick and async
    // context, where node:dgram queues it; flushSends() leaves the result.
    req.result = null
    nextTick(afterGathered, self, req)
  }
}

// A gathered send's callback (see gatherSend): with its result, flushing
// first if no flush came yet.
function afterGathered (self, req) {
  if (req.result === null) flushSends(self)
  const result = req.result
  if (result >= 1) {
    req.callback(null, result - 1)
  } else if (result < 0) {
    req.callback(new ExceptionWithHostPort(result, 'send', req.address, req.port))
  } else if (result === 0) {
    // Queued: onsend completes it, in this context.
    req.resource = new AsyncResource('UDPSENDWRAP')
  }
}

function scheduleFlush (self) {
  const state = self[kStateSymbol]
  if (!state.flushScheduled) {
    state.flushScheduled = true
    queueMicrotask(() => {
      state.flushScheduled = false
      flushSends(self)
    })
  }
}

// Where the handle writes the results of a flush, one per gathered datagram,
// in order. Flushes never overlap, so one array serves every socket; it
// grows to the largest flush.
let flushResults = new Float64Array(512)

// Hands the gathered sends to the kernel, in order, and completes each
// request with its datagrams' results. `state.gathered` holds the request of
// each gathered datagram, in the order they were gathered, which is the
// order of the results.
function flushSends (self) {
  const state = self[kStateSymbol]
  const reqs = state.gathered
  if (reqs === undefined || !state.handle) { return }
  state.gathered = undefined
  if (flushResults.length < reqs.length) { flushResults = new Float64Array(2 * reqs.length) }
  const results = flushResults
  const count = state.handle.flushSends(results)
  for (let i = 0; i < count; i++) {
    const req = reqs[i]
    const result = results[i]
    if (!req.batch) {
      if (req.callback) req.result = result // for afterGathered
      if (!req.callback || result === 0) completeSend(state, req, result)
      continue
    }
    settleBatch(state, req, result)
    if (req.pending === 0) finishBatch(req, true)
  }
}

// One datagram of a sendBatch() request is done (sent: bytes + 1, queued: 0,
// or a negative errno). The callback runs once every datagram is sent or
// refused: (null, count) when all were sent, else (the first error, count),
// count being the datagrams sent.
function settleBatch (state, req, result) {
  if (result === 0) {
    queuedReqs(state).set(req.id, req)
    return
  }
  if (result > 0) req.sent++
  else req.errno ||= result
  req.pending--
}

// The batch's last datagram is done: its callback, on a later tick.
function finishBatch (req, sync) {
  if (req.done || !req.callback) return
  req.done = true
  const err = req.errno
    ? new ExceptionWithHostPort(req.errno, 'send', req.address, req.port)
    : null
  if (sync) nextTick(req.callback, err, req.sent)
  else req.callback(err, req.sent)
}

// A queued send's callback, in the send's async context where it has one.
function afterQueuedSend (req, status, bytes) {
  const { resource } = req
  if (resource === undefined) return afterSend.call(req, status, bytes)
  resource.runInAsyncScope(afterSend, req, status, bytes)
  resource.emitDestroy()
}

function afterSend (err, sent) {
  if (err) {
    err = new ExceptionWithHostPort(err, 'send', this.address, this.port)
  } else {
    err = null
  }

  this.callback(err, sent)
}

// The requests with datagrams queued in the handle, by id.
function queuedReqs (state) {
  return (state.sendReqs ??= new Map())
}

// handle.onsend: a queued datagram of request `id` is done.
function onSend (id, status, bytes) {
  const state = this[kOwner][kStateSymbol]
  const req = state.sendReqs?.get(id)
  if (req === undefined) return
  if (req.batch) {
    settleBatch(state, req, status < 0 ? status : bytes + 1)
    if (req.pending !== 0) return
    state.sendReqs.delete(id)
    finishBatch(req, false)
    emitDrain(this[kOwner])
    return
  }
  state.sendReqs.delete(id)
  if (req.callback) { afterQueuedSend(req, status, bytes) }
  emitDrain(this[kOwner])
}

// 'drain' (dgram-rs): the send queue that filled when the socket buffer was
// full has emptied; emitted after the last queued send's callback.
function emitDrain (self) {
  const { handle } = self[kStateSymbol]
  if (handle && handle.getSendQueueCount() === 0) { self.emit('drain') }
}

function isBlocked (blockList, ip) {
  if (blockList === undefined) { return false }
  return blockList.check(ip, `ipv${isIP(ip)}`)
}

// sendBatch() once its address is looked up (or failed to be): one request
// for every datagram of `batch` (lib/batch.js's batchDatagrams), completed
// when the last of them is sent or refused.
function startBatch (self, batch, connected, port, address, callback, ex, ip) {
  const state = self[kStateSymbol]
  if (ex) {
    if (callback) nextTick(callback, ex)
    else nextTick(() => self.emit('error', ex))
    return
  }
  if (!state.handle) return
  const req = {
    batch: true,
    id: state.nextSendId,
    callback,
    address,
    port: connected ? 0 : port,
    sent: 0,
    pending: batch.count,
    errno: 0,
    done: false
  }
  state.nextSendId = (state.nextSendId + 1) >>> 0
  // Sends this tick gathered go first: datagrams leave in call order.
  flushSends(self)
  if (batch.list === undefined) sendSegments(self, req, batch.data, batch.segmentSize, ip)
  else sendMessages(self, req, batch.list, ip)
  if (req.pending === 0) finishBatch(req, true)
}

// The messages form: each message is gathered in the handle under the
// request's id, and the flush completes them (see flushSends).
function sendMessages (self, req, list, ip) {
  const state = self[kStateSymbol]
  const { handle } = state
  for (const message of list) {
    const err = handle.sendLater([message], req.port, ip, req.id)
    if (err < 0) settleBatch(state, req, err)
    else (state.gathered ??= []).push(req)
  }
  flushSends(self)
}

// The buffer form: one native call for the whole buffer, which answers
// [sent, queued, refused, first errno]; queued datagrams complete through
// onsend under the request's id.
function sendSegments (self, req, data, segmentSize, ip) {
  const state = self[kStateSymbol]
  // By index: the handle's result array is reused (and a typed array's iterator is slow).
  const results = state.handle.sendBatch(data, segmentSize, req.port, ip, req.id)
  const sent = results[0]
  const queued = results[1]
  const failed = results[2]
  const errno = results[3]
  req.sent += sent
  req.pending -= sent + failed
  if (failed !== 0) req.errno ||= errno
  if (queued !== 0) (state.sendReqs ??= new Map()).set(req.id, req)
}

// How the handle's close() ended its queued datagrams: [id, status, bytes,
// ...], first those it had sent but not yet reported, then the cancelled
// (ECANCELED). libuv completes them in the loop's close phase, after the
// 'close' event's tick: setImmediate is the nearest userland equivalent.
function cancelSends (state, ended) {
  const reqs = state.sendReqs
  state.sendReqs = undefined
  if (ended.length === 0 || reqs === undefined) { return }
  setImmediate(() => {
    for (let i = 0; i < ended.length; i += 3) {
      const req = reqs.get(ended[i])
      if (req === undefined) continue
      const status = ended[i + 1]
      const bytes = ended[i + 2]
      if (req.batch) {
        settleBatch(state, req, status < 0 ? status : bytes + 1)
        if (req.pending === 0) finishBatch(req, false)
      } else if (req.callback) {
        afterQueuedSend(req, status, bytes)
      }
    }
  })
}

module.exports = { cancelSends, doSend, flushSends, isBlocked, onSend, startBatch }
