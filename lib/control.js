'use strict'

// dgram-rs's per-datagram metadata, send control and statistics, all opt-in
// (docs/extensions.md): createSocket's receiveInfo, maxMessageSize and
// receiveErrors options, the socket methods setTOS / getTOS /
// setDontFragment / getPathMTU / getStats, and the per-send options of
// sendWithOptions(msg, { port, address, tos, sourceAddress }, callback).
// Without them, a socket is exactly node:dgram's.

const { getSystemErrorName } = require('util')
const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE
  },
  ErrnoException
} = require('./errors.js')
const { isIP, validateInteger, validateNumber } = require('./validators.js')
const { kStateSymbol } = require('./handle.js')

// The read buffer per datagram, and so the largest maxMessageSize.
const MAX_MESSAGE_SIZE = 65536

function validateBooleanOption (value, name) {
  if (value !== undefined && typeof value !== 'boolean') { throw new ERR_INVALID_ARG_TYPE(name, 'boolean', value) }
  return value === true
}

// Returns { receiveInfo, maxMessageSize, receiveErrors } for the options a
// socket is created with, or undefined when none of them is given.
function validateControlOptions (options) {
  const { receiveInfo, maxMessageSize, receiveErrors } = options
  if (receiveInfo === undefined && maxMessageSize === undefined &&
      receiveErrors === undefined) { return undefined }
  const control = {
    receiveInfo: validateBooleanOption(receiveInfo, 'options.receiveInfo'),
    maxMessageSize: undefined,
    receiveErrors: validateBooleanOption(receiveErrors, 'options.receiveErrors')
  }
  if (maxMessageSize !== undefined) {
    validateInteger(maxMessageSize, 'options.maxMessageSize', 1, MAX_MESSAGE_SIZE)
    control.maxMessageSize = maxMessageSize
  }
  return control
}

// The names of sock_extended_err's origins (linux/errqueue.h).
const ORIGINS = ['none', 'local', 'icmp', 'icmp6']

// Applies the options to a socket's handle once its OS socket exists (when
// it starts listening). Returns 0 or a negative errno.
function applyControl (socket, handle, control) {
  let err = 0
  if (control.receiveInfo) { err = handle.setReceiveInfo() }
  if (!err && control.maxMessageSize !== undefined) { err = handle.setMaxMessageSize(control.maxMessageSize) }
  if (!err && control.receiveErrors) {
    err = handle.setReceiveErrors((errno, origin, type, code, offender, address, port) => {
      socket.emit('icmp', {
        code: getSystemErrorName(errno),
        errno,
        origin: ORIGINS[origin] ?? origin,
        type,
        icmpCode: code,
        offender,
        address,
        port
      })
    })
  }
  return err
}

// Validates the per-send options; returns { tos, sourceAddress } with tos
// -1 when not given.
function validateSendControl (options, family) {
  const { tos, sourceAddress } = options
  let value = -1
  if (tos !== undefined) {
    validateInteger(tos, 'options.tos', 0, 255)
    value = tos
  }
  if (sourceAddress !== undefined) {
    if (typeof sourceAddress !== 'string') { throw new ERR_INVALID_ARG_TYPE('options.sourceAddress', 'string', sourceAddress) }
    if (isIP(sourceAddress.split('%')[0]) !== family) {
      throw new ERR_INVALID_ARG_VALUE('options.sourceAddress', sourceAddress,
                                      `must be an IPv${family} address`)
    }
  }
  return { tos: value, sourceAddress: sourceAddress ?? null }
}

// getStats()'s fields, in the order the handle gives them.
const STATS = ['datagramsReceived', 'bytesReceived', 'datagramsSent', 'bytesSent',
  'droppedByKernel', 'droppedByQueue']

function installControlMethods (proto) {
  // What the socket has received, sent and lost. droppedByKernel is the
  // kernel's own count for the socket (a full receive buffer, mostly);
  // droppedByQueue counts what a full backgroundReceive inbox dropped. After
  // close(), the figures at the moment of closing.
  proto.getStats = function getStats () {
    const state = this[kStateSymbol]
    const handle = state.handle || state.closedHandle
    const values = handle ? handle.getStats() : undefined
    const stats = {}
    for (let i = 0; i < STATS.length; i++) { stats[STATS[i]] = values === undefined ? 0 : values[i] }
    return stats
  }

  // IPv4 TOS / IPv6 traffic class of every datagram the socket sends; taken
  // as setTTL takes the TTL (a number, ToInt32, 0..255 else EINVAL).
  proto.setTOS = function setTOS (tos) {
    validateNumber(tos, 'tos')
    const err = this[kStateSymbol].handle.setTOS(tos | 0)
    if (err) { throw new ErrnoException(err, 'setTOS') }
    return tos
  }

  proto.getTOS = function getTOS () {
    const tos = this[kStateSymbol].handle.getTOS()
    if (tos < 0) { throw new ErrnoException(tos, 'getTOS') }
    return tos
  }

  // The DF bit (IP_PMTUDISC_DO): larger sends than the path MTU fail with
  // EMSGSIZE instead of being fragmented.
  proto.setDontFragment = function setDontFragment (flag) {
    const err = this[kStateSymbol].handle.setDontFragment(!!flag)
    if (err) { throw new ErrnoException(err, 'setDontFragment') }
  }

  // The kernel's path MTU to the connected peer.
  proto.getPathMTU = function getPathMTU () {
    this.remoteAddress() // ERR_SOCKET_DGRAM_NOT_CONNECTED, as node:dgram's.
    const mtu = this[kStateSymbol].handle.getPathMTU()
    if (mtu < 0) { throw new ErrnoException(mtu, 'getPathMTU') }
    return mtu
  }
}

module.exports = {
  applyControl,
  installControlMethods,
  validateControlOptions,
  validateSendControl
}
