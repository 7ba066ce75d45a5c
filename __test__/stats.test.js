'use strict'
// getStats() under receive offload (issue 18 item 2). droppedByKernel is the kernel's own drop
// counter for the socket (sk_drops), in the kernel's unit: a packet. A datagram that arrives on
// its own is one packet, so with offload off the figures add up exactly to what was sent; a GSO
// sender's batch that the kernel keeps coalesced for a socket with offload on (GRO) is one
// packet however many datagrams it holds, and counts once when dropped. These tests pin both, so
// that the documentation says what the counter counts. dgram-rs only (getStats is dgram-rs's).
const assert = require('node:assert')
const { test } = require('node:test')
const { bindLoopback } = require('./helpers/impls')

const OPTS = { skip: process.env.DGRAM_RS_FALLBACK === '1' && 'getStats of the native addon', timeout: 15000 }

// Waits until the socket's count stops moving (bounded), then returns its stats.
async function settled (r, count) {
  let last = -1
  for (let i = 0; i < 100 && count() !== last; i++) {
    last = count()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return r.getStats()
}

for (const backgroundReceive of [false, true]) {
  test(`getStats: datagrams arriving one by one add up exactly, drops included (backgroundReceive: ${backgroundReceive})`, OPTS, async () => {
    const dgram = require('dgram-rs')
    // maxMessageSize below 65536 keeps offload off (and cuts nothing: no UDP payload is longer).
    const r = dgram.createSocket({ type: 'udp4', backgroundReceive, maxMessageSize: 65535, recvBufferSize: 4096 })
    const s = require('node:dgram').createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      await bindLoopback(s)
      let got = 0
      r.on('message', () => { got++ })
      // Sent in one tick, faster than a small receive buffer takes them: the kernel drops some.
      const SENT = 2000
      for (let i = 0; i < SENT; i++) s.send(Buffer.alloc(200), port, '127.0.0.1')
      await new Promise((resolve) => s.send('', port, '127.0.0.1', resolve))
      const stats = await settled(r, () => got)
      assert.ok(stats.droppedByKernel > 0, 'the buffer overflowed')
      assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, SENT + 1)
      assert.strictEqual(got, stats.datagramsReceived)
    } finally {
      r.close()
      s.close()
    }
  })

  test(`getStats: with receive offload on, a dropped coalesced batch counts once (backgroundReceive: ${backgroundReceive})`, OPTS, async () => {
    const dgram = require('dgram-rs')
    const r = dgram.createSocket({ type: 'udp4', backgroundReceive })
    const s = dgram.createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      await bindLoopback(s)
      let got = 0
      r.on('message', () => { got++ })
      // 64 datagrams in one tick: a full read, which turns offload on.
      for (let i = 0; i < 64; i++) s.send(Buffer.alloc(100), port, '127.0.0.1')
      await settled(r, () => got)
      r.setRecvBufferSize(4096)
      const before = r.getStats()
      // GSO batches of 64 datagrams in one tick: more than the small buffer holds. A reader on
      // another core (backgroundReceive) may keep up with one round: rounds until the kernel has
      // dropped some (bounded).
      let BATCHES = 0
      let stats
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 50; i++) s.sendBatch(Buffer.alloc(6400), 100, port, '127.0.0.1')
        BATCHES += 50
        stats = await settled(r, () => got)
        if (stats.droppedByKernel > before.droppedByKernel) break
      }
      const received = stats.datagramsReceived - before.datagramsReceived
      const kernel = stats.droppedByKernel - before.droppedByKernel
      const queue = stats.droppedByQueue - before.droppedByQueue
      assert.ok(kernel > 0, 'the buffer overflowed')
      // Each batch the kernel dropped counted once, though it held 64 datagrams.
      assert.strictEqual(received + kernel * 64 + queue, BATCHES * 64)
      assert.ok(received + kernel + queue < BATCHES * 64, 'so the sum understates the loss')
    } finally {
      r.close()
      s.close()
    }
  })
}
