'use strict'
// Passing a socket to a child process: subprocess.send(message, socket) takes a node:dgram socket
// (Node's child_process docs list dgram.Socket among the handles it sends), and the child gets a
// socket bound to the same port that receives on it. Each case runs in a child process
// (__test__/fixtures/send-to-child.js, which forks the receiving child) on node:dgram and on
// dgram-rs, with the same transcript.
const { nodeCommand } = require('./helpers/node-command')
const assert = require('node:assert')
const { test } = require('node:test')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { IMPLS, REPO_ROOT } = require('./helpers/impls')

const SCRIPT = path.join(__dirname, 'fixtures', 'send-to-child.js')

function run (moduleName, kind) {
  return new Promise((resolve, reject) => {
    const child = spawn(...nodeCommand([SCRIPT, moduleName, kind]), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      try {
        resolve({ code, ...JSON.parse(stdout) })
      } catch {
        reject(new Error(`exited ${code} without a transcript: ${stdout} ${stderr}`))
      }
    })
  })
}

async function parity (kind, check) {
  const expected = await run(IMPLS[0].module, kind)
  check(expected)
  const actual = await run(IMPLS[1].module, kind)
  assert.deepStrictEqual(actual, expected)
}

test('child process: a bound socket is sent; the child receives on the same port, the parent keeps its socket until it closes it', async () => {
  await parity('bound', (r) => assert.deepStrictEqual(r, {
    code: 0,
    isNodeSocket: true,
    sendError: null,
    parentAddress: true,
    child: { message: 'socket', socket: 'Socket', isNodeSocket: true, port: true, received: 'hello' },
    rebind: 'bound'
  }))
})

test('child process: an unbound socket fails the send with EBADF', async () => {
  await parity('unbound', (r) => assert.deepStrictEqual(r, { code: 0, isNodeSocket: true, sendError: 'EBADF' }))
})

test('child process: a closed socket sends the message alone', async () => {
  await parity('closed', (r) => assert.deepStrictEqual(r, { code: 0, isNodeSocket: true, sendError: null, child: { message: 'socket', socket: 'none' } }))
})
