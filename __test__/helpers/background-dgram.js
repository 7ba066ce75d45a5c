'use strict'
// dgram-rs with backgroundReceive on for every socket: DGRAM_TEST_BACKGROUND=1 runs the behaviour
// suite on it, so that every parity test also proves the background path delivers as node:dgram
// does (order, rinfo, ticks, close, exit, workers).
const dgram = require('dgram-rs')

function withBackground (type) {
  if (type !== null && typeof type === 'object') return { backgroundReceive: true, ...type }
  return { type, backgroundReceive: true }
}

module.exports = {
  ...dgram,
  createSocket: (type, listener) => dgram.createSocket(withBackground(type), listener)
}
