'use strict'

// dgram-rs: a drop-in replacement for node:dgram. With the native addon, the
// public surface is exactly node:dgram's (see lib/socket.js for the Socket
// class). Where no addon loads (lib/native.js says why), node:dgram's own
// module with dgram-rs's additions in JavaScript (lib/fallback.js), one
// warning, and `native: false`.

const { deprecate } = require('util')

let reason = null
if (process.env.DGRAM_RS_FALLBACK === '1') {
  reason = 'DGRAM_RS_FALLBACK=1'
} else {
  try {
    require('./lib/native.js')
  } catch (e) {
    // Only "there is none": an addon that fails to load throws its reason.
    if (e.code !== 'DGRAM_RS_NO_NATIVE') throw e
    reason = e.message
  }
}

if (reason === null) {
  const { createSocket, Socket } = require('./lib/socket.js')
  module.exports = {}
  // Removed in Node 25, as the other DEP0112 APIs (lib/node-version.js).
  if (require('./lib/node-version.js').deprecatedPrivates) {
    module.exports._createSocketHandle = deprecate(
      require('./lib/handle.js')._createSocketHandle,
      'dgram._createSocketHandle() is deprecated',
      'DEP0112'
    )
  }
  Object.assign(module.exports, { createSocket, Socket, native: true })
} else {
  module.exports = { ...require('./lib/fallback.js'), native: false }
  // Asked for with the variable: no warning. Otherwise one per thread, even
  // if two copies of the package are loaded.
  const warned = Symbol.for('dgram-rs.fallbackWarned')
  if (reason !== 'DGRAM_RS_FALLBACK=1' && !process[warned]) {
    process[warned] = true
    process.emitWarning(`no native addon for ${process.platform}-${process.arch}: ${reason}. ` +
      'Using node:dgram, with sendBatch and receiveBatches done in JavaScript (slower, same results).',
    { type: 'DgramRsWarning', code: 'DGRAM_RS_FALLBACK' })
  }
}
