'use strict'
// The send queue: datagrams the socket cannot take at once wait in order and complete later.
// Loopback rarely fills a socket buffer, so these tests queue every send the way Node's own tests
// of the queue-info methods do, with Node's --test-udp-no-try-send flag, in a child process.
const assert = require('node:assert')
const { test } = require('node:test')
const { IMPLS } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

const NO_TRY_SEND = { execArgv: ['--test-udp-no-try-send'] }

// Runs `body` under the flag for each implementation; returns the parsed last line of stdout.
async function underFlag (impl, body) {
  const r = await runChild(impl.module, body, NO_TRY_SEND)
  assert.strictEqual(r.code, 0, `${impl.name}: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

// What Node's test-dgram-send-queue-info.js checks, and the completions and their order.
const QUEUE_INFO = `
const out = []
const socket = dgram.createSocket('udp4')
out.push(['fresh', socket.getSendQueueSize(), socket.getSendQueueCount()])
socket.close()
const server = dgram.createSocket('udp4')
const client = dgram.createSocket('udp4')
server.bind(0, () => {
  client.connect(server.address().port, () => {
    client.send('hello', (err, n) => out.push(['first', err, n, client.getSendQueueCount()]))
    client.send('hello!', (err, n) => out.push(['second', err, n, client.getSendQueueCount()]))
    out.push(['queued', client.getSendQueueSize(), client.getSendQueueCount()])
    setImmediate(() => out.push(['immediate', client.getSendQueueCount()]))
    setTimeout(() => {
      out.push(['later', client.getSendQueueSize(), client.getSendQueueCount()])
      client.close(); server.close()
      console.log(JSON.stringify(out))
    }, 50)
  })
})
`

test('send queue: under --test-udp-no-try-send, sends are counted until they complete, as in Node\'s own test', async () => {
  const expected = await underFlag(IMPLS[0], QUEUE_INFO)
  assert.deepStrictEqual(expected.slice(0, 2), [['fresh', 0, 0], ['queued', 11, 2]])
  const actual = await underFlag(IMPLS[1], QUEUE_INFO)
  assert.deepStrictEqual(actual, expected)
})

// A queued send's callback on close: ECANCELED, after 'close'.
const CANCELLED = `
const out = []
const server = dgram.createSocket('udp4')
const client = dgram.createSocket('udp4')
server.bind(0, () => {
  client.connect(server.address().port, () => {
    client.send('a', (err, n) => out.push(['a', err && err.code, n]))
    client.send('bc', (err, n) => out.push(['bc', err && err.code, n]))
    client.close(() => out.push('close'))
    server.close()
    setTimeout(() => console.log(JSON.stringify(out)), 50)
  })
})
`

test('send queue: close() reports queued sends after the close event: sent, or cancelled with ECANCELED', async () => {
  const expected = await underFlag(IMPLS[0], CANCELLED)
  // libuv sent the first at once (its queue was empty) and reports it as sent.
  assert.deepStrictEqual(expected, ['close', ['a', null, 1], ['bc', 'ECANCELED', 2]])
  assert.deepStrictEqual(await underFlag(IMPLS[1], CANCELLED), expected)
})

// sendBatch is dgram-rs's own: its callback waits for every queued datagram.
test('send queue (dgram-rs): a queued batch calls back once all its datagrams are sent; close() cancels one', async () => {
  const out = await underFlag(IMPLS[1], `
const out = []
const r = dgram.createSocket('udp4')
const s = dgram.createSocket('udp4')
const got = []
r.on('message', (m) => got.push(String(m)))
r.bind(0, '127.0.0.1', () => {
  s.connect(r.address().port, '127.0.0.1', () => {
    s.sendBatch(['a', 'b', 'c'], (err, n) => out.push(['messages', err, n, s.getSendQueueCount()]))
    s.sendBatch(Buffer.from('defg'), 2, (err, n) => out.push(['buffer', err, n, s.getSendQueueCount()]))
    out.push(['queued', s.getSendQueueCount()])
    setTimeout(() => {
      out.push(['got', got])
      s.send('w')
      s.sendBatch(['x', 'y'], (err, n) => out.push(['cancelled', err && err.code, n]))
      s.close(() => out.push('close'))
      r.close()
      setTimeout(() => console.log(JSON.stringify(out)), 50)
    }, 50)
  })
})
`)
  assert.deepStrictEqual(out, [
    ['queued', 5],
    // Counted until each datagram's completion: the batch's last one runs its callback.
    ['messages', null, 3, 2],
    ['buffer', null, 2, 0],
    ['got', ['a', 'b', 'c', 'de', 'fg']],
    'close',
    ['cancelled', 'ECANCELED', 0]
  ])
})
