'use strict'
// Shared helpers for the behaviour tests: every scenario runs on node:dgram (the oracle) and on
// dgram-rs, and the two observable transcripts must be deepStrictEqual.

const assert = require('node:assert')
const { test } = require('node:test')
const nodeDgram = require('node:dgram')

// dgram-rs is required by its package name, as a user would (package.json "exports" makes the
// self-reference resolve inside the repo). Lazily, so that the node:dgram side of every test runs
// (and its direct assertions are checked) even while dgram-rs cannot be loaded.
//
// DGRAM_TEST_SELFCHECK=1 runs node:dgram in both places: a scenario whose transcript is not
// deterministic (or depends on ephemeral port numbers) then fails on its own, without dgram-rs.
//
// DGRAM_TEST_BACKGROUND=1 runs dgram-rs with backgroundReceive on for every socket it creates.
const SELFCHECK = process.env.DGRAM_TEST_SELFCHECK === '1'
const RS_MODULE = process.env.DGRAM_TEST_BACKGROUND === '1' ? require.resolve('./background-dgram') : 'dgram-rs'
const IMPLS = [
  // `module` is what a child process's script requires for this implementation.
  { name: 'node:dgram', module: 'node:dgram', load: () => nodeDgram },
  { name: 'dgram-rs', module: SELFCHECK ? 'node:dgram' : RS_MODULE, load: () => SELFCHECK ? nodeDgram : require(RS_MODULE) }
]
const REPO_ROOT = require('node:path').resolve(__dirname, '..', '..')

const DEFAULT_TIMEOUT = 5000

// Everything observable about a thrown or emitted error. Own enumerable keys are sorted here; their
// exact order is pinned separately in errors.test.js so one difference does not mask others.
//
// `ports` maps ephemeral port numbers to stable labels ({ 41234: 'PEER' }), replaced in `port` and
// in the message, so that transcripts of two runs compare equal.
function describeError (e, ports) {
  if (!(e instanceof Error)) return { nonError: typeof e, value: String(e) }
  if (ports) {
    const d = describeError(e)
    for (const [num, label] of Object.entries(ports)) {
      if (d.port === Number(num)) d.port = label
      d.message = d.message.split(`:${num}`).join(`:${label}`)
      d.string = d.string.split(`:${num}`).join(`:${label}`)
    }
    return d
  }
  const d = {
    name: e.name,
    code: e.code,
    message: e.message,
    ctor: e.constructor && e.constructor.name,
    string: String(e),
    keys: Object.keys(e).sort(),
    instanceOf: ['Error', 'TypeError', 'RangeError', 'SyntaxError'].filter((n) => e instanceof globalThis[n])
  }
  for (const k of ['errno', 'syscall', 'address', 'port', 'info', 'dest']) {
    if (k in e) d[k] = e[k]
  }
  return d
}

// Run fn synchronously; report what it returned (through `map`) or what it threw.
function attempt (fn, map = (v) => v) {
  try {
    return { returned: map(fn()) }
  } catch (e) {
    return { threw: describeError(e) }
  }
}

function withTimeout (promise, ms, label) {
  let timer
  const t = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, t]).finally(() => clearTimeout(timer))
}

// Resolve once cond() is true; bounded in time. Polls on timers only (never on setImmediate or
// nextTick), so it does not add entries between the ones a transcript records.
function until (cond, ms = 2000, label = 'until') {
  return new Promise((resolve, reject) => {
    const start = Date.now()
    const check = () => {
      let ok
      try { ok = cond() } catch (e) { return reject(e) }
      if (ok) return resolve()
      if (Date.now() - start > ms) return reject(new Error(`${label}: condition not met within ${ms} ms`))
      setTimeout(check, 2)
    }
    check()
  })
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// An ordered record of what happened. markers(label) queues one entry on each of the queues whose
// relative order matters (nextTick, promise microtask, setImmediate), so events land between them.
class Transcript {
  constructor () { this.entries = [] }
  log (...e) { this.entries.push(e.length === 1 ? e[0] : e) }
  markers (label) {
    process.nextTick(() => this.log(`${label}:nextTick`))
    Promise.resolve().then(() => this.log(`${label}:promise`))
    setImmediate(() => this.log(`${label}:immediate`))
  }

  has (entry) { return this.entries.some((e) => JSON.stringify(e) === JSON.stringify(entry)) }
  count (pred) { return this.entries.filter(pred).length }
}

// Runs `scenario(ctx)` for one implementation. ctx.socket(...) creates a socket with that
// implementation; ctx.node(...) a helper socket that is always node:dgram. Every socket created
// through ctx is closed when the scenario ends (already-closed ones are skipped).
async function runScenario (impl, scenario, { timeout = DEFAULT_TIMEOUT } = {}) {
  const dgram = impl.load()
  const sockets = []
  const ctx = {
    impl: impl.name,
    module: impl.module, // what a child process requires for this implementation
    dgram,
    nodeDgram,
    socket (...args) { const s = dgram.createSocket(...args); sockets.push(s); return s },
    node (...args) { const s = nodeDgram.createSocket(...args); sockets.push(s); return s },
    track (s) { sockets.push(s); return s },
    transcript () { return new Transcript() },
    // Runs fn as its own macrotask (a setImmediate callback), as top-level code or an I/O callback
    // would run: there, process.nextTick callbacks run before promise jobs. (Inside an async
    // function the code is a microtask, and promise jobs would come first.)
    macro (fn) {
      return new Promise((resolve, reject) => setImmediate(() => {
        try { resolve(fn()) } catch (e) { reject(e) }
      }))
    }
  }
  try {
    return await withTimeout(Promise.resolve().then(() => scenario(ctx)), timeout, `${impl.name} scenario`)
  } finally {
    for (const s of sockets) {
      try { s.close() } catch {}
    }
  }
}

// Declares a test that runs `scenario` on node:dgram, checks the oracle's result directly with
// `check` (so the test cannot pass vacuously), then runs it on dgram-rs and requires the same result.
function parity (name, scenario, check, opts = {}) {
  test(name, opts, async () => {
    const expected = await runScenario(IMPLS[0], scenario, opts)
    if (check) check(expected)
    const actual = await runScenario(IMPLS[1], scenario, opts)
    assert.deepStrictEqual(actual, expected)
  })
}

// Binds `s` to loopback port 0 and resolves with its port once 'listening' fired.
function bindLoopback (s, address) {
  address = address || (s.type === 'udp6' ? '::1' : '127.0.0.1')
  return withTimeout(new Promise((resolve, reject) => {
    s.once('error', reject)
    s.bind(0, address, () => { s.removeListener('error', reject); resolve(s.address().port) })
  }), 2000, 'bind')
}

module.exports = {
  IMPLS,
  REPO_ROOT,
  nodeDgram,
  describeError,
  attempt,
  withTimeout,
  until,
  delay,
  Transcript,
  runScenario,
  parity,
  bindLoopback
}
