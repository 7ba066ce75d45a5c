'use strict'
// 2b. 2,000 sockets at once: each bound and receiving one datagram (sent by one sender socket),
// then all closed; the descriptors come back.
//   IMPL=... node stress/scenarios/many-sockets.js [impl] [count]
const c = require('../lib/common')

const dgram = c.loadDgram()
const COUNT = Number(process.env.COUNT || process.argv[3] || 2000)

async function main () {
  const fdBefore = await c.fdBaseline(dgram)
  const t0 = performance.now()
  const socks = []
  const errors = []
  let received = 0
  let wrong = 0
  let allReceived
  const allReceivedP = new Promise((resolve) => (allReceived = resolve))

  await Promise.all(
    Array.from({ length: COUNT }, (_, i) => {
      const s = dgram.createSocket('udp4')
      socks.push(s)
      s.on('error', (e) => errors.push(`${i}: ${e.code} ${e.syscall}`))
      s.on('message', (msg) => {
        if (msg.toString() !== `to ${i}`) wrong++
        if (++received === COUNT) allReceived()
      })
      return new Promise((resolve) => s.bind(0, '127.0.0.1', resolve))
    })
  )
  const bindMs = performance.now() - t0
  const fdOpen = c.fdCount()

  const sender = dgram.createSocket('udp4')
  await new Promise((resolve) => sender.bind(0, '127.0.0.1', resolve))
  let sendErrors = 0
  for (let i = 0; i < COUNT; i++) {
    sender.send(`to ${i}`, socks[i].address().port, '127.0.0.1', (e) => {
      if (e) sendErrors++
    })
  }
  let timedOut = false
  try {
    await c.withTimeout(allReceivedP, 10000, 'all datagrams received')
  } catch {
    timedOut = true
  }
  const totalMs = performance.now() - t0

  await Promise.all([sender, ...socks].map((s) => new Promise((resolve) => s.close(resolve))))
  await c.sleep(20)
  const fdAfter = c.fdCount()

  c.report({
    figures: {
      sockets: COUNT,
      bindAllMs: c.round(bindMs, 1),
      totalMs: c.round(totalMs, 1),
      received,
      fdWhileOpen: fdOpen - fdBefore,
      fdBefore,
      fdAfter
    },
    checks: {
      [`${COUNT} sockets bound`]: c.check(errors.length === 0 && fdOpen - fdBefore >= COUNT, errors.slice(0, 3).join('; ') || `${fdOpen - fdBefore} fds`),
      'each received its datagram': c.check(!timedOut && received === COUNT && wrong === 0 && sendErrors === 0, `${received} received, ${wrong} wrong, ${sendErrors} send errors`),
      'descriptors released': c.check(fdAfter <= fdBefore, `${fdBefore} -> ${fdAfter}`)
    }
  })
  c.exitGuard(5000)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
