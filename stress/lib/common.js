'use strict'
// Shared helpers for the stress scenarios. Every scenario is a plain script that
// selects its implementation with `IMPL=node:dgram|dgram-rs` (or the first CLI
// argument), does its bounded work, and prints exactly one result line:
//
//   @@RESULT {"figures":{...},"checks":{...},"observations":{...}}
//
// figures      numbers reported side by side (the runner may compare them)
// checks       { name: { pass: boolean, detail?: string } } judged inside the scenario
// observations { name: string } what happened, shown side by side (informational)
// parity       { name: string } what happened; dgram-rs must match node:dgram exactly
const fs = require('node:fs')

const IMPLS = ['node:dgram', 'dgram-rs']

function implName () {
  const name = process.env.IMPL || process.argv[2] || 'node:dgram'
  if (name === 'dgram' || name === 'node:dgram') return 'node:dgram'
  if (name === 'dgram-rs') return 'dgram-rs'
  throw new Error(`unknown IMPL ${JSON.stringify(name)} (want one of ${IMPLS.join(', ')})`)
}

function loadDgram (name = implName()) {
  // 'dgram-rs' resolves to this repo through package self-reference (package.json "exports").
  return name === 'node:dgram' ? require('node:dgram') : require('dgram-rs')
}

function fdCount () {
  return fs.readdirSync('/proc/self/fd').length
}

/**
 * The descriptors this thread keeps once it has had a receiving socket, counted after one has
 * come and gone: the base for a leak check. (dgram-rs keeps one per thread, its epoll set,
 * until the thread exits; node:dgram none.)
 */
async function fdBaseline (dgram) {
  const s = dgram.createSocket('udp4')
  await new Promise((resolve) => s.bind(0, '127.0.0.1', resolve))
  await new Promise((resolve) => s.close(resolve))
  await sleep(20)
  return fdCount()
}

function rssMB () {
  return process.memoryUsage.rss() / (1024 * 1024)
}

/** Peak RSS of this process so far (getrusage ru_maxrss), in MB. */
function peakRssMB () {
  return process.resourceUsage().maxRSS / 1024
}

function gcNow () {
  if (typeof global.gc === 'function') {
    global.gc()
    global.gc()
  }
}

function busyWaitMicros (us) {
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000))
  while (process.hrtime.bigint() < end);
}

function sleep (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects if `promise` has not settled after `ms`; the timer never keeps the process alive. */
function withTimeout (promise, ms, label) {
  let t
  const timeout = new Promise((resolve, reject) => {
    t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${label}`)), ms)
    t.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t))
}

function round (x, digits = 2) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

function report (result) {
  const out = {
    impl: implName(),
    figures: result.figures || {},
    checks: result.checks || {},
    observations: result.observations || {},
    parity: result.parity || {}
  }
  process.stdout.write(`@@RESULT ${JSON.stringify(out)}\n`)
}

/**
 * After the result is printed the scenario must end on its own: nothing may keep the loop
 * alive. This unref'd timer only fires if something does, and says so on stdout.
 */
function exitGuard (ms = 5000) {
  setTimeout(() => {
    process.stdout.write(`@@HANG the process did not exit by itself within ${ms} ms of finishing\n`)
    process.exit(3)
  }, ms).unref()
}

function check (pass, detail) {
  return detail === undefined ? { pass: !!pass } : { pass: !!pass, detail: String(detail) }
}

module.exports = {
  IMPLS,
  implName,
  loadDgram,
  fdCount,
  fdBaseline,
  rssMB,
  peakRssMB,
  gcNow,
  busyWaitMicros,
  sleep,
  withTimeout,
  round,
  report,
  exitGuard,
  check
}
