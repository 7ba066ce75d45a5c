'use strict'
// Node's permission model and switched-off addons, each run in child processes on node:dgram and
// on dgram-rs, whose transcripts must be equal.
//
// - Under --permission without --allow-net, Node 25+ refuses node:dgram the network in its UDP
//   handle (bind emits 'error' "bind ERR_ACCESS_DENIED ...", open(fd) throws; on 26, after
//   process.permission.drop('net'), connect and send throw). dgram-rs must refuse exactly there
//   (lib/permission.js): allowing addons must not widen what the program may do. On Node 20-24,
//   which have no network scope, both bind and send.
// - Where addons are off (--no-addons, through NODE_OPTIONS, a Worker's execArgv, or --permission
//   without --allow-addons), require('dgram-rs') falls back to node:dgram with the warning instead
//   of throwing ERR_DLOPEN_DISABLED, and the program behaves as on node:dgram.
const { nodeCommand } = require('./helpers/node-command')
const assert = require('node:assert')
const { test } = require('node:test')
const { spawn } = require('node:child_process')
const { IMPLS, REPO_ROOT, nodeDgram, bindLoopback, withTimeout } = require('./helpers/impls')

const FLAGS = process.allowedNodeEnvironmentFlags
// Node 20 names the model --experimental-permission; 22 accepts both.
const PERMISSION = FLAGS.has('--permission') ? '--permission' : '--experimental-permission'
// Node 25+: the network is a scope of the model.
const NET_SCOPED = FLAGS.has('--allow-net')
// Node 26.8+ also checks open(fd) and recvStart().
const [MAJOR, MINOR] = process.versions.node.split('.').map(Number)
const OPEN_CHECKED = NET_SCOPED && (MAJOR > 26 || (MAJOR === 26 && MINOR >= 8))
const RS = IMPLS[1]
const RS_IS_NODE = RS.module === 'node:dgram' // DGRAM_TEST_SELFCHECK=1
const FALLBACK = process.env.DGRAM_RS_FALLBACK === '1'

// The script's prologue: `dgram`, a transcript `log(...)` printed as JSON at exit, and `err(e)`,
// everything observable about an error (the permission error's own fields included).
const PROLOGUE = `
const entries = []
const log = (...e) => entries.push(e)
const err = (e) => e && {
  name: e.name, ctor: e.constructor.name, code: e.code, message: e.message, keys: Object.keys(e),
  errno: e.errno && typeof e.errno === 'object' ? { ...e.errno, message: e.errno.message, keys: Object.keys(e.errno) } : e.errno,
  syscall: e.syscall, address: e.address, port: e.port, permission: e.permission, resource: e.resource,
  stack: String(e.stack).split('\\n')[0]
}
process.on('exit', () => console.log(JSON.stringify({ native: dgram.native, entries })))
process.on('uncaughtException', (e) => log('uncaught', err(e)))
`

// Runs `body` with `dgram` = moduleName in a child; resolves with its parsed transcript.
function runScript (moduleName, body, { execArgv = [], env = {}, stdio = [] } = {}) {
  const script = `const dgram = require(${JSON.stringify(moduleName)})\n${PROLOGUE}\n${body}`
  return withTimeout(new Promise((resolve, reject) => {
    const child = spawn(...nodeCommand([...execArgv, '-e', script]), {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', ...stdio]
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => {
      try {
        resolve({ code, ...JSON.parse(stdout) })
      } catch {
        reject(new Error(`child exited ${code} without a transcript: ${stdout} ${stderr}`))
      }
    })
  }), 10000, 'child')
}

// Runs the script on both; node:dgram's result goes to check() (the test cannot pass vacuously),
// and dgram-rs must give the same. Returns dgram-rs's `native`.
async function parityChild (body, opts, check) {
  const expected = await runScript(IMPLS[0].module, body, opts)
  check(expected)
  const actual = await runScript(RS.module, body, opts)
  assert.deepStrictEqual({ code: actual.code, entries: actual.entries }, { code: expected.code, entries: expected.entries })
  return actual.native
}

// A model without the network: the file system readable (to load modules) and addons allowed.
const NO_NET = [PERMISSION, '--allow-fs-read=*', '--allow-addons']

const DENIED = 'Access to this API has been restricted. Use --allow-net to manage permissions.'

// The error a denied bind emits, as Node 25+ builds it.
function deniedBind (address, port) {
  const e = {
    name: 'Error',
    ctor: 'Error',
    code: 'ERR_ACCESS_DENIED',
    message: `bind ERR_ACCESS_DENIED ${DENIED}`,
    keys: port ? ['errno', 'code', 'syscall', 'address', 'port'] : ['errno', 'code', 'syscall', 'address'],
    errno: { code: 'ERR_ACCESS_DENIED', permission: 'Net', resource: address, message: DENIED, keys: ['code', 'permission', 'resource'] },
    syscall: 'bind',
    address,
    stack: `Error: bind ERR_ACCESS_DENIED ${DENIED}`
  }
  if (port) e.port = port
  return e
}

// The error the handle throws where it does not return one (open, recvStart, connect, send).
const THROWN = {
  name: 'Error',
  ctor: 'Error',
  code: 'ERR_ACCESS_DENIED',
  message: DENIED,
  keys: ['code', 'permission', 'resource'],
  permission: 'Net',
  resource: '',
  stack: `Error: ${DENIED}`
}

// The addon must be what runs under --allow-addons (unless the run asked for the fallback).
function assertNative (native) {
  if (!RS_IS_NODE) assert.strictEqual(native, !FALLBACK)
}

const BIND = `
const s = dgram.createSocket('udp4')
s.on('error', (e) => { log('error', err(e)); s.close() })
s.on('listening', () => { log('listening', s.address().address); s.close() })
s.on('close', () => log('close'))
s.bind(PORT, '127.0.0.1')`

for (const port of [0, 1]) {
  test(`permission: bind(${port}) without --allow-net: 'error' ERR_ACCESS_DENIED where Node scopes the network, bound elsewhere`, async () => {
    // Port 1 is privileged: where the network is allowed, bind fails with EACCES (not root) or
    // binds (root); either way the same on both.
    const native = await parityChild(BIND.replace('PORT', port), { execArgv: NO_NET }, (r) => {
      if (NET_SCOPED) {
        assert.deepStrictEqual(r.entries, [['error', deniedBind('127.0.0.1', port || undefined)], ['close']])
      } else if (port === 0) {
        assert.deepStrictEqual(r.entries, [['listening', '127.0.0.1'], ['close']])
      }
    })
    assertNative(native)
  })
}

test('permission: send() and connect() before bind without --allow-net: the implicit bind is refused the same way', async () => {
  const body = `
const s = dgram.createSocket('udp4')
s.on('error', (e) => { log('s error', err(e)); s.close() })
s.send('x', 9, '127.0.0.1', (e) => { log('sent', err(e)); s.close() })
const c = dgram.createSocket('udp6')
c.on('error', (e) => { log('c error', err(e)); c.close() })
c.connect(9, '::1', (e) => { log('connected', err(e)); c.close() })`
  const native = await parityChild(body, { execArgv: NO_NET }, (r) => {
    if (NET_SCOPED) {
      assert.deepStrictEqual(r.entries, [['s error', deniedBind('0.0.0.0')], ['c error', deniedBind('::')]])
    } else {
      assert.deepStrictEqual(r.entries, [['sent', null], ['connected', null]])
    }
  })
  assertNative(native)
})

test('permission: bind({ fd }) of an inherited UDP socket without --allow-net: open (26.8+) or send (25+) throws ERR_ACCESS_DENIED', async (t) => {
  const holder = nodeDgram.createSocket('udp4')
  t.after(() => holder.close())
  const port = await bindLoopback(holder)
  const state = holder[Object.getOwnPropertySymbols(holder).find((k) => k.description === 'state symbol')]
  const body = `
const s = dgram.createSocket('udp4')
s.on('error', (e) => log('error', err(e)))
try {
  s.bind({ fd: 3 }, () => {
    log('listening', s.address().port === ${port})
    s.send('x', ${port}, '127.0.0.1', (e) => log('sent', err(e)))
    setTimeout(() => s.close(), 50)
  })
} catch (e) {
  log('threw', err(e))
  s.close()
}`
  const native = await parityChild(body, { execArgv: NO_NET, stdio: [state.handle.fd] }, (r) => {
    if (!NET_SCOPED) assert.deepStrictEqual(r.entries, [['listening', true], ['sent', null]])
    else if (OPEN_CHECKED) assert.deepStrictEqual(r.entries, [['threw', THROWN]])
    else assert.deepStrictEqual(r.entries, [['listening', true], ['uncaught', THROWN]])
  })
  assertNative(native)
})

test('permission: --allow-net: bind, send and receive as without the model', { skip: !NET_SCOPED && 'this Node has no network scope (--allow-net is Node 25+)' }, async () => {
  const body = `
const r = dgram.createSocket('udp4')
const s = dgram.createSocket('udp4')
r.on('message', (m, rinfo) => { log('message', String(m), rinfo.size); r.close(); s.close() })
r.bind(0, '127.0.0.1', () => s.send('hi', r.address().port, '127.0.0.1', (e) => log('sent', err(e))))`
  const native = await parityChild(body, { execArgv: [...NO_NET, '--allow-net'] }, (r) => {
    assert.deepStrictEqual(r.entries, [['sent', null], ['message', 'hi', 2]])
  })
  assertNative(native)
})

test('permission: process.permission.drop(\'net\') with sockets open: send and connect throw as on node:dgram', { skip: !NET_SCOPED && 'this Node has no network scope (--allow-net is Node 25+)' }, async () => {
  // Node 25 has no drop(): the script then records only that.
  const body = `
const r = dgram.createSocket('udp4')
const s = dgram.createSocket('udp4')
const c = dgram.createSocket('udp4')
for (const x of [r, s, c]) x.on('error', (e) => log('error', err(e)))
r.on('message', (m) => log('message', String(m)))
r.bind(0, '127.0.0.1', () => s.bind(0, '127.0.0.1', () => c.connect(r.address().port, '127.0.0.1', () => {
  if (typeof process.permission.drop !== 'function') { log('no drop'); for (const x of [r, s, c]) x.close(); return }
  process.permission.drop('net')
  log('has net', process.permission.has('net'))
  // On the next tick, after the lookup: an uncaught exception.
  s.send('a', r.address().port, '127.0.0.1', (e) => log('sent a', err(e)))
  try { c.send('b', (e) => log('sent b', err(e))) } catch (e) { log('send b threw', err(e)) }
  s.connect(r.address().port, '127.0.0.1', (e) => log('connected', err(e)))
  log('bound still', s.address().address, r.address().address)
  setTimeout(() => { for (const x of [r, s, c]) x.close(); log('closed') }, 50)
})))`
  const native = await parityChild(body, { execArgv: [...NO_NET, '--allow-net'] }, (r) => {
    if (r.entries[0][0] === 'no drop') return
    assert.deepStrictEqual(r.entries, [
      ['has net', false], ['send b threw', THROWN], ['bound still', '127.0.0.1', '127.0.0.1'],
      ['uncaught', THROWN], ['uncaught', THROWN], ['closed']
    ])
  })
  assertNative(native)
})

// A round trip over loopback, and what the loader said.
const ROUND_TRIP = `
process.on('warning', (w) => { if (w.name === 'DgramRsWarning') log('warning', w.code, w.message) })
const r = dgram.createSocket('udp4')
const s = dgram.createSocket('udp4')
r.on('message', (m, rinfo) => { log('message', String(m), rinfo.family, rinfo.size); r.close(); s.close() })
r.bind(0, '127.0.0.1', () => s.send('hi', r.address().port, '127.0.0.1', (e) => log('sent', err(e))))`

// The round trip in a Worker started with --no-addons, its transcript forwarded to the thread's.
function inWorker (moduleName) {
  const inner = `const dgram = require(${JSON.stringify(moduleName)})
const log = (...e) => require('node:worker_threads').parentPort.postMessage(e)
const err = (e) => e && { code: e.code, message: e.message }
log('native', dgram.native)
${ROUND_TRIP}`
  return `const { Worker } = require('node:worker_threads')
new Worker(${JSON.stringify(inner)}, { eval: true, execArgv: ['--no-addons'] }).on('message', (e) => log(...e))`
}

const DISABLED = `no native addon for ${process.platform}-${process.arch}: loading native addons is disabled (--no-addons, or --permission without --allow-addons). ` +
  'Using node:dgram, with sendBatch and receiveBatches done in JavaScript (slower, same results).'

const addonsOff = [
  ['--no-addons', { execArgv: ['--no-addons'] }],
  ['NODE_OPTIONS=--no-addons', { env: { NODE_OPTIONS: '--no-addons' } }],
  ['--permission without --allow-addons', { execArgv: [PERMISSION, '--allow-fs-read=*', ...(NET_SCOPED ? ['--allow-net'] : [])] }]
]

for (const [name, how] of addonsOff) {
  test(`addons off (${name}): require('dgram-rs') falls back to node:dgram with the warning`, async () => {
    // Asked-for fallback (DGRAM_RS_FALLBACK=1) has no warning; this test is about the flag alone.
    const opts = { ...how, env: { ...how.env, DGRAM_RS_FALLBACK: '' } }
    const expected = await runScript(IMPLS[0].module, ROUND_TRIP, opts)
    assert.deepStrictEqual(expected.entries, [['sent', null], ['message', 'hi', 'IPv4', 2]])
    const actual = await runScript(RS.module, ROUND_TRIP, opts)
    if (RS_IS_NODE) return assert.deepStrictEqual(actual.entries, expected.entries)
    assert.strictEqual(actual.native, false)
    assert.deepStrictEqual(actual.entries, [['warning', 'DGRAM_RS_FALLBACK', DISABLED], ...expected.entries])
  })
}

test('addons off in a Worker\'s execArgv: the worker falls back to node:dgram with the warning', async () => {
  const opts = { env: { DGRAM_RS_FALLBACK: '' } }
  const run = (moduleName) => runScript('node:dgram', inWorker(moduleName), opts)
  const expected = await run(IMPLS[0].module)
  assert.deepStrictEqual(expected.entries, [['native', null], ['sent', null], ['message', 'hi', 'IPv4', 2]])
  const actual = await run(RS.module)
  if (RS_IS_NODE) return assert.deepStrictEqual(actual.entries, expected.entries)
  assert.deepStrictEqual(actual.entries, [['native', false], ['warning', 'DGRAM_RS_FALLBACK', DISABLED], ...expected.entries.slice(1)])
})

test('permission: unix_dgram without --allow-net: bind, connect and send throw what Node\'s own Unix sockets (net on a path) throw', { skip: (!NET_SCOPED && 'this Node has no network scope (--allow-net is Node 25+)') || (RS_IS_NODE && 'DGRAM_TEST_SELFCHECK=1') }, async (t) => {
  // node:dgram has no Unix sockets: the reference is net's listen() on a path, which Node refuses
  // with this error (the path as its resource). The addition must not be a way around the model.
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-perm-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const name = path.join(dir, 's')
  const body = `
const net = require('node:net')
try { net.createServer().listen(${JSON.stringify(name)}) } catch (e) { log('net listen', err(e)) }
if (dgram.native) {
  const u = dgram.createSocket('unix_dgram')
  u.on('error', (e) => log('error', err(e)))
  for (const [what, f] of [['bind', () => u.bind(${JSON.stringify(name)})], ['connect', () => u.connect(${JSON.stringify(name)})], ['send', () => u.send('x', ${JSON.stringify(name)})]]) {
    try { f(); log(what, 'no error') } catch (e) { log(what, err(e)) }
  }
  u.close()
}`
  const r = await runScript(RS.module, body, { execArgv: NO_NET })
  const expected = { ...THROWN, resource: name }
  assert.deepStrictEqual(r.entries[0], ['net listen', { ...expected, stack: r.entries[0][1].stack }])
  if (FALLBACK) return
  assert.deepStrictEqual(r.entries.slice(1), [['bind', expected], ['connect', expected], ['send', expected]])
  assert.strictEqual(fs.existsSync(name), false)
})
