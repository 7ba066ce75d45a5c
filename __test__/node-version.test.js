'use strict'
// Where node:dgram differs between Node versions, dgram-rs follows the running one. Each test runs
// the same scenario on node:dgram (the oracle of the running version) and on dgram-rs and requires
// the same outcome; the oracle's own result is checked against what lib/node-version.js says this
// version does, so that a wrong version table fails here on the version it is wrong for.
const assert = require('node:assert')
const { test } = require('node:test')
const { IMPLS, nodeDgram } = require('./helpers/impls')
const { runChild } = require('./helpers/child')
const nodeVersion = require('../lib/node-version')

const FALLBACK = process.env.DGRAM_RS_FALLBACK === '1'
const rs = () => IMPLS[1].load()

test('node version: the version table says what this node:dgram has', () => {
  const proto = nodeDgram.Socket.prototype
  assert.deepStrictEqual({
    syncMethods: typeof proto.bindSync === 'function' && typeof proto.connectSync === 'function',
    bindErrorMonitor: proto.bind.toString().includes('errorMonitor'),
    deprecatedPrivates: Object.getOwnPropertyDescriptor(proto, '_handle') !== undefined &&
      '_createSocketHandle' in nodeDgram
  }, {
    syncMethods: nodeVersion.syncMethods,
    bindErrorMonitor: nodeVersion.bindErrorMonitor,
    deprecatedPrivates: nodeVersion.deprecatedPrivates
  })
})

// What a program can see of the API's shape: which of the version-dependent names exist, and how.
function surface (dgram) {
  const proto = dgram.Socket.prototype
  const names = ['bindSync', 'connectSync', '_handle', '_receiving', '_bindState', '_queue', '_reuseAddr',
    '_healthCheck', '_stopReceiving']
  const out = { module: { _createSocketHandle: typeof dgram._createSocketHandle, has: '_createSocketHandle' in dgram } }
  for (const name of names) {
    // Own or inherited (the fallback's Socket extends node:dgram's).
    let d
    for (let p = proto; d === undefined && p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      d = Object.getOwnPropertyDescriptor(p, name)
    }
    out[name] = d === undefined ? 'absent' : 'get' in d ? 'accessor' : typeof d.value
  }
  return out
}

test('node version: bindSync, connectSync, the DEP0112 properties and _createSocketHandle exist exactly where node:dgram has them', () => {
  const expected = surface(nodeDgram)
  assert.strictEqual(expected.bindSync, nodeVersion.syncMethods ? 'function' : 'absent')
  assert.strictEqual(expected._handle, nodeVersion.deprecatedPrivates ? 'accessor' : 'absent')
  assert.deepStrictEqual(surface(rs()), expected)
})

// dns.lookup replaced before any socket (w1: it knows late.test as unknown, without asking any
// DNS server), then, after the socket was made, replaced again (w2: late.test is 127.0.0.1), then
// restored and replaced once more after another socket was made (w3). Records every call of a replacement and every send's outcome. Node up to 24.18 / 26.4
// calls the dns.lookup of the socket's creation, for literals too; 24.19+ / 26.5+ answer a literal
// of the socket's family without dns.lookup and call dns.lookup as it is at each lookup.
const LOOKUP_SCENARIO = `
  const dns = require('dns')
  const original = dns.lookup
  const calls = []
  const results = []
  const replacement = (label, late) => function (address, options, callback) {
    calls.push([label, address])
    if (address === 'late.test') {
      if (late) { process.nextTick(callback, null, late, 4); return {} }
      const e = new Error('getaddrinfo ENOTFOUND late.test')
      e.code = 'ENOTFOUND'
      process.nextTick(callback, e)
      return {}
    }
    return original.call(this, address, options, callback)
  }
  dns.lookup = replacement('w1')
  const r = dgram.createSocket('udp4')
  const got = []
  r.on('message', (m) => got.push(String(m)))
  r.bind(0, '127.0.0.1', () => {
    const port = r.address().port
    const s = dgram.createSocket('udp4')
    const steps = [
      (next) => s.send('literal', port, '127.0.0.1', next),
      (next) => s.send('other family', port, '::1', next),
      (next) => { dns.lookup = replacement('w2', '127.0.0.1'); s.send('late name', port, 'late.test', next) },
      (next) => s.send('literal after w2', port, '127.0.0.1', next),
      (next) => { const s2 = dgram.createSocket('udp4'); s2.send('new socket', port, '127.0.0.1', (e, n) => { s2.close(); next(e, n) }) },
      // Made while dns.lookup is Node's own, then w3 installed: who answers a name, and a
      // literal of the other family? (localhost is in /etc/hosts: no DNS server is asked.)
      (next) => { dns.lookup = original; s3 = dgram.createSocket('udp4'); dns.lookup = replacement('w3'); s3.send('late wrapper', port, 'localhost', next) },
      (next) => s3.send('late wrapper, other family', port, '::1', next),
      (next) => { dns.lookup = original; s3.send('restored', port, '127.0.0.1', (e, n) => { s3.close(); next(e, n) }) }
    ]
    let s3
    const run = (i) => {
      if (i === steps.length) {
        setTimeout(() => {
          console.log(JSON.stringify({ calls, results, got: got.sort() }))
          s.close()
          r.close()
        }, 100)
        return
      }
      steps[i]((err, n) => { results.push(err ? err.code : n); run(i + 1) })
    }
    run(0)
  })`

test('lookup: a replaced or wrapped dns.lookup is called as node:dgram calls it, read when node:dgram reads it', {
  skip: FALLBACK && 'the fallback is node:dgram itself'
}, async () => {
  const [node, dgramRs] = await Promise.all(IMPLS.map((impl) => runChild(impl.module, LOOKUP_SCENARIO)))
  const parse = (r) => { assert.strictEqual(r.code, 0, r.stderr); return JSON.parse(r.stdout) }
  const expected = parse(node)
  // The oracle does what the version table says.
  const literalCalls = expected.calls.filter(([, address]) => address === '127.0.0.1')
  if (nodeVersion.literalLookup) {
    assert.deepStrictEqual(literalCalls, [])
    assert.ok(expected.calls.some((c) => c[0] === 'w2' && c[1] === 'late.test'), JSON.stringify(expected))
  } else {
    assert.ok(literalCalls.length > 0, JSON.stringify(expected))
    assert.ok(!expected.calls.some((c) => c[0] === 'w2' && c[1] === 'late.test'), JSON.stringify(expected))
  }
  assert.deepStrictEqual(parse(dgramRs), expected)
})

const { parity, describeError, attempt, bindLoopback } = require('./helpers/impls')
const SYNC_SKIP = !nodeVersion.syncMethods && 'bindSync and connectSync: Node 24.19+ / 26.4+'

// The error with the ephemeral port replaced, for transcripts that compare two runs.
const portless = (port) => (fn) => {
  try {
    return { returned: fn() }
  } catch (e) {
    return { threw: describeError(e, { [port]: 'PORT' }) }
  }
}

parity('bindSync: returns the address at once, "listening" comes on the next tick; bad arguments leave the socket usable', async (ctx) => {
  const s = ctx.socket('udp4')
  const t = ctx.transcript()
  s.on('listening', () => t.log('listening'))
  const bad = [null, [], 'x', 5, { port: -1 }, { port: 'x' }, { address: 5 }, { address: 'localhost' }, { address: '::1x' }]
    .map((arg) => attempt(() => s.bindSync(arg)))
  const address = await ctx.macro(() => {
    const a = s.bindSync({ address: '127.0.0.1' })
    t.log('returned')
    t.markers('after')
    return a
  })
  await new Promise((resolve) => setImmediate(resolve))
  const again = attempt(() => s.bindSync())
  const other = ctx.socket('udp4')
  const inUse = portless(address.port)(() => other.bindSync({ port: address.port, address: '127.0.0.1' }))
  const closed = ctx.socket('udp4')
  closed.close()
  return {
    bad,
    returned: { ...address, port: typeof address.port, same: address.port === s.address().port },
    entries: t.entries,
    again,
    inUse,
    closed: attempt(() => closed.bindSync())
  }
}, (r) => {
  assert.deepStrictEqual(r.returned, { address: '127.0.0.1', family: 'IPv4', port: 'number', same: true })
  assert.strictEqual(r.inUse.threw.code, 'EADDRINUSE')
}, { skip: SYNC_SKIP })

parity('bindSync then close in the same tick: no "listening"', async (ctx) => {
  const s = ctx.socket('udp6')
  const t = ctx.transcript()
  s.on('listening', () => t.log('listening'))
  s.on('close', () => t.log('close'))
  const a = s.bindSync({ address: '::1' })
  s.close()
  await new Promise((resolve) => setTimeout(resolve, 20))
  return { family: a.family, entries: t.entries }
}, (r) => assert.deepStrictEqual(r, { family: 'IPv6', entries: ['close'] }), { skip: SYNC_SKIP })

parity('connectSync: binds if needed, connects at once, "listening" then "connect" on the next tick; sends go to the peer', async (ctx) => {
  const r = ctx.node('udp4')
  const port = await bindLoopback(r)
  const got = new Promise((resolve) => r.once('message', (m) => resolve(String(m))))
  const s = ctx.socket({ type: 'udp4', sendBlockList: blocked() })
  const t = ctx.transcript()
  for (const e of ['listening', 'connect']) s.on(e, () => t.log(e))
  const bad = [[0], ['x'], [port, 5], [port, 'localhost'], [port, '10.9.9.9']]
    .map((args) => attempt(() => s.connectSync(...args)))
  const returned = await ctx.macro(() => {
    const v = s.connectSync(port)
    t.log('returned')
    t.markers('after')
    return v
  })
  await new Promise((resolve) => setImmediate(resolve))
  const remote = s.remoteAddress()
  const again = attempt(() => s.connectSync(port, '127.0.0.1'))
  s.send('hello')
  return { bad, returned, entries: t.entries, remote: { ...remote, port: remote.port === port }, again, got: await got }
}, (r) => {
  assert.strictEqual(r.got, 'hello')
  // The blocked address's call bound the socket before it threw: its 'listening' came first.
  assert.deepStrictEqual(r.entries.slice(0, 3), ['listening', 'returned', 'connect'])
}, { skip: SYNC_SKIP })

function blocked () {
  const { BlockList } = require('node:net')
  const list = new BlockList()
  list.addAddress('10.9.9.9')
  return list
}

parity('bind(port, callback): what listens for its failure ("error" before 24.21 / 26.8, errorMonitor after)', async (ctx) => {
  const s = ctx.socket('udp4')
  s.bind(0, '127.0.0.1', () => {})
  const counts = { error: s.listenerCount('error'), listening: s.listenerCount('listening') }
  await new Promise((resolve) => s.once('listening', resolve))
  return { counts, after: s.listenerCount('error') }
}, (r) => assert.deepStrictEqual(r.counts.error, nodeVersion.bindErrorMonitor ? 0 : 1))

// The 24.21+ / 26.8+ failure crashes the process; before, it was dropped and the process exited 0.
test('bind(port, callback) to a port in use, with no "error" listener: the process ends as with node:dgram', {
  skip: FALLBACK && 'the fallback is node:dgram itself'
}, async () => {
  const body = `
    const holder = require('node:dgram').createSocket('udp4')
    holder.bind(0, '127.0.0.1', () => {
      const port = holder.address().port
      console.log(JSON.stringify({ port }))
      dgram.createSocket('udp4').bind(port, '127.0.0.1', () => console.log('listening'))
      setTimeout(() => holder.close(), 200)
    })`
  const run = async (impl) => {
    const r = await runChild(impl.module, body)
    const port = JSON.parse(r.stdout.split('\n')[0]).port
    const lines = r.stderr.split('\n').map((l) => l.split(String(port)).join('PORT'))
    return {
      code: r.code,
      stdout: r.stdout.split('\n').slice(1),
      thrown: lines.filter((l) => /^(Error|node:events|Emitted 'error')/.test(l) || l.includes('Unhandled'))
    }
  }
  const [node, dgramRs] = await Promise.all(IMPLS.map(run))
  assert.strictEqual(node.code, nodeVersion.bindErrorMonitor ? 1 : 0, JSON.stringify(node))
  assert.deepStrictEqual(dgramRs, node)
})
