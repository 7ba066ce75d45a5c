'use strict'
// The native handle itself (dgram-rs only: node:dgram's UDPWrap is internal). A failure deep in
// Rust must come back as a JavaScript error or an errno, never as a crash of the process.
const assert = require('node:assert')
const { test } = require('node:test')
const path = require('node:path')
// lib/handle.js hands the thread's callbacks to the addon; each calls handle.onmessage,
// handle.onerror or handle.onsend on the handle it reports for.
require(path.join(__dirname, '..', 'lib', 'handle.js'))
const { UdpHandle, udpSetCallbacks, udpCreate, udpFd, udpSend, udpSendLater, udpSendBatch, udpBind, udpRecvStart, udpClose, udpGetsockname, udpGetpeername } = require(path.join(__dirname, '..', 'lib', 'native.js'))

const EBADF = -9
const EINVAL = -22

test('native: a bad family is a thrown Error from Rust, not a crash', () => {
  assert.throws(() => new UdpHandle(5), (e) => e instanceof Error && /family must be 4 or 6/.test(e.message))
})

test('native: arguments of the wrong type are thrown errors', () => {
  const h = new UdpHandle(4)
  assert.strictEqual(h.bind('127.0.0.1', 0, 0), 0)
  assert.throws(() => udpSetCallbacks('not a function', () => {}, () => {}), /must be functions/)
  assert.throws(() => h.send(['not a buffer'], 1, '127.0.0.1', 0), Error)
  assert.throws(() => h.bind(42, 0, 0), Error)
  h.close()
})

test('native: the raw send calls check their arguments and their receiver', () => {
  const h = new UdpHandle(4)
  assert.strictEqual(h.bind('127.0.0.1', 0, 0), 0)
  const out = {}
  assert.strictEqual(h.getsockname(out), 0)
  for (const method of ['send', 'sendLater']) {
    assert.throws(() => h[method]('not an array', out.port, '127.0.0.1', 0), TypeError)
    assert.throws(() => h[method]([Buffer.alloc(1), 42], out.port, '127.0.0.1', 0), TypeError)
    assert.throws(() => h[method]([Buffer.alloc(1)], 'not a port', '127.0.0.1', 0), TypeError)
    assert.throws(() => h[method]([Buffer.alloc(1)], out.port, 42, 0), TypeError)
    assert.throws(() => h[method]([Buffer.alloc(1)], out.port, '127.0.0.1'), TypeError, 'a request id is required')
    assert.throws(() => UdpHandle.prototype[method].call({}, [Buffer.alloc(1)], out.port, '127.0.0.1', 0), TypeError)
    assert.strictEqual(h[method]([Buffer.alloc(1)], out.port, 'x'.repeat(500), 0), EINVAL, 'no address is that long')
  }
  // sendBatch's raw call: one Buffer, numbers, an IP literal or null, and a Float64Array of 4
  // for its results.
  const results = new Float64Array(4)
  const batchId = udpCreate(4)
  assert.strictEqual(udpBind(batchId, '127.0.0.1', 0, 0), 0)
  const batch = (...args) => udpSendBatch(batchId, ...args)
  assert.throws(() => batch([Buffer.alloc(2)], 1, out.port, '127.0.0.1', 0, results), /the data must be a Buffer/)
  assert.throws(() => batch(Buffer.alloc(2), '1', out.port, '127.0.0.1', 0, results), /must be numbers/)
  assert.throws(() => batch(Buffer.alloc(2), 1, out.port, 42, 0, results), /a string or null/)
  assert.throws(() => batch(Buffer.alloc(2), 1, out.port, '127.0.0.1', 0, new Float64Array(3)), /a Float64Array of 4/)
  assert.throws(() => batch(Buffer.alloc(2), 1, out.port, '127.0.0.1', 0), /a Float64Array of 4/)
  assert.strictEqual(batch(Buffer.alloc(2), 1, out.port, '127.0.0.1', 0, results), undefined)
  assert.deepStrictEqual(Array.from(results), [2, 0, 0, 0], 'two datagrams sent at once')
  udpClose(batchId, new Float64Array(6))
  // More buffers than the call reads onto the stack: one datagram of all of them.
  const parts = Array.from({ length: 20 }, (_, i) => Buffer.from([i]))
  assert.strictEqual(h.send(parts, out.port, '127.0.0.1', 0), 21, 'bytes + 1: sent at once')
  h.close()
  // The raw calls find their handle by the number it was made with: a number no live handle
  // has is a thrown error, and no two live handles can share one.
  for (const raw of [udpSend, udpSendLater, udpSendBatch, udpBind, udpRecvStart, udpClose, udpGetsockname, udpGetpeername]) {
    assert.throws(() => raw(0xfffffff0, Buffer.alloc(1), out.port, '127.0.0.1', 0), /no such UdpHandle/)
    assert.throws(() => raw('1', Buffer.alloc(1), out.port, '127.0.0.1', 0), /no such UdpHandle/)
  }
  // The addon numbers handles: two live handles never share a number.
  const id = udpCreate(4)
  const other = udpCreate(4)
  assert.ok(Number.isInteger(id) && id > 0, 'a number')
  assert.notStrictEqual(other, id, 'a second live handle gets another number')
  udpClose(other, new Float64Array(6))
  assert.throws(() => udpCreate(5), /family must be 4 or 6/)
  assert.throws(() => udpCreate('4'), /expected \(family\)/)
  assert.strictEqual(udpSend(id, Buffer.alloc(1), out.port, '127.0.0.1', 0), EBADF, 'found: not bound yet')
  assert.throws(() => udpBind(id, 42, 0, 0), /expected \(handleId, ip string, port, flags\)/)
  assert.strictEqual(udpBind(id, '127.0.0.1', 0, 0), 0)
  assert.throws(() => udpClose(id, new Float64Array(5)), /a Float64Array of 6/)
  assert.throws(() => udpClose(id), /a Float64Array of 6/)
  const stats = new Float64Array(6).fill(-1)
  assert.deepStrictEqual(udpClose(id, stats), [])
  assert.deepStrictEqual(Array.from(stats), [0, 0, 0, 0, 0, 0], 'the statistics at close')
  assert.throws(() => udpFd(id), /no such UdpHandle/, 'closed: forgotten')
  assert.throws(() => udpClose(id, stats), /no such UdpHandle/)
})

test('native: system errors come back as negative errno numbers', () => {
  const h = new UdpHandle(4)
  assert.strictEqual(h.setTTL(64), EBADF, 'no socket before bind')
  assert.strictEqual(h.setTTL(0), EINVAL, 'argument checked first, as libuv does')
  assert.strictEqual(h.bind('::1', 0, 0), EINVAL, 'an IPv6 literal on a udp4 handle')
  assert.strictEqual(h.bind('127.0.0.1', 0, 0), 0)
  const out = {}
  assert.strictEqual(h.getsockname(out), 0)
  assert.strictEqual(h.send([Buffer.alloc(65508)], out.port, '127.0.0.1', 0), -90, 'EMSGSIZE')
  assert.strictEqual(h.send([Buffer.alloc(1)], out.port, null, 0), -89, 'EDESTADDRREQ when not connected')
  // A segment size the kernel cannot take refuses every datagram of the batch, counted as
  // JavaScript counts them (it waits for that many results before the callback).
  assert.deepStrictEqual(Array.from(h.sendBatch(Buffer.alloc(200000), 70000, out.port, '127.0.0.1', 0)), [0, 0, 3, EINVAL])
  assert.deepStrictEqual(Array.from(h.sendBatch(Buffer.alloc(0), 70000, out.port, '127.0.0.1', 0)), [0, 0, 1, EINVAL])
  h.close()
})

test('native: a closed handle is forgotten: it keeps its statistics at close, closes again as a no-op, and any other call is a thrown error, not a crash', async () => {
  const h = new UdpHandle(6)
  assert.strictEqual(h.bind('::1', 0, 0), 0)
  const out = {}
  assert.strictEqual(h.getsockname(out), 0)
  assert.strictEqual(h.send([Buffer.from('to self')], out.port, '::1', 0), 8, 'sent at once (bytes + 1)')
  const stats = h.getStats()
  assert.strictEqual(stats[2], 1, 'one datagram sent')
  assert.deepStrictEqual(h.close(), [])
  assert.deepStrictEqual(h.getStats(), stats, 'the figures at close')
  assert.deepStrictEqual(h.close(), [], 'close twice')
  assert.strictEqual(h.fd, -1)
  const forgotten = /no such UdpHandle/
  assert.throws(() => h.getsockname({}), forgotten)
  assert.throws(() => h.send([Buffer.alloc(1)], 9, '::1', 0), forgotten)
  assert.throws(() => h.sendLater([Buffer.alloc(1)], 9, '::1', 0), forgotten)
  assert.throws(() => h.sendBatch(Buffer.alloc(4), 2, 9, '::1', 0), forgotten)
  assert.throws(() => h.recvStart(), forgotten)
  assert.throws(() => h.setBroadcast(true), forgotten)
  assert.throws(() => h.bufferSize(0, true), forgotten)
  assert.throws(() => h.bind('::1', 0, 0), forgotten)
  assert.throws(() => h.flushSends(new Float64Array(1)), forgotten)
})

test('native: every method of a handle whose socket is gone answers EBADF (or nothing) instead of crashing', () => {
  const h = new UdpHandle(6)
  assert.strictEqual(h.fd, -1, 'no socket before bind')
  assert.strictEqual(h.getsockname({}), EBADF)
  assert.strictEqual(h.send([Buffer.alloc(1)], 9, '::1', 0), EBADF)
  assert.deepStrictEqual(Array.from(h.sendBatch(Buffer.alloc(4), 2, 9, '::1', 0)), [0, 0, 2, EBADF], 'both datagrams reported refused')
  assert.strictEqual(h.recvStart(), EBADF)
  assert.strictEqual(h.setBroadcast(true), EBADF)
  assert.strictEqual(h.bufferSize(0, true), EBADF)
  assert.strictEqual(h.flushSends(new Float64Array(1)), 0)
  h.close()
})

test('native: queued datagrams complete by request id, and close() names the requests it cancels', async () => {
  const h = new UdpHandle(4)
  const r = new UdpHandle(4)
  assert.strictEqual(h.bind('127.0.0.1', 0, 0), 0)
  assert.strictEqual(r.bind('127.0.0.1', 0, 0), 0)
  const out = {}
  assert.strictEqual(r.getsockname(out), 0)
  const completions = []
  h.onsend = (id, status, bytes) => completions.push([id, status, bytes])
  assert.strictEqual(h.recvStart(), 0)
  h.setQueueEverySend(true)
  assert.strictEqual(h.send([Buffer.alloc(3)], out.port, '127.0.0.1', 41), 0, 'queued')
  assert.deepStrictEqual(Array.from(h.sendBatch(Buffer.alloc(4), 2, out.port, '127.0.0.1', 42)), [0, 2, 0, 0], 'two queued')
  assert.strictEqual(h.getSendQueueCount(), 3)
  assert.strictEqual(h.getSendQueueSize(), 7)
  // The loop finds the socket writable: each datagram completes under its request's id.
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepStrictEqual(completions, [[41, 0, 3], [42, 0, 2], [42, 0, 2]])
  completions.length = 0
  assert.strictEqual(h.getSendQueueCount(), 0)
  assert.strictEqual(h.send([Buffer.alloc(1)], out.port, '127.0.0.1', 7), 0)
  assert.strictEqual(h.sendLater(Buffer.alloc(1), out.port, '127.0.0.1', 8), 0, 'a lone Buffer as well as a list')
  // Results go into the caller's array, one number per datagram; without room for them,
  // nothing is sent and the error says so.
  assert.throws(() => h.flushSends(new Float64Array(0)), /no room for the results/)
  const results = new Float64Array(2).fill(-1)
  assert.strictEqual(h.flushSends(results), 1)
  assert.deepStrictEqual([...results], [0, -1], 'gathered, then queued behind the queue')
  const ECANCELED = -125
  assert.deepStrictEqual(h.close(), [7, 0, 1, 8, ECANCELED, 1], 'the first went at once; the second is cancelled')
  r.close()
})

test('native: a thread watches its sockets in one epoll set of its own, which a socket enters when the loop polls and leaves when it closes', async () => {
  const fs = require('node:fs')
  const dgram = require('node:dgram')
  const epollSets = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[eventpoll]' } catch { return false }
  })
  // The descriptors an epoll set watches, from its fdinfo ("tfd: <fd> events: ...").
  const watchedBy = (set) => new Set(fs.readFileSync(`/proc/self/fdinfo/${set}`, 'utf8')
    .split('\n').filter((l) => l.startsWith('tfd:')).map((l) => Number(l.split(/\s+/)[1])))
  const setWatching = (fd) => epollSets().filter((set) => watchedBy(set).has(fd))

  const handles = []
  const arrived = []
  for (let i = 0; i < 8; i++) {
    const h = new UdpHandle(4)
    assert.strictEqual(h.bind('127.0.0.1', 0, 0), 0)
    arrived.push(new Promise((resolve) => {
      h.onmessage = resolve
      assert.strictEqual(h.recvStart(), 0)
    }))
    handles.push(h)
  }
  assert.deepStrictEqual(setWatching(handles[0].fd), [], 'not in a set before the loop polls')
  const sender = dgram.createSocket('udp4')
  for (const h of handles) {
    const out = {}
    h.getsockname(out)
    sender.send('x', out.port, '127.0.0.1')
  }
  await Promise.all(arrived)
  const fds = handles.map((h) => h.fd)
  const sets = setWatching(fds[0])
  assert.strictEqual(sets.length, 1, 'one set watches the first socket')
  const [set] = sets
  assert.ok(fds.every((fd) => watchedBy(set).has(fd)), 'the same set watches them all')

  // A socket that stops receiving leaves the set when the kernel next reports it (a level-
  // triggered report of what nobody reads would otherwise wake the loop for ever).
  const [stopped] = handles
  assert.strictEqual(stopped.recvStop(), 0)
  const out = {}
  stopped.getsockname(out)
  sender.send('unread', out.port, '127.0.0.1')
  for (let turn = 0; turn < 50 && watchedBy(set).has(stopped.fd); turn++) {
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  assert.ok(!watchedBy(set).has(stopped.fd), 'a stopped socket leaves the set')

  // Opened and closed within one turn of the loop: never added.
  const brief = new UdpHandle(4)
  assert.strictEqual(brief.bind('127.0.0.1', 0, 0), 0)
  assert.strictEqual(brief.recvStart(), 0)
  assert.ok(!watchedBy(set).has(brief.fd))
  brief.close()

  for (const h of handles) h.close()
  assert.ok(fds.every((fd) => !watchedBy(set).has(fd)), 'closed sockets have left the set')
  assert.ok(epollSets().includes(set), 'the set itself stays for the thread')
  await new Promise((resolve) => sender.close(resolve))
})

test('native: a handle dropped without close() keeps its socket, as Node\'s UDPWrap does, until its thread\'s environment ends', async () => {
  const fs = require('node:fs')
  const { Worker } = require('node:worker_threads')
  const native = path.join(__dirname, '..', 'lib', 'native.js')
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads')
    require('node:v8').setFlagsFromString('--expose-gc')
    const gc = require('node:vm').runInNewContext('gc')
    const { UdpHandle } = require(${JSON.stringify(native)})
    let fd
    ;(() => {
      const h = new UdpHandle(4)
      h.bind('127.0.0.1', 0, 0)
      fd = h.fd
    })()
    gc()
    setTimeout(() => { gc(); parentPort.postMessage(fd) }, 20)
    setTimeout(() => {}, 60000)
  `, { eval: true })
  const fd = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  const link = () => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) } catch { return null } }
  const socketName = link()
  assert.match(String(socketName), /^socket:/, 'still open after the handle was collected')
  await w.terminate()
  assert.notStrictEqual(link(), socketName, 'closed when the worker ended')
})

test('native: when a worker ends, its one cleanup hook closes every socket it left open (UDP and Unix, receiving or not, one with sends queued), then its epoll set and timer', async () => {
  const fs = require('node:fs')
  const { Worker } = require('node:worker_threads')
  // The native Socket itself, in every mode (DGRAM_RS_FALLBACK=1 makes index.js node:dgram's).
  const socket = path.join(__dirname, '..', 'lib', 'socket.js')
  const native = path.join(__dirname, '..', 'lib', 'native.js')
  const handle = path.join(__dirname, '..', 'lib', 'handle.js')
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const dgram = require(${JSON.stringify(socket)})
    const { UnixHandle } = require(${JSON.stringify(native)})
    // The socket's state (its handle), without the DEP0112 _handle that Node 25 removed.
    const { kStateSymbol } = require(${JSON.stringify(handle)})
    const fs = require('node:fs')
    const name = '\\0dgram-rs-teardown-' + process.pid + '-' + Math.random()
    // A receiver that never reads, and a sender whose sends queue behind it.
    const receiver = new UnixHandle()
    if (receiver.bind(name) !== 0) throw new Error('bind')
    const sender = new UnixHandle()
    if (sender.connect(name) !== 0) throw new Error('connect')
    sender.recvStart(() => {}, () => {}, () => {}, () => {})
    for (let i = 0; i < 100; i++) sender.send(Buffer.alloc(1000), null, i + 1)
    const udp = dgram.createSocket('udp4', () => {})
    udp.bind(0, '127.0.0.1', () => {
      const idle = dgram.createSocket('udp4')
      idle.bind(0, '127.0.0.1', () => {
        // Full reads pace the receiver, which arms the thread's timer.
        for (let i = 0; i < 200; i++) idle.send('x', udp.address().port, '127.0.0.1')
        setTimeout(() => {
          const link = (fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd) } catch { return '' } }
          const fds = [receiver.fd, sender.fd, udp[kStateSymbol].handle.fd, idle[kStateSymbol].handle.fd]
          const sets = fs.readdirSync('/proc/self/fd').filter((fd) => /eventpoll|timerfd/.test(link(fd)))
          parentPort.postMessage({ fds, queued: sender.getSendQueueCount(), sets })
        }, 50)
      })
    })
    setTimeout(() => {}, 60000)
  `, { eval: true })
  const { fds, queued } = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) })
  const link = (fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) } catch { return null } }
  const epollSets = () => fs.readdirSync('/proc/self/fd').filter((fd) => link(fd) === 'anon_inode:[eventpoll]')
  assert.ok(queued > 0, 'sends were queued when the worker ended')
  assert.ok(fds.every((fd) => fd >= 0), `every socket was open: ${fds}`)
  const before = fds.map(link)
  assert.ok(before.every((l) => /^socket:/.test(String(l))), `sockets: ${before}`)
  const setsBefore = epollSets().length
  await w.terminate()
  assert.deepStrictEqual(fds.map(link).map((l, i) => l === before[i]), fds.map(() => false), 'every socket was closed')
  assert.ok(epollSets().length < setsBefore, `the worker's epoll set was closed (${setsBefore} → ${epollSets().length})`)
})
