'use strict'

// dgram-rs's backgroundReceive option: the socket is read by a runtime
// thread into a bounded inbox, so datagrams are not lost while JavaScript is
// busy (src/recv/background/). Validated when the socket is created, applied
// when it starts receiving.

const {
  codes: {
    ERR_INVALID_ARG_TYPE
  }
} = require('./errors.js')
const { validateInteger } = require('./validators.js')

// The inbox's default budget, in bytes (about 100 ms at 40,000 datagrams/s
// of 200 B, with room to spare); the same as the native default.
const DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024
const MAX_QUEUE_BYTES = 2 ** 32 - 1

// The inbox budget for options.backgroundReceive (true, or
// { maxQueueBytes }), or undefined when off; Node-style errors otherwise.
function validateBackgroundReceive (options, value = options.backgroundReceive) {
  if (value === undefined || value === false) { return undefined }
  if (value === true) { return DEFAULT_MAX_QUEUE_BYTES }
  const name = 'options.backgroundReceive'
  if (value === null || typeof value !== 'object' || Array.isArray(value)) { throw new ERR_INVALID_ARG_TYPE(name, ['boolean', 'Object'], value) }
  const { maxQueueBytes = DEFAULT_MAX_QUEUE_BYTES } = value
  validateInteger(maxQueueBytes, `${name}.maxQueueBytes`, 1, MAX_QUEUE_BYTES)
  return maxQueueBytes
}

module.exports = { validateBackgroundReceive }
