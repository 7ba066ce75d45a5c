'use strict'
// worker_threads: a worker creates and binds a socket and is terminated with it open;
// the process survives and the main thread's socket keeps working. Run in child processes, since
// a failure here typically aborts the whole process.
const assert = require('node:assert')
const { parity } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

parity('worker: terminate() with a bound socket open; the main thread\'s socket keeps working', async (ctx) => {
  const r = await runChild(ctx.module, `
const { Worker } = require('node:worker_threads')
const MOD = ${JSON.stringify(ctx.module)}
const main = dgram.createSocket('udp4')
main.bind(0, '127.0.0.1', () => {
  const w = new Worker(\`
    const dgram = require(\${JSON.stringify(MOD)})
    const { parentPort } = require('node:worker_threads')
    const s = dgram.createSocket('udp4')
    s.on('message', (m, r) => { parentPort.postMessage('worker got ' + m); s.send('pong', r.port, r.address) })
    s.bind(0, '127.0.0.1', () => parentPort.postMessage(s.address().port))
  \`, { eval: true })
  w.on('message', (m) => {
    if (typeof m === 'number') return main.send('ping', m, '127.0.0.1')
    console.log(m)
  })
  w.on('exit', (code) => console.log('worker exit', code))
  main.once('message', async (m) => {
    console.log('main got', String(m))
    await w.terminate()
    console.log('terminated')
    main.once('message', (m2) => { console.log('main still works', String(m2)); main.close() })
    main.send('self', main.address().port, '127.0.0.1')
  })
})`, { timeout: 10000 })
  return { code: r.code, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout.split('\n').sort(), stderr: r.stderr }
}, (r) => {
  assert.deepStrictEqual(r, {
    code: 0,
    signal: null,
    timedOut: false,
    stdout: ['', 'main got pong', 'main still works self', 'terminated', 'worker exit 1', 'worker got ping'],
    stderr: ''
  })
}, { timeout: 25000 })

parity('worker: several workers terminated while datagrams are arriving', async (ctx) => {
  const r = await runChild(ctx.module, `
const { Worker } = require('node:worker_threads')
const MOD = ${JSON.stringify(ctx.module)}
const sender = require('node:dgram').createSocket('udp4')
let exited = 0
for (let i = 0; i < 4; i++) {
  const w = new Worker(\`
    const dgram = require(\${JSON.stringify(MOD)})
    const { parentPort } = require('node:worker_threads')
    const s = dgram.createSocket('udp4')
    let n = 0
    s.on('message', () => { if (++n === 10) parentPort.postMessage('receiving') })
    s.bind(0, '127.0.0.1', () => parentPort.postMessage(s.address().port))
  \`, { eval: true })
  let timer
  w.on('message', async (m) => {
    if (typeof m === 'number') {
      // Keep sending until the worker is gone; bounded by the count and the child's timeout.
      let k = 0
      timer = setInterval(() => { for (let j = 0; j < 20 && k < 20000; j++, k++) sender.send('d', m, '127.0.0.1') }, 1)
      return
    }
    await w.terminate()
  })
  w.on('exit', () => { clearInterval(timer); if (++exited === 4) { console.log('all exited'); sender.close() } })
}`, { timeout: 10000 })
  return { code: r.code, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr }
}, (r) => {
  assert.deepStrictEqual(r, { code: 0, signal: null, timedOut: false, stdout: 'all exited\n', stderr: '' })
}, { timeout: 25000 })
