'use strict'
// 5. Hostile and odd input: zero-length and maximum-size datagrams (65,507 B over IPv4,
// 65,527 B over IPv6), EMSGSIZE one byte above, random bytes, datagrams from 200 sources,
// ECONNREFUSED on a connected socket, a peer that vanishes, close() inside a burst.
// What each case observes is pinned to node:dgram's observation by the runner.
// Also: 10,000 sends with callbacks, close() with sends pending, an unreferenced bound socket
// after gc().
//   IMPL=... node --expose-gc stress/scenarios/hostile.js [impl]
const crypto = require('node:crypto')
const os = require('node:os')
const c = require('../lib/common')

const dgram = c.loadDgram()
const checks = {}
const parity = {}
const observations = {}
const figures = {}

function bound (type = 'udp4', host = '127.0.0.1', opts = {}) {
  const s = dgram.createSocket({ type, ...opts })
  return new Promise((resolve, reject) => {
    s.once('error', reject)
    s.bind(0, host, () => {
      s.removeListener('error', reject)
      resolve(s)
    })
  })
}
const closeAll = (...socks) => Promise.all(socks.map((s) => new Promise((resolve) => s.close(resolve))))
const nextMessage = (s, ms = 2000) => c.withTimeout(new Promise((resolve) => s.once('message', (msg, rinfo) => resolve({ msg, rinfo }))), ms, 'datagram')
const errStr = (e) => (e ? `${e.constructor.name} ${e.code} ${e.syscall} errno=${e.errno}` : 'ok')
// Ports differ from run to run; what is pinned to node:dgram must not contain them.
const noPort = (s) => String(s).replace(/:\d+(?=$|["\s;|])/g, ':PORT')

function hasIPv6Loopback () {
  return Object.values(os.networkInterfaces()).some((l) => (l || []).some((a) => a.address === '::1'))
}

async function sizes (type, host, max) {
  const rx = await bound(type, host)
  const tx = await bound(type, host)
  const port = rx.address().port
  const fam = type === 'udp4' ? 'IPv4' : 'IPv6'
  try {
    // zero length
    let p = nextMessage(rx)
    tx.send(Buffer.alloc(0), port, host)
    let { msg, rinfo } = await p
    parity[`${fam} zero-length datagram`] = `length=${msg.length} rinfo.size=${rinfo.size} family=${rinfo.family}`
    checks[`${fam} zero-length datagram received`] = c.check(msg.length === 0 && rinfo.size === 0)

    // the largest datagram
    const big = crypto.randomBytes(max)
    p = nextMessage(rx)
    const sendRes = new Promise((resolve) => tx.send(big, port, host, (e, n) => resolve(e ? errStr(e) : n)));
    ({ msg, rinfo } = await p)
    const n = await sendRes
    parity[`${fam} ${max}-byte datagram`] = `sent ${n}; received length=${msg.length} rinfo.size=${rinfo.size}`
    checks[`${fam} ${max}-byte datagram intact`] = c.check(msg.equals(big) && rinfo.size === max && n === max, `${msg.length} bytes`)

    // one byte more: EMSGSIZE, to the callback; and without a callback
    const tooBig = Buffer.alloc(max + 1)
    const events = []
    tx.on('error', (e) => events.push(`'error' ${errStr(e)} ${noPort(e.message)}`))
    const cbRes = await c.withTimeout(new Promise((resolve) => tx.send(tooBig, port, host, (e, n) => resolve(`callback ${errStr(e)} ${e ? noPort(e.message) : n}`))), 2000, 'EMSGSIZE callback')
    tx.send(tooBig, port, host)
    await c.sleep(50)
    parity[`${fam} ${max + 1} bytes with a callback`] = cbRes
    parity[`${fam} ${max + 1} bytes without a callback`] = events.length ? events.join('; ') : 'nothing emitted'
    checks[`${fam} ${max + 1} bytes: EMSGSIZE`] = c.check(/EMSGSIZE/.test(cbRes), cbRes)

    // the socket still works after that
    p = nextMessage(rx)
    tx.send('still fine', port, host);
    ({ msg } = await p)
    checks[`${fam} socket usable after EMSGSIZE`] = c.check(msg.toString() === 'still fine')
  } finally {
    await closeAll(rx, tx)
  }
}

async function randomBytes () {
  const rx = await bound()
  const tx = await bound()
  const port = rx.address().port
  const N = 1000
  const WINDOW = 16
  const sent = []
  const got = []
  let done
  const finished = new Promise((resolve) => (done = resolve))
  let next = 0
  const sendOne = () => {
    if (next >= N) return
    const len = next % 50 === 0 ? crypto.randomInt(1473, 9000) : crypto.randomInt(0, 1473)
    const buf = crypto.randomBytes(len)
    sent.push(buf)
    next++
    tx.send(buf, port, '127.0.0.1')
  }
  rx.on('message', (msg) => {
    got.push(msg)
    if (got.length === N) done()
    else sendOne()
  })
  for (let i = 0; i < WINDOW; i++) sendOne()
  let timedOut = false
  try {
    await c.withTimeout(finished, 10000, 'random datagrams')
  } catch {
    timedOut = true
  }
  await closeAll(rx, tx)
  const intact = got.every((m, i) => sent[i] && m.equals(sent[i]))
  const ownMemory = got.every((m) => m.byteOffset === 0 && m.buffer.byteLength === m.length)
  figures['random datagrams received'] = got.length
  checks[`${N} random datagrams intact, in order`] = c.check(!timedOut && got.length === N && intact, `${got.length} received, intact=${intact}`)
  parity['each datagram its own ArrayBuffer (byteOffset 0)'] = String(ownMemory)
}

async function manySources () {
  const rx = await bound()
  const port = rx.address().port
  const SOURCES = 200
  const ROUNDS = 3
  const senders = await Promise.all(Array.from({ length: SOURCES }, () => bound()))
  const portToIndex = new Map(senders.map((s, i) => [s.address().port, i]))
  const perSource = new Array(SOURCES).fill(0)
  let bad = 0
  let received = 0
  let roundDone
  rx.on('message', (msg, rinfo) => {
    const i = portToIndex.get(rinfo.port)
    if (i === undefined || msg.toString() !== `from ${i}` || rinfo.address !== '127.0.0.1' || rinfo.family !== 'IPv4' || rinfo.size !== msg.length) bad++
    else perSource[i]++
    if (++received % SOURCES === 0 && roundDone) roundDone()
  })
  let timedOut = false
  // Rounds of SOURCES datagrams, each round waited for, so the receive buffer never overflows.
  for (let r = 0; r < ROUNDS && !timedOut; r++) {
    const p = new Promise((resolve) => (roundDone = resolve))
    senders.forEach((s, i) => s.send(`from ${i}`, port, '127.0.0.1'))
    try {
      await c.withTimeout(p, 5000, `round ${r}`)
    } catch {
      timedOut = true
    }
  }
  await closeAll(rx, ...senders)
  figures['datagrams from 200 sources'] = received
  checks[`${SOURCES} sources, rinfo right for each`] = c.check(!timedOut && bad === 0 && perSource.every((n) => n === ROUNDS), `${received} received, ${bad} with a wrong rinfo or payload`)
}

async function connRefused () {
  // A port nobody listens on: bind, note the port, close.
  const dead = await bound()
  const deadPort = dead.address().port
  await closeAll(dead)

  const s = dgram.createSocket('udp4')
  const events = []
  s.on('error', (e) => events.push(`'error' ${errStr(e)} "${noPort(e.message)}"`))
  await new Promise((resolve) => s.connect(deadPort, '127.0.0.1', resolve))
  // Spaced sends: the ICMP port-unreachable comes back between them.
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) =>
      s.send(`x${i}`, (e, n) => {
        events.push(`send callback ${e ? `${errStr(e)} "${noPort(e.message)}"` : n}`)
        resolve()
      })
    )
    await c.sleep(100)
  }
  parity['ECONNREFUSED, spaced sends (event sequence)'] = events.join(' | ')
  // Back-to-back sends: which one sees the error is a race, so this is only shown.
  const burst = []
  s.removeAllListeners('error')
  s.on('error', (e) => burst.push(`'error' ${e.code} ${e.syscall}`))
  await Promise.all(
    Array.from({ length: 5 }, (_, i) => new Promise((resolve) => s.send(`y${i}`, (e) => { burst.push(e ? `cb ${e.code} ${e.syscall}` : 'cb ok'); resolve() })))
  )
  await c.sleep(100)
  observations['ECONNREFUSED, 5 back-to-back sends'] = burst.join(', ')
  // A peer now appears on the very port s is connected to: s must still receive (the error
  // did not stop its reading).
  let heard = false
  try {
    const revived = dgram.createSocket('udp4')
    await new Promise((resolve, reject) => {
      revived.once('error', reject)
      revived.bind(deadPort, '127.0.0.1', resolve)
    })
    const p = nextMessage(s, 1000)
    revived.send('back again', s.address().port, '127.0.0.1')
    heard = (await p.catch(() => ({ msg: '' }))).msg.toString() === 'back again'
    await closeAll(revived)
  } catch (e) {
    observations['ECONNREFUSED: peer revived on the port'] = `could not rebind the port: ${e.code}`
  }
  parity['connected socket still receives after ECONNREFUSED'] = String(heard)
  const all = events.concat(burst).join(' ')
  checks['ECONNREFUSED surfaces on a connected socket'] = c.check(/ECONNREFUSED/.test(all), events.join(' | '))
  let closed = false
  try {
    await c.withTimeout(new Promise((resolve) => s.close(resolve)), 2000, 'close')
    closed = true
  } catch {}
  checks['close() after ECONNREFUSED completes'] = c.check(closed)
}

async function vanishingPeer () {
  const a = await bound()
  const b = await bound()
  const other = await bound()
  const bPort = b.address().port
  let bAfterClose = 0
  let bClosed = false
  b.on('message', () => {
    if (bClosed) bAfterClose++
  })
  const aErrors = []
  a.on('error', (e) => aErrors.push(`'error' ${e.code} ${e.syscall}`))
  // A floods B; B vanishes mid-flood; A keeps sending to the dead port.
  let cbErrors = 0
  let cbOk = 0
  const cb = (e) => (e ? cbErrors++ : cbOk++)
  for (let i = 0; i < 100; i++) a.send('to b', bPort, '127.0.0.1', cb)
  await c.sleep(10)
  await new Promise((resolve) => {
    b.close(resolve)
    bClosed = true
  })
  for (let i = 0; i < 100; i++) a.send('to nobody', bPort, '127.0.0.1', cb)
  await c.sleep(100)
  // A still works with someone else.
  const p = nextMessage(other)
  a.send('hello other', other.address().port, '127.0.0.1')
  let aWorks = false
  try {
    aWorks = (await p).msg.toString() === 'hello other'
  } catch {}
  parity['peer vanishes (unconnected sender)'] = `send callbacks: ${cbOk} ok, ${cbErrors} errors; ${aErrors.length ? aErrors.join(', ') : "no 'error'"}; still sends to others: ${aWorks}`
  checks['sender survives a vanished peer'] = c.check(aWorks, `${cbOk} ok, ${cbErrors} errors`)
  checks["no 'message' after the peer's close()"] = c.check(bAfterClose === 0, `${bAfterClose}`)
  await closeAll(a, other)
}

async function closeInsideBurst () {
  // 50 datagrams wait in the kernel; the first 'message' handler closes the socket.
  const rx = await bound()
  const tx = await bound()
  let got = 0
  let closeEvents = 0
  rx.on('close', () => closeEvents++)
  rx.on('message', () => {
    got++
    if (got === 1) rx.close()
  })
  // Send from inside a timer and keep the loop busy, so the datagrams pile up before any read.
  await new Promise((resolve) =>
    setTimeout(() => {
      for (let i = 0; i < 50; i++) tx.send('burst', rx.address().port, '127.0.0.1')
      setTimeout(resolve, 100)
    }, 0)
  )
  parity["close() in the first 'message' of a burst"] = `'message' x${got}, 'close' x${closeEvents}`
  checks["no 'message' after close() inside a burst"] = c.check(got === 1 && closeEvents === 1, `'message' x${got}, 'close' x${closeEvents}`)
  await closeAll(tx)
}

async function manySendsWithCallbacks () {
  // 10,000 sends of 1,000 B in one synchronous loop, each with a callback: each callback runs
  // once, in order, with the byte count (queued sends, if any, keep their order).
  const rx = await bound()
  const tx = await bound()
  const N = 10000
  const order = []
  let errors = 0
  rx.on('message', () => {})
  const buf = Buffer.alloc(1000, 3)
  const all = new Promise((resolve) => {
    for (let i = 0; i < N; i++) {
      tx.send(buf, rx.address().port, '127.0.0.1', (e, n) => {
        if (e || n !== 1000) errors++
        order.push(i)
        if (order.length === N) resolve()
      })
    }
  })
  let timedOut = false
  try {
    await c.withTimeout(all, 10000, 'send callbacks')
  } catch {
    timedOut = true
  }
  await c.sleep(20)
  const inOrder = order.every((v, i) => v === i)
  checks[`${N} send callbacks, once each, in order`] = c.check(!timedOut && order.length === N && inOrder && errors === 0, `${order.length} callbacks, in order ${inOrder}, ${errors} errors`)
  await closeAll(rx, tx)
}

async function sendsBeforeBind () {
  // 5,000 sends on a socket never bound: the implicit bind(0) queues them until 'listening'.
  const rx = await bound()
  const tx = dgram.createSocket('udp4')
  const N = 5000
  let cbs = 0
  let errs = 0
  let got = 0
  rx.on('message', () => got++)
  const all = new Promise((resolve) => {
    for (let i = 0; i < N; i++) {
      tx.send(`q${i}`, rx.address().port, '127.0.0.1', (e) => {
        if (e) errs++
        if (++cbs === N) resolve()
      })
    }
  })
  let timedOut = false
  try {
    await c.withTimeout(all, 10000, 'queued sends')
  } catch {
    timedOut = true
  }
  await c.sleep(50)
  checks[`${N} sends before bind: every callback, no error`] = c.check(!timedOut && cbs === N && errs === 0, `${cbs} callbacks, ${errs} errors, ${got} received`)
  figures['sends before bind received'] = got
  await closeAll(rx, tx)
}

async function closeWithSendsPending () {
  // close() right after 100 sends: which send callbacks still run, and with what.
  const rx = await bound()
  const tx = await bound()
  let got = 0
  rx.on('message', () => got++)
  const results = []
  for (let i = 0; i < 100; i++) tx.send('x', rx.address().port, '127.0.0.1', (e) => results.push(e ? e.code : 'ok'))
  let closeErr = 'ok'
  try {
    await c.withTimeout(new Promise((resolve) => tx.close(resolve)), 2000, 'close')
  } catch (e) {
    closeErr = e.message
  }
  await c.sleep(100)
  const summary = {}
  for (const r of results) summary[r] = (summary[r] || 0) + 1
  parity['close() right after 100 sends'] = `close: ${closeErr}; callbacks: ${JSON.stringify(summary)}; received ${got}`
  await closeAll(rx)
}

async function unreferencedSocketAndGc () {
  // A bound, ref'd socket that JS no longer references must not be collected: it keeps
  // receiving after gc() (node:dgram's handle keeps it alive). Needs --expose-gc.
  if (typeof global.gc !== 'function') {
    observations['unreferenced socket after gc()'] = 'skipped: run with --expose-gc'
    return
  }
  let got = 0
  let port = 0
  let keepAlive
  await new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.on('message', (m, r) => {
      got++
      s.send(m, r.port, r.address) // echo, so the socket is used after the gc
    })
    s.bind(0, '127.0.0.1', () => {
      port = s.address().port
      resolve()
    })
    keepAlive = new WeakRef(s)
  })
  for (let i = 0; i < 5; i++) {
    c.gcNow()
    await c.sleep(10)
  }
  const tx = await bound()
  const echo = nextMessage(tx, 1000).then(
    (d) => d.msg.toString(),
    () => 'nothing'
  )
  tx.send('after gc', port, '127.0.0.1')
  const echoed = await echo
  parity['unreferenced bound socket after gc()'] = `received ${got}, echoed "${echoed}", collected: ${keepAlive.deref() === undefined}`
  checks['unreferenced bound socket still works after gc()'] = c.check(got === 1 && echoed === 'after gc', `received ${got}, echoed ${echoed}`)
  await closeAll(tx)
  const s = keepAlive.deref()
  if (s) await closeAll(s)
  else observations['unreferenced socket'] = 'collected: could not close it'
}

async function main () {
  const t0 = performance.now()
  const steps = [
    ['IPv4 sizes', () => sizes('udp4', '127.0.0.1', 65507)],
    ['IPv6 sizes', () => (hasIPv6Loopback() ? sizes('udp6', '::1', 65527) : ((observations.IPv6 = 'no ::1 on this machine'), null))],
    ['random bytes', randomBytes],
    ['many sources', manySources],
    ['ECONNREFUSED', connRefused],
    ['vanishing peer', vanishingPeer],
    ['close inside a burst', closeInsideBurst],
    ['many sends with callbacks', manySendsWithCallbacks],
    ['sends before bind', sendsBeforeBind],
    ['close with sends pending', closeWithSendsPending],
    ['unreferenced socket and gc()', unreferencedSocketAndGc]
  ]
  for (const [name, fn] of steps) {
    try {
      await c.withTimeout(Promise.resolve().then(fn), 20000, name)
    } catch (e) {
      checks[`${name} ran to completion`] = c.check(false, e && e.stack ? e.stack.split('\n').slice(0, 2).join(' ') : e)
    }
  }
  figures.seconds = c.round((performance.now() - t0) / 1000, 1)
  c.report({ figures, checks, parity, observations })
  c.exitGuard(5000)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
