'use strict'

// dgram-rs's reusePortBalance option: spreading the datagrams of a
// SO_REUSEPORT group evenly over its sockets (src/sys/reuseport.rs attaches a
// classic BPF program to the group). Validated when the socket is created,
// applied right after the socket binds itself.

const {
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_INVALID_ARG_VALUE
  }
} = require('./errors.js')
const { validateInteger } = require('./validators.js')

const BALANCES = ['flow', 'datagram']
// The kernel grows a reuseport group up to 65535 sockets.
const MAX_RECEIVERS = 65535

// Returns { by, receivers } for options.reusePortBalance, or undefined when
// it is not given; throws Node-style errors for anything else.
function validateReusePortBalance (options, value = options.reusePortBalance) {
  if (value === undefined) { return undefined }
  const name = 'options.reusePortBalance'
  if (value === null || typeof value !== 'object' || Array.isArray(value)) { throw new ERR_INVALID_ARG_TYPE(name, 'Object', value) }
  if (options.reusePort !== true) { throw new ERR_INVALID_ARG_VALUE(name, value, 'requires options.reusePort to be true') }
  const { receivers, by = 'flow' } = value
  validateInteger(receivers, `${name}.receivers`, 1, MAX_RECEIVERS)
  if (!BALANCES.includes(by)) {
    throw new ERR_INVALID_ARG_VALUE(
      `${name}.by`, by, `must be one of: ${BALANCES.map((b) => `'${b}'`).join(', ')}`)
  }
  return { by, receivers }
}

// Attaches the balance to a bound handle's group: 0 or a negative errno.
function applyReusePortBalance (handle, balance) {
  return handle.setReusePortBalance(balance.by, balance.receivers)
}

module.exports = {
  applyReusePortBalance,
  validateReusePortBalance
}
