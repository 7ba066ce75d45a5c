'use strict'
// The load generator for the flood scenario. It always uses node:dgram, so both
// implementations under test face the same sender. Bounded by time: it stops by itself.
// Paced at <rate> datagrams/s (default 150,000: three times what a 20 µs handler can take, so
// the receiver is always flooded) rather than flat out, so that on a 2-vCPU machine the sender
// does not also starve the receiver of CPU and turn the timer-lag figure into scheduler noise.
//   node flood-sender.js <port> <durationMs> <size> [rate] [host]
const dgram = require('node:dgram')

const port = Number(process.argv[2])
const durationMs = Number(process.argv[3] || 10000)
const size = Number(process.argv[4] || 64)
const rate = Number(process.argv[5] || 150000)
const host = process.argv[6] || '127.0.0.1'
const BURST = 256

const payload = Buffer.alloc(size, 0x61)
const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
let sent = 0
let errors = 0
let stopAt = 0
let startAt = 0
// The receiver closing before we stop gives ECONNREFUSED on this connected socket: expected.
sock.on('error', () => {
  errors++
})
sock.connect(port, host, () => {
  startAt = Date.now()
  stopAt = startAt + durationMs
  burst()
})

function burst () {
  const now = Date.now()
  if (now >= stopAt) {
    sock.close(() => {
      process.stdout.write(`${JSON.stringify({ sent, errors })}\n`)
    })
    return
  }
  const due = Math.min(BURST, Math.floor(((now - startAt) * rate) / 1000) - sent)
  for (let i = 0; i < due; i++) {
    sock.send(payload)
    sent++
  }
  if (due === BURST) setImmediate(burst)
  else setTimeout(burst, 1)
}
