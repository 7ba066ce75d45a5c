'use strict'

// What bench/run.js measures: the one table to edit to add a workload.
//
// An endpoint is one process:
//   js(impl, role)  node bench/worker.js <role> --impl=<impl>   (impl: 'node' = node:dgram, 'rs' = dgram-rs)
//   ref(mode)       target/release/examples/udp_reference <mode>  (the pure-Rust physical limit)
// `needs` lists what must load for the row to run ('rs' = dgram-rs, 'ref' = the reference binary);
// rows whose needs are missing are reported as n/a, not run.
// `color` is the bar colour in bench/results.svg.

const js = (impl, role) => ({ kind: 'js', impl, role })
const ref = (mode) => ({ kind: 'ref', mode })

// One-way throughput: the receiver starts first and reports its port, then the sender floods it
// for BENCH_SECONDS. The first row is the baseline the ratios are taken against, unless a row
// names another in `versus`.
const throughput = [
  { name: 'node→node', sender: js('node', 'send'), receiver: js('node', 'recv'), needs: [], color: '#3c873a' },
  { name: 'rs→rs', sender: js('rs', 'send'), receiver: js('rs', 'recv'), needs: ['rs'], color: '#c8551b' },
  { name: 'node→rs', sender: js('node', 'send'), receiver: js('rs', 'recv'), needs: ['rs'], color: '#e3a35b' },
  // dgram-rs's opt-in batch API: sendBatch (64 datagrams a call) into receiveBatches.
  {
    name: 'rs-batch→rs-batch',
    sender: js('rs', 'send-batch'),
    receiver: js('rs', 'recv-batch'),
    needs: ['rs'],
    color: '#8b1e1e'
  },
  // A sender paced by its callbacks: 256 sends in flight, each send's callback issues the next
  // (as fast as the receiver allows, without flooding). `versus`: the row its ratios are taken
  // against.
  { name: 'node→node callback-paced', sender: js('node', 'send-paced'), receiver: js('node', 'recv'), needs: [], color: '#6fae6d' },
  {
    name: 'rs→rs callback-paced',
    sender: js('rs', 'send-paced'),
    receiver: js('rs', 'recv'),
    needs: ['rs'],
    color: '#d9774a',
    versus: 'node→node callback-paced'
  },
  { name: 'Rust sendmmsg→recvmmsg', sender: ref('send-mmsg'), receiver: ref('recv-mmsg'), needs: ['ref'], color: '#666666', reference: true },
  { name: 'Rust GSO→GRO', sender: ref('send-gso'), receiver: ref('recv-gro'), needs: ['ref'], color: '#a0a0a0', reference: true }
]

// BENCH_BASE=<path of another dgram-rs checkout, built> adds its rows beside this checkout's (a
// before/after in one run): node→rs, rs→rs and rs→rs callback-paced with that checkout at both
// ends (node→rs: as the receiver).
if (process.env.BENCH_BASE) {
  throughput.push(
    { name: 'node→rs (BENCH_BASE)', sender: js('node', 'send'), receiver: js('base', 'recv'), needs: ['rs'], color: '#8c6d3f' },
    { name: 'rs→rs (BENCH_BASE)', sender: js('base', 'send'), receiver: js('base', 'recv'), needs: ['rs'], color: '#7f3f1f' },
    {
      name: 'rs→rs callback-paced (BENCH_BASE)',
      sender: js('base', 'send-paced'),
      receiver: js('base', 'recv'),
      needs: ['rs'],
      color: '#a0522d',
      versus: 'node→node callback-paced'
    }
  )
}

// Ping-pong: the echo starts first; the client keeps one datagram in flight.
const rtt = [
  { name: 'node↔node', client: js('node', 'ping'), server: js('node', 'echo'), needs: [], color: '#3c873a' },
  { name: 'rs↔rs', client: js('rs', 'ping'), server: js('rs', 'echo'), needs: ['rs'], color: '#c8551b' },
  { name: 'Rust ping↔echo', client: ref('ping'), server: ref('echo'), needs: ['ref'], color: '#666666', reference: true }
]

// Datagram payload sizes for throughput (bytes), and the size of a ping.
const sizes = [64, 1200]
const pingSize = 64

// Where each side runs (taskset -c). The client/sender is `sender`, the server/receiver `receiver`.
const placements = [
  { name: 'across cores', sender: 0, receiver: 1 },
  { name: 'one core', sender: 0, receiver: 0 }
]

module.exports = { throughput, rtt, sizes, pingSize, placements }
