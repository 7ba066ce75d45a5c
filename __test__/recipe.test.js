'use strict'
// The recipe that started the project, run unchanged from examples/: a server on the
// fixed port 1339 and a client on 1400 that sends before its bind completed, with no address.
// This is the only test file that uses the fixed ports 1339 and 1400.
const assert = require('node:assert')
const { test } = require('node:test')
const fs = require('node:fs')
const path = require('node:path')
const { runPair, nodeDgramCopies, PROGRAMS } = require('../examples/side-by-side')
const { IMPLS } = require('./helpers/impls')

const SELFCHECK = IMPLS[1].module === 'node:dgram'

test('recipe: examples/client.js and server.js are the recipe with only the require line changed', () => {
  const client = fs.readFileSync(path.join(__dirname, '..', 'examples', 'client.js'), 'utf8')
  const server = fs.readFileSync(path.join(__dirname, '..', 'examples', 'server.js'), 'utf8')
  assert.strictEqual(client, [
    "const dgram = require('dgram-rs')",
    "const socket = dgram.createSocket('udp4')",
    "const name = process.argv[2] || 'Dave'",
    'socket.bind(1400)',
    'socket.send(name, 1339)',
    "socket.on('message', (data) => {",
    'console.log(data.toString())',
    '})',
    ''
  ].join('\n'))
  assert.strictEqual(server, [
    "const dgram = require('dgram-rs')",
    "const socket = dgram.createSocket('udp4')",
    'socket.bind(1339)',
    "socket.on('message', (name) => {",
    'socket.send(`Hi ${name}!`, 1400)', // eslint-disable-line no-template-curly-in-string
    '})',
    ''
  ].join('\n'))
})

test('recipe: the client prints "Hi Dave!" on every pairing of implementations', { timeout: 60000 }, async () => {
  const copies = nodeDgramCopies()
  try {
    const progs = { 'node:dgram': copies, 'dgram-rs': SELFCHECK ? copies : PROGRAMS['dgram-rs'] }
    const results = {}
    for (const [server, client] of [['node:dgram', 'node:dgram'], ['dgram-rs', 'dgram-rs'], ['node:dgram', 'dgram-rs'], ['dgram-rs', 'node:dgram']]) {
      results[`server ${server}, client ${client}`] = await runPair(progs[server].server, progs[client].client, 'Dave')
    }
    // The oracle first, so the test cannot pass vacuously.
    assert.deepStrictEqual(results['server node:dgram, client node:dgram'], { stdout: 'Hi Dave!\n', stderr: '' })
    const expected = {}
    for (const k of Object.keys(results)) expected[k] = { stdout: 'Hi Dave!\n', stderr: '' }
    assert.deepStrictEqual(results, expected)
  } finally {
    fs.rmSync(copies.dir, { recursive: true, force: true })
  }
})

test('recipe: examples/multicore-server.js, both ways, answers the client as server.js does', {
  timeout: 60000,
  skip: process.env.DGRAM_RS_FALLBACK === '1' && 'the threads way needs reusePort, which node:dgram 20 (the fallback) lacks'
}, async (ctx) => {
  if (SELFCHECK) return ctx.skip('dgram-rs only')
  const multicore = path.join(__dirname, '..', 'examples', 'multicore-server.js')
  // runPair starts the server without arguments: a wrapper passes 'threads'.
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'multicore-'))
  const threads = path.join(dir, 'threads.js')
  fs.writeFileSync(threads, `process.argv.splice(2, 0, 'threads')\nrequire(${JSON.stringify(multicore)})\n`)
  try {
    const results = {
      cluster: await runPair(multicore, PROGRAMS['dgram-rs'].client, 'Dave'),
      threads: await runPair(threads, PROGRAMS['dgram-rs'].client, 'Dave')
    }
    const expected = { stdout: 'Hi Dave!\n', stderr: '' }
    assert.deepStrictEqual(results, { cluster: expected, threads: expected })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
