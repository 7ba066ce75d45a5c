'use strict'
// Async context, as tracing and APM tools see it, run in child processes on node:dgram and on
// dgram-rs with the same transcript:
// - node:dgram's UDPWrap is an async resource made with the socket: async_hooks' `init`
//   (UDPWRAP) fires at createSocket(), and 'message' listeners run in it, so they see the
//   AsyncLocalStorage store of createSocket(), not of bind();
// - every send callback sees the store of its own send(), also when several sends of one tick
//   leave together, and a queued send (--test-udp-no-try-send queues every send) is an async
//   resource of its own (UDPSENDWRAP) made at send time.
const assert = require('node:assert')
const { test } = require('node:test')
const { IMPLS } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

// Prints the transcript (`log`) as JSON once `done()` is called. `hooks` records the async
// resources of dgram's types that async_hooks sees made: [type, made while logging label].
const PROLOGUE = `
const { AsyncLocalStorage, createHook, executionAsyncId } = require('node:async_hooks')
const als = new AsyncLocalStorage()
const entries = {}
const log = (key, value) => { entries[key] = value }
const inits = []
const ids = new Map()
createHook({
  init (id, type) {
    if (type.startsWith('UDP')) { inits.push(type); ids.set(id, type) }
  }
}).enable()
const done = () => { log('inits', inits); console.log(JSON.stringify(entries)) }
`

async function parityChild (body, check, execArgv = []) {
  const results = []
  for (const impl of IMPLS) {
    const { code, stdout, stderr } = await runChild(impl.module, PROLOGUE + body, { execArgv })
    assert.strictEqual(code, 0, `${impl.name}: ${stderr}`)
    results.push(JSON.parse(stdout))
  }
  check(results[0])
  assert.deepStrictEqual(results[1], results[0])
}

const SOCKETS = `
const r = als.run('create r', () => dgram.createSocket('udp4'))
log('inits after createSocket', inits.slice())
const c = als.run('create c', () => dgram.createSocket('udp4'))
let received = 0
r.on('message', (m) => {
  log('message ' + m, [als.getStore(), ids.get(executionAsyncId())])
  if (++received === SENT) {
    als.run('close', () => r.close(() => { log('close callback', als.getStore()); c.close(done) }))
  }
})
r.on('listening', () => log('listening', als.getStore()))
`

test('async context: \'message\' runs in the socket\'s own async resource (UDPWRAP, made at createSocket) and sees createSocket()\'s store', async () => {
  const body = SOCKETS.replace('SENT', '2') + `
als.run('bind r', () => r.bind(0, '127.0.0.1', () => {
  log('bind callback', als.getStore())
  als.run('connect c', () => c.connect(r.address().port, '127.0.0.1', () => {
    log('connect callback', als.getStore())
    als.run('send 1', () => c.send('1', () => log('send 1 callback', als.getStore())))
    als.run('send 2', () => c.send('2', () => log('send 2 callback', als.getStore())))
  }))
}))`
  await parityChild(body, (r) => {
    assert.deepStrictEqual(r['inits after createSocket'], ['UDPWRAP'])
    assert.deepStrictEqual(r['message 1'], ['create r', 'UDPWRAP'])
    assert.strictEqual(r.listening, 'bind r')
    assert.strictEqual(r['send 2 callback'], 'send 2')
  })
})

test('async context: sends of one tick, to addresses and a name, each call back in their own send()\'s store', async () => {
  const body = SOCKETS.replace('SENT', '4') + `
r.bind(0, '127.0.0.1', () => {
  const port = r.address().port
  c.bind(0, '127.0.0.1', () => {
    for (const k of ['a', 'b', 'c']) als.run('send ' + k, () => c.send(k, port, '127.0.0.1', () => log('send ' + k + ' callback', als.getStore())))
    als.run('send d', () => c.send('d', port, 'localhost', () => log('send d callback', als.getStore())))
  })
})`
  await parityChild(body, (r) => {
    for (const k of ['a', 'b', 'c', 'd']) assert.strictEqual(r[`send ${k} callback`], `send ${k}`)
  })
})

test('async context: a queued send is an async resource of its own (UDPSENDWRAP), its callback in its send()\'s store', async () => {
  // Sends of one tick from c (gathered, then queued), and one from a connected socket (queued at
  // once).
  const body = SOCKETS.replace('SENT', '5') + `
const d = als.run('create d', () => dgram.createSocket('udp4'))
r.bind(0, '127.0.0.1', () => {
  const port = r.address().port
  c.bind(0, '127.0.0.1', () => {
    for (const k of ['a', 'b', 'c', 'd']) als.run('send ' + k, () => c.send(k, port, '127.0.0.1', () => log('send ' + k + ' callback', als.getStore())))
  })
  als.run('connect d', () => d.connect(port, '127.0.0.1', () => {
    als.run('send x', () => d.send('x', () => { log('send x callback', als.getStore()); d.close() }))
  }))
})`
  await parityChild(body, (r) => {
    assert.deepStrictEqual(r.inits, ['UDPWRAP', 'UDPWRAP', 'UDPWRAP', 'UDPSENDWRAP', 'UDPSENDWRAP', 'UDPSENDWRAP', 'UDPSENDWRAP', 'UDPSENDWRAP'])
    for (const k of ['a', 'b', 'c', 'd', 'x']) assert.strictEqual(r[`send ${k} callback`], `send ${k}`)
  }, ['--test-udp-no-try-send'])
})
