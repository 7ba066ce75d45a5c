'use strict';

// The opt-in batch API (beyond node:dgram; nothing here changes its
// behaviour):
//
// - socket.sendBatch(messages, port[, address][, callback]) and, connected,
//   socket.sendBatch(messages[, callback]): many datagrams in one call. Runs
//   of equal-size datagrams leave as UDP segmentation offload sends (up to 64
//   datagrams per syscall), others one by one, all in order.
//   callback(err, count): count is how many datagrams were accepted (sent, or
//   queued behind a full socket buffer, which sends them in order).
// - socket.sendBatch(buffer, segmentSize, port[, address][, callback]) (and,
//   connected, without port and address): the datagrams are consecutive
//   `segmentSize`-byte slices of one buffer (the last may be shorter), sent
//   straight from it: no per-datagram object at all.
// - createSocket({ type, receiveBatches: true }): instead of 'message' per
//   datagram, 'messages' per read: (messages: Buffer[], rinfo), where the
//   messages are views into one Buffer holding what one read gave (a GRO
//   batch of up to 64 datagrams from one sender) and rinfo.size is its total.
// - createSocket({ type, receiveBatches: 'zero-copy' }): the same, but the
//   messages are views of the socket's read buffer itself, lent while the
//   'messages' listeners run: when they return, every view becomes empty
//   (length 0; its memory detached, never stale). Copy what you keep.

const { Buffer } = require('buffer');
const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_SOCKET_DGRAM_IS_CONNECTED,
  },
  ExceptionWithHostPort,
} = require('./errors');
const { validateInteger, validatePort, validateString } = require('./validators');
const { isArrayBufferView } = require('util').types;

// The largest UDP payload (IPv4).
const MAX_SEGMENT = 65507;

const MESSAGE_TYPES = ['Buffer', 'TypedArray', 'DataView', 'string'];

// `internals` are lib/socket.js's own helpers, so that the batch path keeps
// exactly the state machine, pre-bind queue and send order of send().
function install(Socket, internals) {
  const {
    kStateSymbol,
    isConnected,
    isBound,
    isUnbound,
    fixBufferList,
    enqueue,
    healthCheck,
    flushSends,
  } = internals;

  Socket.prototype.sendBatch = function sendBatch(messages, ...rest) {
    let count;
    let send;
    if (isArrayBufferView(messages)) {
      // sendBatch(buffer, segmentSize, ...): one buffer cut into datagrams.
      const segmentSize = rest.shift();
      validateInteger(segmentSize, 'segmentSize', 1, MAX_SEGMENT);
      const data = Buffer.from(messages.buffer, messages.byteOffset, messages.byteLength);
      count = Math.max(1, Math.ceil(data.length / segmentSize));
      send = (state, port, ip) => sendRun(state, data, segmentSize, port, ip);
    } else {
      if (!Array.isArray(messages))
        throw new ERR_INVALID_ARG_TYPE('messages', ['Array', 'Buffer', 'TypedArray', 'DataView'], messages);
      const list = fixBufferList(messages);
      if (list === null)
        throw new ERR_INVALID_ARG_TYPE('messages', MESSAGE_TYPES, messages);
      count = list.length;
      send = (state, port, ip) => sendRuns(state, list, port, ip);
    }
    sendMany(this, send, count, ...rest);
  };

  // The part of send() a batch shares: arguments, implicit bind, the pre-bind
  // queue, the lookup, and the callback. `send(state, port, ip)` does the
  // native sends and returns 0 or a negative errno.
  function sendMany(self, send, count, port, address, callback) {
    const state = self[kStateSymbol];
    const connected = isConnected(state);
    if (typeof port === 'function') {
      callback = port;
      port = undefined;
      address = undefined;
    } else if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (connected) {
      if (port !== undefined || address !== undefined)
        throw new ERR_SOCKET_DGRAM_IS_CONNECTED();
    } else {
      port = validatePort(port, 'Port', false);
    }
    if (address != null)
      validateString(address, 'address');
    if (typeof callback !== 'function')
      callback = undefined;
    healthCheck(self);

    if (isUnbound(state))
      self.bind({ port: 0, exclusive: true }, null);
    if (!isBound(state)) {
      enqueue(self, () => sendMany(self, send, count, ...(connected ? [] : [port, address]), callback));
      return;
    }

    const afterLookup = (ex, ip) => {
      if (ex) {
        if (callback) process.nextTick(callback, ex);
        else process.nextTick(() => self.emit('error', ex));
        return;
      }
      if (!state.handle) return;
      // Sends this tick gathered go first: datagrams leave in call order.
      flushSends(self);
      const err = send(state, connected ? 0 : port, ip);
      if (callback) {
        if (err < 0) process.nextTick(callback, new ExceptionWithHostPort(err, 'send', address, port));
        else process.nextTick(callback, null, count);
      }
    };
    if (connected) afterLookup(null, null);
    else state.handle.lookup(address, afterLookup);
  }
}

// Sends `list` as runs of equal-size datagrams. Returns 0, or the negative
// errno that stopped the batch.
function sendRuns(state, list, port, ip) {
  const { handle } = state;
  let start = 0;
  while (start < list.length) {
    const size = list[start].length;
    let end = start + 1;
    while (end < list.length && list[end].length === size && size > 0) end++;
    const run = end - start === 1 ? list[start] : Buffer.concat(list.slice(start, end));
    const err = sendRun(state, run, Math.max(size, 1), port, ip);
    if (err < 0) return err;
    start = end;
  }
  return 0;
}

// One native sendBatch. Datagrams the handle queued complete through onsend
// like queued sends, one completion each, so each gets a place in the FIFO of
// queued requests (with no callback of its own). Returns 0 or a negative errno.
function sendRun(state, data, segmentSize, port, ip) {
  const { handle } = state;
  const queuedBefore = handle.getSendQueueCount();
  const sent = handle.sendBatch(data, segmentSize, port, ip);
  if (sent < 0) return sent;
  const queued = handle.getSendQueueCount() - queuedBefore;
  for (let i = 0; i < queued; i++) state.sendReqs.push({ list: [], callback: undefined });
  return 0;
}

// Splits what one read gave (a GRO batch, or one datagram) into views.
function splitBatch(buf, segment) {
  if (buf.length === 0) return [buf];
  const messages = [];
  for (let offset = 0; offset < buf.length; offset += segment)
    messages.push(buf.subarray(offset, Math.min(offset + segment, buf.length)));
  return messages;
}

module.exports = { install, splitBatch };
