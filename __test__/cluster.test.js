'use strict'
// Cluster workers share the primary's socket, as with node:dgram: a worker's bind() without
// `exclusive` asks the primary, which binds once and hands every worker the same socket.
const assert = require('node:assert')
const { nodeCommand } = require('./helpers/node-command')
const { test } = require('node:test')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { IMPLS } = require('./helpers/impls')

const FIXTURE = path.join(__dirname, 'fixtures', 'cluster-share.js')

function run (moduleName) {
  const r = spawnSync(...nodeCommand([FIXTURE, moduleName]), {
    cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 15000
  })
  assert.strictEqual(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

test('cluster: two workers bind one port through the primary and both receive', { timeout: 40000 }, () => {
  const [node, rs] = IMPLS.map((impl) => run(impl.module))
  assert.deepStrictEqual(node, { why: 'done', reports: ['listening', 'listening'], heard: [1, 2], samePort: true })
  assert.deepStrictEqual(rs, node)
})

// Node's cluster closes a worker's shared handles when it disconnects, through the socket that
// owns each: the worker then exits by itself, as with node:dgram.
const DISCONNECT = path.join(__dirname, 'fixtures', 'cluster-disconnect.js')
for (const [how, by] of [['bind', 'worker'], ['bind', 'cluster']]) {
  test(`cluster: a worker with a shared socket exits after ${by}.disconnect()`, { timeout: 40000 }, () => {
    const [node, rs] = IMPLS.map((impl) => {
      const r = spawnSync(...nodeCommand([DISCONNECT, impl.module, how, by]), {
        cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 15000
      })
      assert.strictEqual(r.status, 0, r.stderr)
      return JSON.parse(r.stdout.trim().split('\n').pop())
    })
    assert.deepStrictEqual(node, {
      events: ['listening'], code: 0, signal: null, exitedAfterDisconnect: true
    })
    assert.deepStrictEqual(rs, node)
  })
}
