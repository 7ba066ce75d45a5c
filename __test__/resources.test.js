'use strict'
// What Node's own inventories of the event loop show of an open socket: a documented difference.
// node:dgram's socket is a UDPWrap, a C++ HandleWrap, and Node lists those: as 'UDPWrap' in
// process.getActiveResourcesInfo(), as the Socket in process._getActiveHandles() (what wtfnode
// and why-is-node-running read), as a 'udp' handle with its port in process.report's libuv
// section. Those lists are built from Node's internal list of its own handle wraps, and Node-API
// gives an addon no way to join it. A native dgram-rs socket is not listed there; its readiness
// watcher, one per thread whatever the number of sockets, is a 'poll' handle in process.report.
// (The fallback is node:dgram, and is listed as it.)
const assert = require('node:assert')
const { test } = require('node:test')
const { IMPLS } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

const BODY = `
const before = process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length
const s = dgram.createSocket('udp4')
s.bind(0, '127.0.0.1', () => {
  const port = s.address().port
  const libuv = process.report.getReport().libuv
  console.log(JSON.stringify({
    native: dgram.native,
    resources: process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length - before,
    handles: typeof process._getActiveHandles === 'function' ? process._getActiveHandles().filter((h) => h === s).length : 'none',
    udp: libuv.filter((h) => h.type === 'udp' && h.localEndpoint && h.localEndpoint.port === port).length,
    poll: libuv.some((h) => h.type === 'poll' && h.is_active)
  }))
  s.close()
})`

test('handle lists: node:dgram\'s socket is listed by Node\'s inventories; a native dgram-rs socket is not (Node-API has no way in)', async () => {
  const results = []
  for (const impl of IMPLS) {
    const { code, stdout, stderr } = await runChild(impl.module, BODY)
    assert.strictEqual(code, 0, stderr)
    results.push(JSON.parse(stdout))
  }
  const [node, rs] = results
  const handles = node.handles === 'none' ? 'none' : 1
  assert.deepStrictEqual({ ...node, poll: undefined }, { resources: 1, handles, udp: 1, poll: undefined })
  if (rs.native !== true) return assert.deepStrictEqual({ ...rs, native: undefined }, { ...node, native: undefined })
  assert.deepStrictEqual(rs, { native: true, resources: 0, handles: handles === 'none' ? 'none' : 0, udp: 0, poll: true })
})
