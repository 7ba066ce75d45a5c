'use strict'
// send() over generated argument shapes, on an unconnected and on a connected socket: every shape
// must have node:dgram's outcome (what it throws, what its callback gets, what 'error' reports, what
// arrives). dgram-rs's additions must never give a call node:dgram accepts or rejects another
// meaning: the per-send options have a method of their own (sendWithOptions), so an object in
// send()'s second place is node:dgram's bad port, or, connected, its ignored callback.
const assert = require('node:assert')
const { parity, bindLoopback, describeError, withTimeout } = require('./helpers/impls')

// What each token stands for (PORT: the receiver's port); msg tokens come first in a shape.
const MSGS = ['MSTR', 'MBUF', 'MLIST', 'MU8', 'MNUM']
const ARGS = ['PORT', 'ADDR', 'HOST', 'EMPTY', 'ZERO', 'ONE', 'TWO', 'NEG', 'BIG', 'CB', 'OBJ', 'OBJPORT',
  'OBJBADPORT', 'OBJTOS', 'EMPTYOBJ', 'UNDEF', 'NULL', 'STR', 'ARR', 'TRUE']

// Shapes: every object token in second place with each third argument, node:dgram's documented
// forms, and a seeded random sample of 1 to 6 arguments.
function shapes () {
  const out = []
  for (const obj of ['OBJ', 'OBJPORT', 'OBJBADPORT', 'OBJTOS', 'EMPTYOBJ']) {
    for (const third of [undefined, 'CB', 'ADDR', 'PORT', 'UNDEF']) {
      out.push(third === undefined ? ['MSTR', obj] : ['MSTR', obj, third])
    }
    out.push(['MSTR', obj, 'ADDR', 'CB'], ['MBUF', 'ONE', 'TWO', obj], ['MBUF', 'ONE', 'TWO', obj, 'CB'])
  }
  out.push(['MSTR'], ['MSTR', 'CB'], ['MSTR', 'PORT'], ['MSTR', 'PORT', 'CB'], ['MSTR', 'PORT', 'ADDR'],
    ['MSTR', 'PORT', 'ADDR', 'CB'], ['MBUF', 'ONE', 'TWO', 'PORT', 'ADDR', 'CB'], ['MBUF', 'ONE', 'TWO', 'PORT', 'CB'],
    ['MBUF', 'ONE', 'TWO', 'CB'], ['MBUF', 'ONE', 'TWO'], ['MLIST', 'PORT', 'HOST', 'CB'])
  let seed = 0x5eed
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  for (let i = 0; i < 240; i++) {
    const shape = [MSGS[rand(MSGS.length)]]
    const n = rand(6)
    for (let j = 0; j < n; j++) shape.push(ARGS[rand(ARGS.length)])
    out.push(shape)
  }
  return out
}

function materialize (token, i, port, callback) {
  switch (token) {
    case 'MSTR': return `m${i}`
    case 'MBUF': return Buffer.from(`m${i}`)
    case 'MLIST': return [`m${i}`, '!']
    case 'MU8': return new Uint8Array(Buffer.from(`m${i}`))
    case 'MNUM': return 5
    case 'PORT': return port
    case 'ADDR': return '127.0.0.1'
    case 'HOST': return 'localhost'
    case 'EMPTY': return ''
    case 'ZERO': return 0
    case 'ONE': return 1
    case 'TWO': return 2
    case 'NEG': return -1
    case 'BIG': return 70000
    case 'CB': return callback
    case 'OBJ': return { port, address: '127.0.0.1' }
    case 'OBJPORT': return { port }
    case 'OBJBADPORT': return { port: 'abc' }
    case 'OBJTOS': return { tos: 1 }
    case 'EMPTYOBJ': return {}
    case 'UNDEF': return undefined
    case 'NULL': return null
    case 'STR': return 'abc'
    case 'ARR': return []
    case 'TRUE': return true
  }
  throw new Error(`unknown token ${token}`)
}

const CHUNK = 20

for (const connected of [false, true]) {
  parity(`send: ${shapes().length} argument shapes on ${connected ? 'a connected' : 'an unconnected'} socket have node:dgram's outcome`, async (ctx) => {
    const r = ctx.node('udp4')
    const port = await bindLoopback(r)
    const received = []
    let sentinel = null
    r.on('message', (m) => {
      if (String(m) === 'sentinel') sentinel?.()
      else received.push(String(m))
    })
    const s = ctx.socket('udp4')
    await bindLoopback(s)
    if (connected) await new Promise((resolve) => s.connect(port, '127.0.0.1', resolve))
    const errors = []
    s.on('error', (e) => errors.push(describeError(e, { [port]: 'PORT' })))
    const all = shapes()
    const outcomes = []
    const callbacks = []
    for (let start = 0; start < all.length; start += CHUNK) {
      for (let i = start; i < Math.min(start + CHUNK, all.length); i++) {
        const callback = (err, bytes) => callbacks.push([i, err ? describeError(err, { [port]: 'PORT' }) : null, bytes])
        const args = all[i].map((token) => materialize(token, i, port, callback))
        try {
          s.send(...args)
          outcomes.push([i, all[i].join(' '), 'returned'])
        } catch (e) {
          outcomes.push([i, all[i].join(' '), describeError(e, { [port]: 'PORT' })])
        }
      }
      // Datagrams from one socket to another on loopback arrive in order: once the sentinel is
      // here, every datagram of the chunk is. The lookups of 'localhost' answer before that too
      // (they were asked first), and a tick later every callback has run.
      await withTimeout(new Promise((resolve) => {
        sentinel = resolve
        if (connected) s.send('sentinel')
        else s.send('sentinel', port, '127.0.0.1')
      }), 5000, 'sentinel')
      await new Promise((resolve) => setImmediate(resolve))
    }
    callbacks.sort((a, b) => a[0] - b[0])
    // The receiver's port, wherever it appears (messages name it in several ways), as a label.
    const result = JSON.stringify({ outcomes, callbacks, errors, received: received.sort() })
    return JSON.parse(result.split(String(port)).join('PORT'))
  }, (r) => {
    // The oracle is not vacuous: some shapes send, some throw, some call back.
    assert.ok(r.outcomes.some((o) => o[2] === 'returned'))
    assert.ok(r.outcomes.some((o) => o[2] !== 'returned'))
    assert.ok(r.callbacks.length > 0)
    assert.ok(r.received.length > 0)
  }, { timeout: 30000 })
}
