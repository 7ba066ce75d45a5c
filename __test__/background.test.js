'use strict'
// dgram-rs's receive additions (node:dgram has none of them, so these run on dgram-rs only; the
// whole parity suite also runs with backgroundReceive on, DGRAM_TEST_BACKGROUND=1):
// - backgroundReceive: a runtime thread keeps reading while JavaScript is busy;
// - getStats(): what was received, sent, and dropped (by the kernel, or by a full inbox), so that
//   nothing is lost without being counted;
// - 'drain': the send queue has emptied;
// - socket.messages() / for await: a bounded async iterator that pauses reading.
const assert = require('node:assert')
const nodeTest = require('node:test')
const { bindLoopback, until, delay, withTimeout, IMPLS } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

// The fallback (node:dgram with the additions in JavaScript) has getStats() (received datagrams
// and the kernel's drops), messages() and for await: `both` tests run there too; the others need
// the native addon.
const test = process.env.DGRAM_RS_FALLBACK === '1'
  ? (name) => nodeTest.test(name, { skip: 'native addon only' }, () => {})
  : nodeTest.test
const both = nodeTest.test
const rs = () => require('dgram-rs')

function closeAll (...sockets) {
  for (const s of sockets) { try { s.close() } catch {} }
}

// Keeps JavaScript busy (a stall of the event loop) for `ms` milliseconds.
function busy (ms) {
  const end = Date.now() + ms
  while (Date.now() < end);
}

// A node:dgram child process that sends `total` datagrams to `port`, `perMs` every millisecond,
// and closes once the last is sent; `datagram` is the n-th's expression in the child (n from 0).
function pacedSender (port, total, perMs, datagram, options) {
  return runChild('node:dgram', `
const s = dgram.createSocket('udp4')
let n = 0
const t = setInterval(() => {
  for (let i = 0; i < ${perMs} && n < ${total}; i++, n++) {
    if (n === ${total - 1}) { clearInterval(t); s.send(${datagram}, ${port}, '127.0.0.1', () => s.close()) } else s.send(${datagram}, ${port}, '127.0.0.1')
  }
}, 1)
`, options)
}

// Resolves once `read()` has not changed for `quiet` ms (bounded by `ms`).
async function settled (read, quiet = 150, ms = 5000) {
  let last = JSON.stringify(read())
  let since = Date.now()
  const start = Date.now()
  while (Date.now() - start < ms) {
    await delay(10)
    const now = JSON.stringify(read())
    if (now !== last) { last = now; since = Date.now() } else if (Date.now() - since >= quiet) return
  }
  throw new Error('never settled')
}

test('getStats: datagrams and bytes sent and received, on the default and the background path', async () => {
  for (const backgroundReceive of [false, true]) {
    const r = rs().createSocket({ type: 'udp4', backgroundReceive })
    const s = rs().createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      let got = 0
      r.on('message', () => { got++ })
      await new Promise((resolve) => {
        let done = 0
        for (let i = 0; i < 10; i++) s.send(Buffer.alloc(i + 1), port, '127.0.0.1', () => { if (++done === 10) resolve() })
      })
      await until(() => got === 10)
      assert.deepStrictEqual(r.getStats(), {
        datagramsReceived: 10, bytesReceived: 55, datagramsSent: 0, bytesSent: 0, droppedByKernel: 0, droppedByQueue: 0
      }, `backgroundReceive: ${backgroundReceive}`)
      assert.strictEqual(s.getStats().datagramsSent, 10)
      assert.strictEqual(s.getStats().bytesSent, 55)
      r.close()
      assert.strictEqual(r.getStats().datagramsReceived, 10, 'the figures at close stay readable')
    } finally { closeAll(r, s) }
  }
})

both('getStats: a receiveBatches socket counts what its batches delivered (native and fallback)', async () => {
  for (const receiveBatches of [true, 'zero-copy']) {
    const r = rs().createSocket({ type: 'udp4', receiveBatches })
    const s = rs().createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      let got = 0
      r.on('messages', (messages) => { got += messages.length })
      await new Promise((resolve) => {
        let done = 0
        for (let i = 0; i < 10; i++) s.send(Buffer.alloc(i + 1), port, '127.0.0.1', () => { if (++done === 10) resolve() })
      })
      await until(() => got === 10)
      const { datagramsReceived, bytesReceived } = r.getStats()
      assert.deepStrictEqual({ datagramsReceived, bytesReceived }, { datagramsReceived: 10, bytesReceived: 55 },
        `receiveBatches: ${receiveBatches}`)
    } finally { closeAll(r, s) }
  }
})

// Sends `count` datagrams of 100 B in one synchronous loop (JavaScript busy the whole time), then
// waits until the receiver has read and delivered everything it will.
async function flood (r, count) {
  const port = r.address().port
  const s = rs().createSocket('udp4')
  await bindLoopback(s)
  const payload = Buffer.alloc(100)
  let sent = 0
  for (let i = 0; i < count; i++) s.sendBatch([payload], port, '127.0.0.1', (err, n) => { sent += err ? 0 : n })
  await until(() => sent === count, 5000, 'sends')
  s.close()
  return sent
}

both('getStats: under a flood, received + droppedByKernel + droppedByQueue equals what was sent', async () => {
  for (const backgroundReceive of [false, { maxQueueBytes: 16 * 1024 }]) {
    const r = rs().createSocket({ type: 'udp4', backgroundReceive, recvBufferSize: 16 * 1024 })
    try {
      await bindLoopback(r)
      let delivered = 0
      r.on('message', () => { delivered++ })
      const sent = await flood(r, 3000)
      await settled(() => [r.getStats(), delivered])
      const stats = r.getStats()
      const label = `backgroundReceive: ${JSON.stringify(backgroundReceive)} ${JSON.stringify(stats)}`
      assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, sent, label)
      assert.strictEqual(delivered, stats.datagramsReceived, 'every datagram counted as received reached \'message\'')
      assert.ok(stats.droppedByKernel + stats.droppedByQueue > 0, `the flood overflowed something: ${label}`)
      if (!backgroundReceive) assert.strictEqual(stats.droppedByQueue, 0)
    } finally { closeAll(r) }
  }
})

test('backgroundReceive: datagrams keep being read while JavaScript stalls, where the default path loses them', async () => {
  const got = {}
  for (const backgroundReceive of [false, true]) {
    // A kernel buffer of a few datagrams: whatever JavaScript does not read at once is lost.
    const r = rs().createSocket({ type: 'udp4', backgroundReceive, recvBufferSize: 4096 })
    try {
      const port = await bindLoopback(r)
      let delivered = 0
      r.on('message', () => { delivered++ })
      // Another process sends 300 datagrams, one per millisecond.
      const child = pacedSender(port, 300, 1, "'x'")
      await delay(20)
      // JavaScript stalls for 400 ms.
      busy(400)
      await child
      await settled(() => [r.getStats(), delivered])
      const stats = r.getStats()
      assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, 300, JSON.stringify(stats))
      got[backgroundReceive] = delivered
    } finally { closeAll(r) }
  }
  assert.ok(got.true >= 270, `background: ${got.true} of 300`)
  assert.ok(got.false < got.true, `default ${got.false} against background ${got.true}`)
})

// What it proves: while the inbox is (nearly) full the reader stops reading, instead of reading
// datagrams only to drop them at the inbox on a core JavaScript and the sender need; the kernel
// then drops what its buffer cannot hold. Without the rule the inbox dropped nearly all of the
// datagrams that this stall overflowed (hundreds); with it, at most the slots of the one read
// that crossed the line.
test('backgroundReceive: a full inbox stops the reader, the kernel drops the rest; every datagram counted', async () => {
  const r = rs().createSocket({ type: 'udp4', backgroundReceive: { maxQueueBytes: 16 * 1024 }, recvBufferSize: 16 * 1024 })
  try {
    const port = await bindLoopback(r)
    let delivered = 0
    r.on('message', () => { delivered++ })
    const total = 1200
    // Another process sends 1,200 datagrams of 200 bytes, four per millisecond.
    const child = pacedSender(port, total, 4, 'Buffer.alloc(200)')
    await delay(20)
    // JavaScript stalls for 500 ms: the 16 KiB inbox holds about 60 of them.
    busy(500)
    await child
    await settled(() => [r.getStats(), delivered])
    const stats = r.getStats()
    const label = JSON.stringify(stats)
    assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, total, label)
    assert.strictEqual(delivered, stats.datagramsReceived, label)
    assert.ok(stats.droppedByKernel > 100, `the kernel dropped what the stall overflowed: ${label}`)
    assert.ok(stats.droppedByQueue <= 32, `at most one read's slots dropped at the inbox: ${label}`)
  } finally { closeAll(r) }
})

test('backgroundReceive: through repeated stalls, the reader takes over and hands back each time; order kept, every datagram counted', async () => {
  // A kernel buffer of a few datagrams: during each 40 ms stall only the background reader can
  // keep up; between stalls the JavaScript thread reads again (the reader hands the socket back
  // once its inbox is empty, and must take it over again at the next stall).
  const r = rs().createSocket({ type: 'udp4', backgroundReceive: true, recvBufferSize: 4096 })
  try {
    const port = await bindLoopback(r)
    const seen = []
    r.on('message', (msg) => { seen.push(Number(msg.toString())) })
    const total = 1500
    // Another process sends 1,500 numbered datagrams, two per millisecond.
    const child = pacedSender(port, total, 2, 'String(n)', { timeout: 20000 })
    // JavaScript stalls for 40 ms every 80 ms until the sender is done.
    let stalls = 0
    let done = false
    const stall = setInterval(() => {
      if (done) return
      stalls++
      busy(40)
    }, 80)
    try { await child } finally { done = true; clearInterval(stall) }
    await settled(() => [r.getStats(), seen.length])
    const stats = r.getStats()
    const label = JSON.stringify({ stats, delivered: seen.length, stalls })
    assert.ok(stalls >= 5, `stalled only ${stalls} times`)
    assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, total, label)
    assert.strictEqual(seen.length, stats.datagramsReceived, label)
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] > seen[i - 1], `out of order at ${i}: ${seen[i - 1]} then ${seen[i]}`)
    // Each stall holds about 80 datagrams, 20 times what the kernel's buffer holds: without a
    // takeover at every stall most of them would be lost.
    assert.ok(seen.length >= total * 0.85, label)
  } finally { closeAll(r) }
})

// What it proves: a datagram delivered from the inbox carries its own sender, where senders
// alternate within the reader's reads. A turn of the inbox makes a sender's address and port once
// and gives them again only to that sender's next datagrams: giving them to every datagram of the
// turn fails here at the second sender's first datagram.
test('backgroundReceive: from the inbox, each datagram carries its own sender (two senders alternating through a stall)', async () => {
  // A kernel buffer of a few datagrams: what JavaScript does not read during the stall reaches it
  // through the reader's inbox, or not at all.
  const r = rs().createSocket({ type: 'udp4', backgroundReceive: true, recvBufferSize: 4096 })
  try {
    const port = await bindLoopback(r)
    const seen = []
    r.on('message', (msg, rinfo) => { seen.push([msg.toString(), `${rinfo.address}:${rinfo.port}`]) })
    const total = 300
    // Another process sends from two sockets (127.0.0.1 and 127.0.0.2) in turn, two datagrams a
    // millisecond, each datagram its sender's own address and port.
    const child = runChild('node:dgram', `
const a = dgram.createSocket('udp4')
const b = dgram.createSocket('udp4')
a.bind(0, '127.0.0.1', () => b.bind(0, '127.0.0.2', () => {
  let n = 0
  const t = setInterval(() => {
    for (let i = 0; i < 2 && n < ${total}; i++, n++) {
      const s = n % 2 ? b : a
      const me = s.address().address + ':' + s.address().port
      if (n === ${total - 1}) { clearInterval(t); s.send(me, ${port}, '127.0.0.1', () => { a.close(); b.close() }) } else s.send(me, ${port}, '127.0.0.1')
    }
  }, 1)
}))
`)
    await delay(20)
    // JavaScript stalls for 300 ms while they send.
    busy(300)
    await child
    await settled(() => [r.getStats(), seen.length])
    const stats = r.getStats()
    const label = JSON.stringify({ stats, delivered: seen.length })
    assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, total, label)
    // Most came through the inbox: the kernel's buffer holds only a few.
    assert.ok(seen.length >= total * 0.8, label)
    for (const [sentBy, rinfo] of seen) assert.strictEqual(rinfo, sentBy)
    assert.strictEqual(new Set(seen.map(([sentBy]) => sentBy)).size, 2, 'both senders delivered')
  } finally { closeAll(r) }
})

test('backgroundReceive: close() lets go of the socket at once (its port can be bound again)', async () => {
  for (let i = 0; i < 5; i++) {
    const r = rs().createSocket({ type: 'udp4', backgroundReceive: true })
    const port = await bindLoopback(r)
    r.close()
    const again = rs().createSocket('udp4')
    await new Promise((resolve, reject) => {
      again.once('error', reject)
      again.bind(port, '127.0.0.1', resolve)
    })
    again.close()
  }
})

test('backgroundReceive and messages(): options are validated with Node-style errors', () => {
  const bad = (fn) => { try { fn(); return null } catch (e) { return e.code } }
  assert.strictEqual(bad(() => rs().createSocket({ type: 'udp4', backgroundReceive: 'yes' })), 'ERR_INVALID_ARG_TYPE')
  assert.strictEqual(bad(() => rs().createSocket({ type: 'udp4', backgroundReceive: { maxQueueBytes: 0 } })), 'ERR_OUT_OF_RANGE')
  const s = rs().createSocket('udp4')
  assert.strictEqual(bad(() => s.messages({ highWaterMark: 0 })), 'ERR_OUT_OF_RANGE')
  assert.strictEqual(bad(() => s.messages(5)), 'ERR_INVALID_ARG_TYPE')
  s.close()
})

test('\'drain\': emitted once the queued sends have completed (queued with --test-udp-no-try-send)', async () => {
  const r = await runChild(IMPLS[1].module, `
const out = []
const r = dgram.createSocket('udp4')
const s = dgram.createSocket('udp4')
s.on('drain', () => out.push(['drain', s.getSendQueueCount()]))
r.bind(0, '127.0.0.1', () => {
  s.connect(r.address().port, '127.0.0.1', () => {
    for (const m of ['a', 'b', 'c']) s.send(m, () => out.push(m))
    setTimeout(() => { s.close(); r.close(); console.log(JSON.stringify(out)) }, 50)
  })
})
`, { execArgv: ['--test-udp-no-try-send'] })
  assert.strictEqual(r.code, 0, r.stderr)
  assert.deepStrictEqual(JSON.parse(r.stdout), ['a', 'b', 'c', ['drain', 0]])
})

for (const backgroundReceive of [false, true]) {
  both(`for await: datagrams in order, the loop ends when the socket closes (backgroundReceive: ${backgroundReceive})`, async () => {
    const r = rs().createSocket({ type: 'udp4', backgroundReceive })
    const s = rs().createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      for (let i = 0; i < 20; i++) s.send(String(i), port, '127.0.0.1')
      const got = []
      for await (const [msg, rinfo] of r) {
        got.push(String(msg))
        assert.strictEqual(rinfo.size, msg.length)
        if (got.length === 20) r.close()
      }
      assert.deepStrictEqual(got, Array.from({ length: 20 }, (_, i) => String(i)))
    } finally { closeAll(r, s) }
  })

  both(`messages(): a slow consumer holds at most highWaterMark (plus one read); the rest waits in the kernel or is counted dropped (backgroundReceive: ${backgroundReceive})`, async () => {
    const r = rs().createSocket({ type: 'udp4', backgroundReceive, recvBufferSize: 64 * 1024 })
    try {
      await bindLoopback(r)
      // Deliveries are counted at emit(), not by a 'message' listener: a listener would be a
      // consumer of its own, which a full iterator does not starve.
      let emitted = 0
      let consumed = 0
      let maxHeld = 0
      let iterating = true
      const emit = r.emit
      r.emit = function (event, ...args) {
        if (event === 'message') { emitted++; if (iterating) maxHeld = Math.max(maxHeld, emitted - consumed) }
        return Reflect.apply(emit, this, [event, ...args])
      }
      const iterator = r.messages({ highWaterMark: 8 })
      const sending = flood(r, 2000)
      const consuming = (async () => {
        for await (const [msg] of iterator) {
          assert.strictEqual(msg.length, 100)
          consumed++
          await delay(1)
          if (consumed === 150) { iterating = false; break }
        }
      })()
      const sent = await sending
      await consuming
      // Broken out of: reading resumes, and everything not dropped arrives.
      await settled(() => [r.getStats(), emitted])
      const stats = r.getStats()
      assert.ok(maxHeld <= 8 + 32, `held at most ${maxHeld}`)
      assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue, sent, JSON.stringify(stats))
      assert.strictEqual(emitted, stats.datagramsReceived)
    } finally { closeAll(r) }
  })
}

both('for await: over a socket already closed (before or after its \'close\' event), the loop ends at once', async () => {
  for (const when of ['before', 'after']) {
    const r = rs().createSocket('udp4')
    await bindLoopback(r)
    r.close()
    if (when === 'after') await new Promise((resolve) => r.once('close', resolve))
    let count = 0
    const loop = (async () => { for await (const m of r) count += m.length })()
    await assert.doesNotReject(withTimeout(loop, 2000, `for await ${when} 'close'`))
    assert.strictEqual(count, 0)
    assert.strictEqual(r.listenerCount('message'), 0, 'no listener left behind')
  }
})

// The pause is the socket's: an idle iterator pauses reading only when nothing else consumes the
// socket. Beside a 'message' listener or a second iterator that keeps up, it holds what comes
// past its highWaterMark instead of starving them; nothing is dropped.
both('messages(): an idle iterator does not starve the socket\'s other consumers (default and background paths)', async () => {
  // The fallback ignores backgroundReceive (node:dgram reads there).
  for (const [other, backgroundReceive] of [['listener', false], ['iterator', false], ['listener', true], ['iterator', true]]) {
    const r = rs().createSocket({ type: 'udp4', backgroundReceive })
    const s = rs().createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      const idle = r.messages({ highWaterMark: 8 })
      let got = 0
      let draining
      if (other === 'listener') {
        r.on('message', () => { got++ })
      } else {
        const busy = r.messages({ highWaterMark: 8 })
        draining = (async () => { for await (const [msg] of busy) { got += msg.length; if (got === 200) break } })()
      }
      for (let i = 0; i < 200; i++) {
        await new Promise((resolve) => s.send(Buffer.alloc(1), port, '127.0.0.1', resolve))
        if (i % 16 === 15) await delay(1)
      }
      await until(() => got === 200, 5000, `the ${other} got ${got} of 200`)
      await draining
      // The idle iterator kept every datagram.
      let held = 0
      for (let i = 0; i < 200; i++) {
        const { done } = await withTimeout(idle.next(), 2000, `held ${held}`)
        if (done) break
        held++
      }
      assert.strictEqual(held, 200)
      await idle.return()
      assert.strictEqual(r.getStats().droppedByKernel, 0)
    } finally { closeAll(r, s) }
  }
})

both('for await: the socket\'s error ends the loop by throwing it', async () => {
  const r = rs().createSocket('udp4')
  try {
    await bindLoopback(r)
    const failure = new Error('boom')
    setTimeout(() => r.emit('error', failure), 10)
    await assert.rejects(async () => { for await (const m of r) assert.fail(`no datagram was sent: ${m}`) }, failure)
  } finally { closeAll(r) }
})

test('backgroundReceive with receiveInfo and receiveErrors: rinfo carries the information, an ICMP error is an \'icmp\' event', async () => {
  const r = rs().createSocket({ type: 'udp4', backgroundReceive: true, receiveInfo: true })
  const s = rs().createSocket({ type: 'udp4', backgroundReceive: true, receiveErrors: true })
  try {
    const port = await bindLoopback(r, '0.0.0.0')
    await bindLoopback(s)
    const got = new Promise((resolve) => r.once('message', (m, rinfo) => resolve(rinfo)))
    s.send('hi', port, '127.0.0.2')
    const rinfo = await got
    assert.strictEqual(rinfo.localAddress, '127.0.0.2')
    assert.strictEqual(typeof rinfo.timestamp, 'bigint')
    const events = []
    s.on('icmp', (e) => events.push(['icmp', e.code]))
    s.on('error', (e) => events.push(['error', e.code]))
    const closed = rs().createSocket('udp4')
    const closedPort = await bindLoopback(closed)
    closed.close()
    s.send('x', closedPort, '127.0.0.1')
    await until(() => events.length === 1)
    await delay(20)
    assert.deepStrictEqual(events, [['icmp', 'ECONNREFUSED']])
  } finally { closeAll(r, s) }
})
