'use strict'
// send(): every argument form (string, Buffer, TypedArrays, DataView, lists, offset/length, port
// as string, no address), the callback (err, bytes) and its tick, and synchronous argument errors.
const assert = require('node:assert')
const { parity, attempt, until, bindLoopback, describeError } = require('./helpers/impls')

// A node:dgram receiver that records payloads in arrival order.
async function receiver (ctx, t) {
  const r = ctx.node('udp4')
  const port = await bindLoopback(r)
  r.on('message', (m, rinfo) => t.log('recv', m.toString('hex'), rinfo.size, rinfo.address))
  return port
}

parity('send: argument forms deliver the right bytes, callbacks get (null, bytes)', async (ctx) => {
  const t = ctx.transcript()
  const P = await receiver(ctx, t)
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  const buf = Buffer.from('0123456789')
  const ab = new ArrayBuffer(16)
  new Uint8Array(ab).forEach((_, i, a) => { a[i] = 0xa0 + i })
  let n = 0
  const callbackFor = (label) => function (err, bytes) { t.log('cb', label, err, bytes, arguments.length) }
  const forms = [
    ['string', () => s.send('hello', P, '127.0.0.1', callbackFor('string'))],
    ['buffer', () => s.send(buf, P, '127.0.0.1', callbackFor('buffer'))],
    ['buffer subarray', () => s.send(buf.subarray(3, 6), P, '127.0.0.1', callbackFor('buffer subarray'))],
    ['uint8array', () => s.send(new Uint8Array([1, 2, 3]), P, '127.0.0.1', callbackFor('uint8array'))],
    ['uint16array', () => s.send(new Uint16Array([0x0102, 0x0304]), P, '127.0.0.1', callbackFor('uint16array'))],
    ['float64array', () => s.send(new Float64Array([1.5]), P, '127.0.0.1', callbackFor('float64array'))],
    ['int32array view', () => s.send(new Int32Array(ab, 4, 2), P, '127.0.0.1', callbackFor('int32array view'))],
    ['dataview', () => s.send(new DataView(ab, 2, 3), P, '127.0.0.1', callbackFor('dataview'))],
    ['list', () => s.send([Buffer.from('ab'), 'cd', new Uint8Array([0x65]), new DataView(ab, 0, 1)], P, '127.0.0.1', callbackFor('list'))],
    ['empty list', () => s.send([], P, '127.0.0.1', callbackFor('empty list'))],
    ['empty string', () => s.send('', P, '127.0.0.1', callbackFor('empty string'))],
    ['offset/length buffer', () => s.send(buf, 2, 5, P, '127.0.0.1', callbackFor('offset/length buffer'))],
    ['offset/length string', () => s.send('abcdef', 1, 3, P, '127.0.0.1', callbackFor('offset/length string'))],
    ['offset/length uint16', () => s.send(new Uint16Array([0x0102, 0x0304]), 1, 2, P, '127.0.0.1', callbackFor('offset/length uint16'))],
    ['offset/length dataview', () => s.send(new DataView(ab, 4, 8), 2, 3, P, '127.0.0.1', callbackFor('offset/length dataview'))],
    ['offset/length zero', () => s.send(buf, 10, 0, P, '127.0.0.1', callbackFor('offset/length zero'))],
    ['offset/length callback as address', () => s.send(buf, 0, 2, P, callbackFor('offset/length callback as address'))],
    ['port as string', () => s.send('p', String(P), '127.0.0.1', callbackFor('port as string'))],
    ['no address', () => s.send('noaddr', P, callbackFor('no address'))],
    ['null address', () => s.send('nulladdr', P, null, callbackFor('null address'))],
    ['no callback', () => s.send('nocb', P, '127.0.0.1')],
    // Odd but pinned: with an address, the 4th argument is taken as `length`... and the port as
    // `offset`, so this throws ERR_BUFFER_OUT_OF_BOUNDS.
    ['non-function callback', () => s.send('badcb', P, '127.0.0.1', 'not a function')],
    ['non-function callback, no address', () => s.send('badcb2', P, undefined, 'not a function')]
  ]
  let cbs = 0
  for (const [label, fn] of forms) {
    const r = attempt(fn, (v) => v === undefined ? 'undefined' : typeof v)
    t.log('call', label, r)
    if (!r.threw) {
      n++
      if (!/^(no|non-function) callback/.test(label)) cbs++
    }
  }
  await until(() => t.count((e) => e[0] === 'recv') === n && t.count((e) => e[0] === 'cb') === cbs)
  // Split the transcript: callbacks and receives interleave depending on the scheduler.
  return {
    calls: t.entries.filter((e) => e[0] === 'call'),
    callbacks: t.entries.filter((e) => e[0] === 'cb'),
    received: t.entries.filter((e) => e[0] === 'recv')
  }
}, (r) => {
  assert.strictEqual(r.received.length, 21)
  assert.strictEqual(r.callbacks.length, 20)
  assert.deepStrictEqual(r.received[0], ['recv', Buffer.from('hello').toString('hex'), 5, '127.0.0.1'])
  assert.deepStrictEqual(r.received[8], ['recv', '61626364 65a0'.replace(' ', ''), 6, '127.0.0.1'])
  assert.deepStrictEqual(r.received[9], ['recv', '', 0, '127.0.0.1'])
  assert.deepStrictEqual(r.received[11], ['recv', Buffer.from('23456').toString('hex'), 5, '127.0.0.1'])
  assert.deepStrictEqual(r.callbacks[0], ['cb', 'string', null, 5, 2])
  for (const c of r.calls.slice(0, -2)) assert.deepStrictEqual(c[2], { returned: 'undefined' })
  assert.strictEqual(r.calls[22][2].threw.code, 'ERR_BUFFER_OUT_OF_BOUNDS')
})

parity('send: callback runs on a later tick, after a nextTick queued by the caller', async (ctx) => {
  const t = ctx.transcript()
  const P = await receiver(ctx, t)
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  await ctx.macro(() => {
    s.send('a', P, '127.0.0.1', (err, n) => t.log('cb', err, n))
    t.log('sync end')
    t.markers('m')
  })
  await until(() => t.has('m:immediate') && t.count((e) => e[0] === 'recv') === 1)
  return t.entries.filter((e) => e[0] !== 'recv')
}, (entries) => {
  assert.deepStrictEqual(entries, ['sync end', 'm:nextTick', ['cb', null, 1], 'm:promise', 'm:immediate'])
})

parity('send: synchronous argument errors', async (ctx) => {
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  const P = 9 // never reached: every call below throws before sending (discard port, loopback)
  const buf = Buffer.from('abc')
  const calls = [
    () => s.send(buf, 4, 1, P, '127.0.0.1'), // ERR_BUFFER_OUT_OF_BOUNDS offset
    () => s.send(buf, 1, 3, P, '127.0.0.1'), // … length
    () => s.send(buf, 0, 4, P, '127.0.0.1'),
    () => s.send(buf, -1, 1, P, '127.0.0.1'), // offset >>> 0
    () => s.send('abc', 1, 5, P, '127.0.0.1'),
    () => s.send(buf, 0),
    () => s.send(buf, 0, '127.0.0.1'),
    () => s.send(buf),
    () => s.send(buf, undefined, '127.0.0.1'),
    () => s.send(buf, 65536, '127.0.0.1'),
    () => s.send(buf, -1, '127.0.0.1'),
    () => s.send(buf, 1.5, '127.0.0.1'),
    () => s.send(buf, NaN, '127.0.0.1'),
    () => s.send(buf, 'abc', '127.0.0.1'),
    () => s.send(buf, ' ', '127.0.0.1'),
    () => s.send(buf, '', '127.0.0.1'),
    () => s.send(buf, true, '127.0.0.1'),
    () => s.send(buf, {}, '127.0.0.1'),
    () => s.send(buf, null, '127.0.0.1'),
    () => s.send(123, P, '127.0.0.1'),
    () => s.send(null, P, '127.0.0.1'),
    () => s.send(undefined, P, '127.0.0.1'),
    () => s.send({}, P, '127.0.0.1'),
    () => s.send(new ArrayBuffer(4), P, '127.0.0.1'),
    () => s.send([1, 2], P, '127.0.0.1'),
    () => s.send([buf, null], P, '127.0.0.1'),
    () => s.send(123, 0, 1, P, '127.0.0.1'),
    () => s.send(buf, P, 123),
    () => s.send(buf, P, {}),
    () => s.send(buf, P, true),
    () => s.send(buf, 0, 1, P, 123),
    () => s.send(123, 0) // which check wins: buffer type or port
  ]
  return calls.map((fn) => attempt(fn, (v) => typeof v))
}, (out) => {
  for (const r of out) assert.ok(r.threw, JSON.stringify(r))
  assert.strictEqual(out[0].threw.code, 'ERR_BUFFER_OUT_OF_BOUNDS')
  assert.strictEqual(out[0].threw.message, '"offset" is outside of buffer bounds')
  assert.strictEqual(out[1].threw.message, '"length" is outside of buffer bounds')
  assert.strictEqual(out[5].threw.code, 'ERR_SOCKET_BAD_PORT')
  assert.strictEqual(out[5].threw.name, 'RangeError')
  assert.strictEqual(out[7].threw.code, 'ERR_SOCKET_BAD_PORT')
  assert.strictEqual(out[19].threw.code, 'ERR_INVALID_ARG_TYPE')
  assert.strictEqual(out[24].threw.code, 'ERR_INVALID_ARG_TYPE')
  assert.match(out[24].threw.message, /^The "buffer list arguments" argument/)
  assert.strictEqual(out[27].threw.code, 'ERR_INVALID_ARG_TYPE')
  assert.match(out[27].threw.message, /^The "address" argument must be of type string/)
})

parity('send: on a closed socket throws ERR_SOCKET_DGRAM_NOT_RUNNING (after argument checks)', async (ctx) => {
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  s.close()
  return [
    attempt(() => s.send('x', 9, '127.0.0.1')),
    attempt(() => s.send('x', 0, '127.0.0.1')),
    attempt(() => s.send(1, 9, '127.0.0.1'))
  ]
}, (out) => {
  assert.strictEqual(out[0].threw.code, 'ERR_SOCKET_DGRAM_NOT_RUNNING')
  assert.strictEqual(out[0].threw.message, 'Not running')
  assert.strictEqual(out[1].threw.code, 'ERR_SOCKET_BAD_PORT')
  assert.strictEqual(out[2].threw.code, 'ERR_INVALID_ARG_TYPE')
})

parity('send: EMSGSIZE above 65507 bytes on udp4 goes to the callback; the socket keeps working', async (ctx) => {
  const t = ctx.transcript()
  const P = await receiver(ctx, t)
  const s = ctx.socket('udp4')
  s.on('error', (e) => t.log('error event', describeError(e)))
  await bindLoopback(s)
  const norm = (e) => {
    if (!e) return e
    const d = describeError(e)
    d.port = d.port === P ? 'P' : d.port
    d.message = d.message.replace(`:${P}`, ':P')
    d.string = d.string.replace(`:${P}`, ':P')
    return d
  }
  s.send(Buffer.alloc(65508), P, '127.0.0.1', (err, n) => t.log('cb big', norm(err), n))
  s.send(Buffer.alloc(70000), P, '127.0.0.1') // no callback: the error is dropped silently
  s.send([Buffer.alloc(40000), Buffer.alloc(30000)], P, '127.0.0.1', (err, n) => t.log('cb list', norm(err), n))
  s.send('still works', P, '127.0.0.1', (err, n) => t.log('cb small', err, n))
  await until(() => t.has(['cb small', null, 11]) && t.count((e) => e[0] === 'recv') === 1)
  await new Promise((resolve) => setTimeout(resolve, 20)) // an 'error' event would be on a later tick
  return t.entries.map((e) => e[0] === 'recv' ? [e[0], e[2]] : e)
}, (entries) => {
  const big = entries.find((e) => e[0] === 'cb big')
  assert.strictEqual(big[1].code, 'EMSGSIZE')
  assert.strictEqual(big[1].errno, -90)
  assert.strictEqual(big[1].syscall, 'send')
  assert.strictEqual(big[1].address, '127.0.0.1')
  assert.strictEqual(big[1].port, 'P')
  assert.strictEqual(big[1].message, 'send EMSGSIZE 127.0.0.1:P')
  assert.strictEqual(big[2], undefined)
  assert.ok(!entries.some((e) => e[0] === 'error event'))
  assert.ok(entries.some((e) => e[0] === 'recv' && e[1] === 11))
})

parity('send: a list of 20 buffers is one datagram of all their bytes, in order', async (ctx) => {
  const r = ctx.node('udp4')
  const port = await bindLoopback(r)
  const got = new Promise((resolve) => r.once('message', (m) => resolve([...m])))
  const s = ctx.socket('udp4')
  const sent = await new Promise((resolve, reject) => s.send(Array.from({ length: 20 }, (_, i) => Buffer.from([i, 100 + i])), port, '127.0.0.1', (err, n) => err ? reject(err) : resolve(n)))
  return { sent, got: await got }
}, (r) => {
  assert.deepStrictEqual(r, { sent: 40, got: Array.from({ length: 20 }, (_, i) => [i, 100 + i]).flat() })
})
