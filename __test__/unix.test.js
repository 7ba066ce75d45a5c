'use strict'

// 'unix_dgram' sockets (lib/unix-socket.js) and the unix-dgram drop-in
// (lib/unix-dgram.js), against peers that are not dgram-rs: Python's socket
// module (AF_UNIX, SOCK_DGRAM), and the unix-dgram package itself where it
// resolves (DGRAM_RS_UNIX_DGRAM_ORACLE=<path to the package>, or installed).
// Without it, the drop-in is checked against that package's behaviour as
// recorded from it (the transcript below).

const nodeTest = require('node:test')
// Under DGRAM_RS_FALLBACK=1 every test here is skipped: unix_dgram sockets
// need the native addon; the fallback is node:dgram.
const test = process.env.DGRAM_RS_FALLBACK === '1'
  ? (name) => nodeTest.test(name, { skip: 'native addon only' }, () => {})
  : nodeTest.test
const assert = require('node:assert')
const { nodeCommand } = require('./helpers/node-command')
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const dgram = require('..')

let seq = 0
function sockPath (tag) {
  return path.join(os.tmpdir(), `dgram-rs-unix-${process.pid}-${seq++}-${tag}.sock`)
}
function abstractName (tag) {
  return `\0dgram-rs-unix-${process.pid}-${seq++}-${tag}`
}
function unlink (p) {
  try { fs.unlinkSync(p) } catch { /* not there */ }
}
function once (emitter, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' in 5 s`)), 5000)
    emitter.once(event, (...args) => { clearTimeout(timer); resolve(args) })
  })
}

// A Python peer: runs `code` with `args`; `ready` once it prints 'ready',
// `done` with its stdout when it exits 0.
function pythonChild (code, ...args) {
  const child = spawn('python3', ['-c', code, ...args])
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill(), 15000)
    // 'close': the child has exited and its pipes are closed (a count of descriptors may follow).
    child.on('close', (status) => {
      clearTimeout(timer)
      if (status === 0) resolve(out); else reject(new Error(`python exited ${status}`))
    })
  })
  const ready = new Promise((resolve) => {
    const check = () => { if (out.includes('ready\n')) resolve() }
    child.stdout.on('data', check)
  })
  return { done, ready }
}

// Python encodes a name for AF_UNIX: an abstract one as bytes with its NUL.
// Names reach Python with '@' for the leading NUL (argv cannot hold a NUL).
const PY_NAME = `import sys
def name(s):
    return b'\\0' + s[1:].encode() if s.startswith('@') else s
`
const argName = (n) => n.replace(/^\0/, '@')

test('unix_dgram: bind, send to a path, connect, send, rinfo, address(), remoteAddress()', async () => {
  const p = sockPath('basic')
  const r = dgram.createSocket('unix_dgram')
  const s = dgram.createSocket({ type: 'unix_dgram' })
  const sp = sockPath('sender')
  try {
    r.bind(p)
    await once(r, 'listening')
    assert.deepStrictEqual(r.address(), { address: p, family: 'unix' })
    const got = []
    r.on('message', (msg, rinfo) => got.push([String(msg), rinfo]))
    await new Promise((resolve, reject) => s.send('one', p, (e, n) => (e ? reject(e) : resolve(n))))
    // The kernel names a sender by its name when the datagram is read: wait for it first.
    for (let i = 0; i < 100 && got.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    s.bind(sp)
    await once(s, 'listening')
    s.connect(p)
    await once(s, 'connect')
    assert.deepStrictEqual(s.remoteAddress(), { address: p, family: 'unix' })
    const n = await new Promise((resolve, reject) =>
      s.send(Buffer.from('xtwox'), 1, 3, (e, bytes) => (e ? reject(e) : resolve(bytes))))
    assert.strictEqual(n, 3)
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.deepStrictEqual(got, [
      ['one', { address: '', family: 'unix', size: 3 }],
      ['two', { address: sp, family: 'unix', size: 3 }]
    ])
    assert.throws(() => s.send('x', p), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' })
  } finally {
    r.close()
    s.close()
    unlink(p)
    unlink(sp)
  }
})

// A local peer that passes descriptors (SCM_RIGHTS) with its datagrams: the kernel installs
// them in the receiving process as it reads; dgram-rs closes every one (the unix-dgram package
// keeps none either). Kept, 20 such datagrams exhausted a receiver under `ulimit -n 128`.
const PY_PASS_FDS = PY_NAME + `import array, socket
fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [sys.stdin.fileno()] * 8))]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendmsg([b'fd %d' % i], fds if sys.argv[3] == 'pass' else [], 0, name(sys.argv[1]))
`
for (const form of ['createSocket(\'unix_dgram\')', 'unix-dgram drop-in']) {
  test(`unix_dgram: descriptors a peer passes are closed, never kept (${form})`, async () => {
    const fdCount = () => fs.readdirSync('/proc/self/fd').length
    const name = abstractName('scm')
    const count = 20
    const r = form === 'unix-dgram drop-in'
      ? require('../lib/unix-dgram').createSocket('unix_dgram')
      : dgram.createSocket('unix_dgram')
    try {
      const got = []
      r.on('message', (msg) => got.push(String(msg)))
      // The drop-in emits 'listening' within bind(), as the package does.
      const listening = once(r, 'listening')
      r.bind(name)
      await listening
      const burst = async (how) => {
        got.length = 0
        await pythonChild(PY_PASS_FDS, argName(name), String(count), how).done
        for (let i = 0; i < 200 && got.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10))
        assert.strictEqual(got.length, count, 'every datagram arrives')
        assert.strictEqual(got[count - 1], `fd ${count - 1}`)
      }
      // The same burst without descriptors first: whatever the socket opens for a burst of its
      // own is open before the count.
      await burst('none')
      const before = fdCount()
      await burst('pass')
      // 8 descriptors came with each datagram: 160 in all. None is left open.
      assert.strictEqual(fdCount(), before, 'no descriptor left open')
    } finally {
      r.close()
    }
  })
}

test('unix_dgram: errors have node:dgram shape; UDP-only methods name the socket type', async () => {
  const s = dgram.createSocket('unix_dgram')
  const [err] = await new Promise((resolve) => s.connect('/no/such.sock', (...a) => resolve(a)))
  assert.strictEqual(err.message, 'connect ENOENT /no/such.sock')
  assert.strictEqual(err.code, 'ENOENT')
  assert.strictEqual(err.errno, -2)
  assert.strictEqual(err.syscall, 'connect')
  assert.strictEqual(err.address, '/no/such.sock')
  const [sendErr] = await new Promise((resolve) => s.send('x', '/no/such.sock', (...a) => resolve(a)))
  assert.strictEqual(sendErr.message, 'send ENOENT /no/such.sock')
  for (const m of ['setTTL', 'setBroadcast', 'addMembership', 'setMulticastInterface', 'sendBatch']) {
    assert.throws(() => s[m](1), {
      code: 'ERR_SOCKET_UNSUPPORTED_FOR_TYPE',
      message: `${m}() is not supported on a 'unix_dgram' socket: it is UDP-only`
    })
  }
  assert.throws(() => s.remoteAddress(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' })
  s.setRecvBufferSize(65536)
  assert.ok(s.getRecvBufferSize() >= 65536)
  assert.ok(s.getSendBufferSize() > 0)
  assert.strictEqual(s.getSendQueueCount(), 0)
  s.close()
  assert.throws(() => s.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' })
})

test('unix_dgram: send() with an offset or length out of range throws node:dgram\'s ERR_BUFFER_OUT_OF_BOUNDS', () => {
  const { describeError } = require('./helpers/impls')
  const udp = require('node:dgram').createSocket('udp4')
  const s = dgram.createSocket('unix_dgram')
  const p = sockPath('bounds')
  try {
    // [offset, length]: -1 (4294967295 as node:dgram reads it), past the end, and a length that
    // runs past it.
    for (const [offset, length] of [[-1, 3], [9, 0], [1, 5], [0, -1]]) {
      let expected
      try { udp.send(Buffer.from('abcd'), offset, length, 9, '127.0.0.1') } catch (e) { expected = describeError(e) }
      assert.ok(expected, `node:dgram throws for [${offset}, ${length}]`)
      let actual
      try { s.send(Buffer.from('abcd'), offset, length, p) } catch (e) { actual = describeError(e) }
      assert.deepStrictEqual(actual, expected, `[${offset}, ${length}]`)
    }
  } finally {
    udp.close()
    s.close()
  }
})

// An unconnected Unix socket is always reported writable, so a sender whose receiver is full
// cannot wait on writability: it waits on a timer (doubling, up to 10 ms) and sends the moment
// the receiver has room. Waiting on writability spun a whole core (about 650 ms of CPU in this
// test's second, against about 10 now): the bound below sits far from both.
test('unix_dgram: an unconnected sender waiting on a full receiver costs almost no CPU, and sends all once it drains', async () => {
  const name = abstractName('full')
  const count = 50
  const py = pythonChild(PY_NAME + `import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(name(sys.argv[1]))
print('ready', flush=True)
time.sleep(1.5)
got = 0
s.settimeout(5)
while got < int(sys.argv[2]):
    s.recv(100)
    got += 1
print('got', got, flush=True)
`, argName(name), String(count))
  await py.ready
  const s = dgram.createSocket('unix_dgram')
  try {
    let done = 0
    const errors = []
    for (let i = 0; i < count; i++) s.send(Buffer.alloc(100, i), name, (err) => { if (err) errors.push(err.code); done++ })
    const before = process.cpuUsage()
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const cpu = process.cpuUsage(before)
    assert.ok(s.getSendQueueCount() > 0, 'the receiver is full: sends wait')
    assert.ok((cpu.user + cpu.system) / 1000 < 300, `CPU while waiting: ${(cpu.user + cpu.system) / 1000} ms in 1 s`)
    const out = await py.done
    assert.match(out, new RegExp(`got ${count}`))
    const allDone = () => done === count
    for (let i = 0; i < 200 && !allDone(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    assert.deepStrictEqual([done, errors], [count, []])
  } finally {
    s.close()
  }
})

test('unix_dgram: a stale socket file gives EADDRINUSE, as in C; unlinking it is the caller\'s choice', async () => {
  const p = sockPath('stale')
  const a = dgram.createSocket('unix_dgram')
  a.bind(p)
  await once(a, 'listening')
  a.close()
  assert.ok(fs.existsSync(p), 'close leaves the socket file')
  const b = dgram.createSocket('unix_dgram')
  b.bind(p)
  const [err] = await once(b, 'error')
  assert.strictEqual(err.message, `bind EADDRINUSE ${p}`)
  assert.strictEqual(err.code, 'EADDRINUSE')
  // A C program (Python's socket is the C call) finds the same.
  const py = execFileSync('python3', ['-c', `import socket,sys,errno
s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.bind(sys.argv[1]); print('bound')
except OSError as e:
    print(errno.errorcode[e.errno])`, p]).toString().trim()
  assert.strictEqual(py, 'EADDRINUSE')
  b.close()
  unlink(p)
  const c = dgram.createSocket('unix_dgram')
  c.bind(p)
  await once(c, 'listening')
  c.close()
  unlink(p)
})

for (const kind of ['path', 'abstract']) {
  test(`unix_dgram ↔ Python, ${kind} names, both directions`, async () => {
    const mine = kind === 'path' ? sockPath('node') : abstractName('node')
    const theirs = kind === 'path' ? sockPath('py') : abstractName('py')
    const s = dgram.createSocket('unix_dgram')
    try {
      s.bind(mine)
      await once(s, 'listening')
      // Python binds, says ready, receives 3 datagrams and answers each with its
      // upper case and the sender's name as Python saw it.
      const peer = pythonChild(`${PY_NAME}
import socket
p = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
p.bind(name(sys.argv[1]))
print('ready', flush=True)
for i in range(3):
    data, frm = p.recvfrom(65536)
    frm = frm.decode() if isinstance(frm, bytes) else frm
    p.sendto(data.upper(), name(sys.argv[2]))
    print(repr(frm), flush=True)
`, argName(theirs), argName(mine))
      await peer.ready
      const got = []
      s.on('message', (msg, rinfo) => got.push([String(msg), rinfo.address]))
      for (const word of ['alpha', 'beta', '']) s.send(word, theirs)
      const out = await peer.done
      for (let i = 0; i < 200 && got.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 10))
      assert.deepStrictEqual(got, [['ALPHA', theirs], ['BETA', theirs], ['', theirs]])
      assert.deepStrictEqual(out.split('\n').slice(1, 4), Array(3).fill(`'${mine.replace('\0', '\\x00')}'`))
    } finally {
      s.close()
      if (kind === 'path') { unlink(mine); unlink(theirs) }
    }
  })
}

test('unix_dgram: a full receiver queues sends and completes every one, in order, never dropping', async () => {
  const p = sockPath('full')
  const N = 2000
  // Python binds, waits half a second (the sender fills its queue meanwhile),
  // then reads all N and checks their order.
  const peer = pythonChild(`import socket, sys, time, struct
p = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
p.bind(sys.argv[1])
print('ready', flush=True)
time.sleep(0.5)
p.settimeout(5)
seen = [struct.unpack('>I', p.recv(16))[0] for _ in range(int(sys.argv[2]))]
print('inorder' if seen == list(range(int(sys.argv[2]))) else 'disorder', flush=True)
`, p, String(N))
  await peer.ready
  const s = dgram.createSocket('unix_dgram')
  s.connect(p)
  await once(s, 'connect')
  const results = []
  const all = new Promise((resolve) => {
    for (let i = 0; i < N; i++) {
      const b = Buffer.alloc(4)
      b.writeUInt32BE(i)
      s.send(b, (err, n) => {
        results.push(err ? err.code : n)
        if (results.length === N) resolve()
      })
    }
  })
  assert.ok(s.getSendQueueCount() > 0, 'the receiver was full: sends queued')
  await all
  assert.deepStrictEqual(results, Array(N).fill(4))
  assert.strictEqual((await peer.done).trim().split('\n').pop(), 'inorder')
  assert.strictEqual(s.getSendQueueCount(), 0)
  s.close()
  unlink(p)
})

test('unix_dgram: a send callback that closes the socket leaves no other send without its callback (queued sends complete several to a call)', async () => {
  const name = abstractName('close-in-callback')
  const r = dgram.createSocket('unix_dgram', () => {})
  r.bind(name)
  await once(r, 'listening')
  const s = dgram.createSocket('unix_dgram')
  s.connect(name)
  await once(s, 'connect')
  const N = 200
  const calls = Array(N).fill(0)
  const outcomes = Array(N)
  let firstQueued = -1
  const all = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`callbacks missing: ${calls.flatMap((c, i) => c ? [] : [i]).join(' ')}`)), 5000)
    let done = 0
    for (let i = 0; i < N; i++) {
      s.send(Buffer.alloc(16), (err, n) => {
        calls[i]++
        outcomes[i] = err ? err.code : n
        // The first send that waited in the queue closes the socket from its callback.
        if (i === firstQueued) s.close()
        if (++done === N) { clearTimeout(timer); resolve() }
      })
      if (firstQueued < 0 && s.getSendQueueCount() > 0) firstQueued = i
    }
  })
  assert.ok(firstQueued >= 0 && firstQueued < N - 2, `sends queued behind the full receiver (first: ${firstQueued})`)
  await all
  assert.deepStrictEqual(calls, Array(N).fill(1), 'each callback once')
  assert.ok(outcomes.every((o) => o === 16 || o === 'ECANCELED'), String(outcomes))
  assert.ok(outcomes.slice(0, firstQueued + 1).every((o) => o === 16), 'those before the close were sent')
  r.close()
})

// ----- the unix-dgram drop-in -----

// One scenario, run in a child process against an implementation of the
// unix-dgram API; prints its transcript.
const SCENARIO = `
const unix = require(process.argv[1]);
const dir = process.argv[2];
const out = (...a) => console.log(JSON.stringify(a));
const S = dir + '/s.sock', C = dir + '/c.sock';
const server = unix.createSocket('unix_dgram', (buf, rinfo) => {
  out('message', String(buf), rinfo);
  if (String(buf) === 'last') { server.close(); client.close(); named.close(); out('closed'); }
});
server.on('listening', () => out('listening'));
server.bind(S);
out('after bind');
const bad = unix.createSocket('unix_dgram');
bad.on('error', (e) => out('error', e.message, e.code, e.errno, e.syscall));
bad.connect(dir + '/none.sock');
bad.send(Buffer.from('x'), 0, 1, dir + '/none.sock', (e) => out('send cb', e && e.message));
try { bad.address(); } catch (e) { out('address', e.message); }
bad.close();
const named = unix.createSocket('unix_dgram');
named.bind(C);
named.send(Buffer.from('xfromc'), 1, 5, S, (...a) => out('sendto cb', a.length));
const client = unix.createSocket('unix_dgram');
client.on('connect', () => out('connect'));
client.on('congestion', () => out('congestion event'));
client.connect(S);
let congested = 0, sent = 0;
for (let i = 0; i < 300; i++) client.send(Buffer.from('n' + i), (e) => { if (e) { congested++; if (congested === 1) out('congestion cb', e.message, e.code); } else sent++; });
out('sent some', sent > 0, 'congested some', congested > 0);
client.once('writable', () => { out('writable'); client.send(Buffer.from('last'), (e) => out('last cb', e)); });
`

// What unix-dgram 2.0.7 printed for SCENARIO (recorded on Linux with the package
// built by node-gyp); the drop-in must print the same.
const RECORDED = [
  '["listening"]',
  '["after bind"]',
  '["error","connect -2",-2,-2,"connect"]',
  '["send cb","send -2"]',
  '["address","not implemented"]',
  '["sendto cb",0]',
  '["connect"]',
  '["congestion cb","congestion",1]',
  '["sent some",true,"congested some",true]'
]

function runScenario (impl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-ud-'))
  try {
    return execFileSync(...nodeCommand(['-e', SCENARIO, impl, dir]), { timeout: 10000 })
      .toString().trim().split('\n')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function oracle () {
  const given = process.env.DGRAM_RS_UNIX_DGRAM_ORACLE
  try {
    return given ? require.resolve(given) : require.resolve('unix-dgram')
  } catch {
    return undefined
  }
}

test('unix-dgram drop-in: the package\'s transcript (recorded; live when the package resolves)', (t) => {
  const mine = runScenario(path.join(__dirname, '..', 'lib', 'unix-dgram.js'))
  // The synchronous part, then the received datagrams (their number depends on
  // the receiver's queue), then writable/last/closed.
  const head = mine.slice(0, RECORDED.length)
  assert.deepStrictEqual(head, RECORDED)
  const rest = mine.slice(RECORDED.length).map((l) => JSON.parse(l))
  assert.deepStrictEqual(rest[0][0], 'message')
  assert.deepStrictEqual(rest[0][1], 'fromc')
  assert.match(rest[0][2].path, /c\.sock$/)
  assert.ok(rest.some((r) => r[0] === 'writable'))
  assert.deepStrictEqual(rest.at(-2), ['message', 'last', { size: 4, address: {}, path: null }])
  assert.deepStrictEqual(rest.at(-1), ['closed'])
  const impl = oracle()
  if (!impl) {
    t.diagnostic('unix-dgram not installed: compared with the recorded transcript only')
    return
  }
  const theirs = runScenario(impl)
  // Datagram paths differ by temporary directory; the n<i> datagrams in number.
  const shape = (lines) => lines.map((l) => JSON.parse(l))
    .filter((r) => r[0] !== 'message' || !/^n\d+$/.test(r[1]))
    .map((r) => (r[2]?.path ? [r[0], r[1], { ...r[2], path: path.basename(r[2].path) }] : r))
  assert.deepStrictEqual(shape(mine), shape(theirs))
})
