'use strict'

// Receive CPU per datagram with receiveInfo on against off (dgram-rs's opt-in receive
// information: destination address, interface, TOS, TTL, timestamp, truncation).
//
//   node bench/receive-info.js [--seconds=2] [--trials=3] [--size=64]
//
// A child process (node:dgram, 64 sends per setImmediate tick) floods 127.0.0.1; this process
// receives with dgram-rs on 'message', alternately with and without receiveInfo, and reports the
// CPU time it spent (process.cpuUsage: user + system) per datagram received. Each trial is bounded
// by --seconds; the sender is killed at the end, on error too. The figures are for one machine and
// its noise: run trials interleaved, compare within a run.

const { spawn } = require('node:child_process')
const dgram = require('..')

const arg = (name, def) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`))
  return a ? Number(a.slice(name.length + 3)) : def
}
const SECONDS = arg('seconds', 2)
const TRIALS = arg('trials', 3)
const SIZE = arg('size', 64)

const SENDER = `
const s = require('node:dgram').createSocket('udp4');
const [port, size] = process.argv.slice(1).map(Number);
const buf = Buffer.alloc(size, 120);
const tick = () => { for (let i = 0; i < 64; i++) s.send(buf, port, '127.0.0.1'); setImmediate(tick); };
s.bind(0, '127.0.0.1', tick);
`

function trial (receiveInfo) {
  return new Promise((resolve, reject) => {
    const r = dgram.createSocket({ type: 'udp4', receiveInfo, recvBufferSize: 4 << 20 })
    let count = 0
    let start
    let sender
    let timer
    const finish = (err) => {
      clearTimeout(timer)
      if (sender) sender.kill('SIGKILL')
      const used = start && process.cpuUsage(start)
      r.close()
      if (err) return reject(err)
      resolve({ count, nsPerDatagram: ((used.user + used.system) * 1000) / Math.max(count, 1) })
    }
    r.on('error', finish)
    r.on('message', (msg, rinfo) => {
      // Touch the fields as a user would (none without receiveInfo).
      if (rinfo.localAddress === 'x') count--
      if (count++ === 0) {
        start = process.cpuUsage()
        timer = setTimeout(finish, SECONDS * 1000)
      }
    })
    r.bind(0, '127.0.0.1', () => {
      sender = spawn(process.execPath, ['-e', SENDER, String(r.address().port), String(SIZE)],
        { stdio: 'ignore' })
      sender.on('error', finish)
      // Nothing came within 5 s: the sender failed.
      setTimeout(() => { if (count === 0) finish(new Error('no datagram came')) }, 5000).unref()
    })
  })
}

(async () => {
  const results = { off: [], on: [] }
  for (let i = 0; i < TRIALS; i++) {
    for (const mode of ['off', 'on']) {
      const { count, nsPerDatagram } = await trial(mode === 'on')
      results[mode].push(nsPerDatagram)
      console.error(`trial ${i + 1} receiveInfo ${mode}: ${count} datagrams, ` +
        `${nsPerDatagram.toFixed(0)} ns CPU per datagram`)
    }
  }
  const range = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log('| receiveInfo | receive CPU per datagram, ns (median; range) |')
  console.log('|---|---|')
  for (const mode of ['off', 'on']) {
    console.log(`| ${mode} | ${median(results[mode]).toFixed(0)} (${range(results[mode])}) |`)
  }
  console.log(`\n${SIZE}-byte datagrams, ${TRIALS} trials of ${SECONDS} s each, interleaved.`)
})().catch((e) => { console.error(e); process.exitCode = 1 })
