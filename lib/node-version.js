'use strict'

// Where node:dgram changed between the Node versions dgram-rs supports, what
// the running version's does: dgram-rs follows it (the contract is "what
// node:dgram of the running Node does"). Read from the official builds' own
// lib/dgram.js and lib/internal/dgram.js; __test__/node-version.test.js checks
// each flag against the running node:dgram itself. By release line: the first
// minor that has the change (a line not listed never has it; every line after
// the last listed one has it).

const [major, minor] = process.versions.node.split('.').map(Number)

function since (firsts) {
  const lines = Object.keys(firsts).map(Number)
  if (major > Math.max(...lines)) return true
  return firsts[major] !== undefined && minor >= firsts[major]
}

module.exports = {
  // socket.bindSync() and socket.connectSync().
  syncMethods: since({ 24: 19, 26: 4 }),
  // The default lookup answers an IP literal of the socket's family itself,
  // without dns.lookup, and reads dns.lookup at every lookup rather than
  // keeping the one of the socket's creation.
  literalLookup: since({ 24: 19, 26: 5 }),
  // bind(port, callback) waits for the error with EventEmitter.errorMonitor
  // instead of an 'error' listener: a failed bind with no 'error' listener
  // of the user's throws (crashes the process), as any 'error' event does.
  bindErrorMonitor: since({ 24: 21, 26: 8 }),
  // DEP0112's private properties (_handle, _receiving, _bindState, _queue,
  // _reuseAddr, _healthCheck, _stopReceiving) and dgram._createSocketHandle.
  deprecatedPrivates: major < 25
}
