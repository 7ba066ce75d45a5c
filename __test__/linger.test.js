'use strict'
// Lingering (src/reactor/linger.rs): after a dgram-rs socket answered what it read and found
// nothing more, its thread's loop polls without blocking for up to 50 µs before it sleeps, where
// that has been paying (request/response with a few in flight). None of it may be visible but
// speed: every exchange completes in order, and once the traffic stops the process is idle
// again and exits as node:dgram's does. When lingering begins and stops is pinned by the unit
// tests in src/reactor/linger.rs, which need no clock.
const assert = require('node:assert')
const { parity } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

// In a child process of its own (the test runner's I/O would wake this loop): an echo server on
// the main thread, a client on a worker thread keeping 2 requests in flight (so that both
// threads answer, and linger, at every exchange). Once the worker is done and gone, the process's
// CPU over the next 300 ms of quiet is measured with the server still open; then it closes, and
// the process must exit by itself.
parity('linger: once request/response stops, the process is idle again and exits', async (ctx) => {
  const result = await runChild(ctx.module, `
const { Worker } = require('node:worker_threads')
const EXCHANGES = 3000
const server = dgram.createSocket('udp4')
let answered = 0
server.on('message', (m, rinfo) => { answered++; server.send(m, rinfo.port, rinfo.address) })
server.bind(0, '127.0.0.1', () => {
  const worker = new Worker(\`
    const { workerData, parentPort } = require('node:worker_threads')
    const client = require(workerData.module).createSocket('udp4')
    let replies = 0
    let last = -1
    let inOrder = true
    let next = 0
    const ask = () => client.send(String(next++), workerData.port, '127.0.0.1')
    client.on('message', (m) => {
      if (Number(m) !== last + 1) inOrder = false
      last = Number(m)
      if (++replies === workerData.exchanges) {
        parentPort.postMessage({ replies, inOrder })
        client.close()
      } else if (next < workerData.exchanges) {
        ask()
      }
    })
    client.bind(0, '127.0.0.1', () => { ask(); ask() })
  \`, { eval: true, workerData: { module: ${JSON.stringify(ctx.module)}, port: server.address().port, exchanges: EXCHANGES } })
  let done
  worker.on('message', (m) => { done = m })
  // Measured once the worker is gone (its teardown is CPU of its own, seconds under qemu-user).
  worker.on('exit', () => {
    const before = process.cpuUsage()
    setTimeout(() => {
      const cpu = process.cpuUsage(before)
      const idleMs = (cpu.user + cpu.system) / 1000
      // Every thread of the process counts: 300 ms of polling would read about 300 ms.
      console.log(JSON.stringify({ ...done, answered, quiet: idleMs < 60 }))
      server.close()
    }, 300)
  })
})`, { timeout: 20000 })
  return { out: result.stdout, stderr: result.stderr, code: result.code, timedOut: result.timedOut }
}, (result) => {
  assert.deepStrictEqual(result, {
    out: JSON.stringify({ replies: 3000, inOrder: true, answered: 3000, quiet: true }) + '\n',
    stderr: '',
    code: 0,
    timedOut: false
  })
}, { timeout: 60000 })
