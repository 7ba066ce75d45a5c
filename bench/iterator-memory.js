'use strict'
// Memory of a slow consumer under a flood: `for await` over socket.messages() (dgram-rs: holds at
// most highWaterMark datagrams, pausing reading) against `events.on(socket, 'message')` (holds
// everything that arrives). A sender process floods the receiver for a few seconds (64 B
// datagrams, loopback); the consumer awaits 1 ms per datagram. Prints the receiver's RSS and heap
// over time for each way, each in a process of its own.
//
//   node bench/iterator-memory.js [--seconds=3]

const { spawn } = require('node:child_process')
const path = require('node:path')

const argv = process.argv.slice(2)
const seconds = Number((argv.find((a) => a.startsWith('--seconds=')) || '--seconds=3').split('=')[1])

// The receiver: `way` is 'messages' or 'events.on'. Reports JSON lines of samples, then a summary.
function receiver (way) {
  const dgram = require(path.join(__dirname, '..'))
  const { on } = require('node:events')
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 })
  const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const mb = (n) => Math.round(n / 1e5) / 10
  socket.bind(0, '127.0.0.1', async () => {
    process.send({ port: socket.address().port })
    const samples = []
    const sample = setInterval(() => {
      const m = process.memoryUsage()
      samples.push([mb(m.rss), mb(m.heapUsed)])
    }, 250)
    let consumed = 0
    const end = Date.now() + seconds * 1000 + 500
    const iterator = way === 'messages' ? socket.messages({ highWaterMark: 1024 }) : on(socket, 'message')
    for await (const [msg] of iterator) {
      if (msg.length !== 64) throw new Error(`a datagram of ${msg.length} bytes`)
      consumed++
      await delay(1)
      if (Date.now() > end) break
    }
    clearInterval(sample)
    const stats = socket.getStats()
    socket.close()
    process.send({ done: true, samples, consumed, stats })
  })
}

// The sender: floods `port` for `seconds`.
function sender (port) {
  const dgram = require('node:dgram')
  const s = dgram.createSocket('udp4')
  const payload = Buffer.alloc(64)
  let sent = 0
  const end = Date.now() + seconds * 1000
  const burst = () => {
    if (Date.now() > end) { s.close(); process.send({ sent }); return }
    for (let i = 0; i < 64; i++) s.send(payload, port, '127.0.0.1')
    sent += 64
    setImmediate(burst)
  }
  burst()
}

function child (role, arg) {
  return spawn(process.execPath, [__filename, `--role=${role}`, `--arg=${arg}`, `--seconds=${seconds}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
}

async function measure (way) {
  const r = child('receiver', way)
  const port = await new Promise((resolve) => r.once('message', (m) => resolve(m.port)))
  const s = child('sender', port)
  const sent = await new Promise((resolve) => s.on('message', (m) => resolve(m.sent)))
  const result = await new Promise((resolve) => r.on('message', (m) => { if (m.done) resolve(m) }))
  return { way, sent, ...result }
}

async function main () {
  console.log(`# slow consumer (1 ms per datagram) under a ${seconds} s flood of 64 B datagrams\n`)
  console.log('| way | sent | consumed | RSS MB: start → max → end | heap MB: start → max → end | dropped (kernel) |')
  console.log('|---|---:|---:|---|---|---:|')
  for (const way of ['messages', 'events.on']) {
    const r = await measure(way)
    const rss = r.samples.map((x) => x[0])
    const heap = r.samples.map((x) => x[1])
    const span = (v) => `${v[0]} → ${Math.max(...v)} → ${v[v.length - 1]}`
    const label = way === 'messages' ? 'socket.messages()' : "events.on(socket, 'message')"
    console.log(`| ${label} | ${r.sent} | ${r.consumed} | ${span(rss)} | ${span(heap)} | ${r.stats.droppedByKernel} |`)
  }
}

const role = (argv.find((a) => a.startsWith('--role=')) || '').split('=')[1]
const arg = (argv.find((a) => a.startsWith('--arg=')) || '').split('=')[1]
if (role === 'receiver') receiver(arg)
else if (role === 'sender') sender(Number(arg))
else main().catch((err) => { console.error(err); process.exit(1) })
