'use strict'
// The order of 'message' handlers vs process.nextTick vs promise jobs: each datagram is delivered
// in its own callback scope, so the ticks and microtasks queued by one handler run before the next
// datagram's handler.
const assert = require('node:assert')
const { parity, until, bindLoopback } = require('./helpers/impls')

function instrument (r, t) {
  r.on('message', (m) => {
    const k = m.toString()
    t.log(`message ${k}`)
    process.nextTick(() => {
      t.log(`tick ${k}`)
      Promise.resolve().then(() => t.log(`tick→promise ${k}`))
      process.nextTick(() => t.log(`tick→tick ${k}`))
    })
    Promise.resolve().then(() => {
      t.log(`promise ${k}`)
      process.nextTick(() => t.log(`promise→tick ${k}`))
      Promise.resolve().then(() => t.log(`promise→promise ${k}`))
    })
    queueMicrotask(() => t.log(`microtask ${k}`))
  })
  r.on('message', (m) => t.log(`second listener ${m}`))
}

const expectedFor = (k) => [
  `message ${k}`, `second listener ${k}`,
  `tick ${k}`, `tick→tick ${k}`,
  `promise ${k}`, `microtask ${k}`, `tick→promise ${k}`, `promise→promise ${k}`,
  `promise→tick ${k}`
]

for (const senderKind of ['same implementation', 'node:dgram']) {
  parity(`receive order: 'message' vs nextTick vs promise jobs (sender: ${senderKind})`, async (ctx) => {
    const t = ctx.transcript()
    const r = ctx.socket('udp4')
    const rp = await bindLoopback(r)
    const s = senderKind === 'node:dgram' ? ctx.node('udp4') : ctx.socket('udp4')
    await bindLoopback(s)
    instrument(r, t)
    s.send('1', rp, '127.0.0.1')
    s.send('2', rp, '127.0.0.1')
    s.send('3', rp, '127.0.0.1')
    await until(() => t.entries.length === 27)
    await new Promise((resolve) => setTimeout(resolve, 10))
    return t.entries
  }, (entries) => {
    assert.deepStrictEqual(entries, [...expectedFor(1), ...expectedFor(2), ...expectedFor(3)])
  })
}

// Same, with the three datagrams sent in one tick, so they are all waiting in the kernel before
// the loop polls the receiver: one readiness event finds all of them.
parity('receive order: a burst already queued in the kernel', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.socket('udp4')
  const rp = await bindLoopback(r)
  const s = ctx.node('udp4')
  await bindLoopback(s)
  instrument(r, t)
  await ctx.macro(() => {
    s.send('1', rp, '127.0.0.1')
    s.send('2', rp, '127.0.0.1')
    s.send('3', rp, '127.0.0.1')
    t.log('sync end')
  })
  await until(() => t.entries.length === 28)
  await new Promise((resolve) => setTimeout(resolve, 10))
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, ['sync end', ...expectedFor(1), ...expectedFor(2), ...expectedFor(3)])
})
