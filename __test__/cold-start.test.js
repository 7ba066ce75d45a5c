'use strict'
// A cold start's shortcuts, each checked against what it stands for: the IP literal test
// (Node's net.isIP, without loading net), the musl test (the node binary's ELF interpreter, read
// byte by byte), and a fresh process's bind, which asks cluster whether it is a worker only
// where cluster is loaded (node:dgram loads it, with child_process, net and the streams).
const assert = require('node:assert')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { test } = require('node:test')
const { nodeCommand } = require('./helpers/node-command')
const { isIP } = require('../lib/validators')

const native = process.env.DGRAM_RS_FALLBACK !== '1' && require('dgram-rs').native
// Node 20 names the permission model --experimental-permission; 22 accepts both.
const PERMISSION = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission'

test('cold start: isIP answers as net.isIP does', () => {
  const inputs = [
    '127.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4 ', ' 1.2.3.4',
    '::', '::1', '::1%', '[::1]', 'fe80::1%eth0', 'fe80::1%a.b-c:d', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9', '1::2::3', '2001:db8::', '2001:DB8::A', 'g::1', '1:2:3:4:5:6:1.2.3.4',
    '', 'localhost', 'example.com', '1.2.3.4\n', null, undefined, 123, 0x7f000001, [], ['1.2.3.4'],
    { toString () { return '::1' } }, true
  ]
  for (const input of inputs) assert.strictEqual(isIP(input), net.isIP(input), String(input))
  assert.throws(() => isIP(Symbol('x')), TypeError)
  assert.throws(() => net.isIP(Symbol('x')), TypeError)
  // Random strings of an address's characters, and dotted numbers (some with a leading zero,
  // some out of range, some empty, some joined by ':' or behind '::ffff:').
  let seed = 0x2545f491
  const random = (n) => {
    seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const alphabet = '0123456789.:.:.abcdefABCDEF%x -'
  for (let k = 0; k < 20000; k++) {
    let s = ''
    for (let i = random(20); i > 0; i--) s += alphabet[random(alphabet.length)]
    const parts = []
    for (let i = 3 + random(3); i > 0; i--) {
      parts.push(random(30) === 0 ? '' : (random(8) === 0 ? '0' : '') + random(300))
    }
    const dotted = (random(10) === 0 ? '::ffff:' : '') + parts.join(random(20) ? '.' : ':')
    assert.strictEqual(isIP(s), net.isIP(s), s)
    assert.strictEqual(isIP(dotted), net.isIP(dotted), dotted)
  }
  // IPv6 shapes: 0 to 9 groups of 0 to 5 hex digits, a '::' anywhere (or two), an IPv4 tail,
  // a zone: around every limit of the group count.
  const hex = '0123456789abcdefABCDEFg'
  for (let k = 0; k < 20000; k++) {
    const groups = []
    for (let i = random(10); i > 0; i--) {
      let g = ''
      for (let j = random(5) + (random(12) === 0 ? 1 : 0); j > 0; j--) g += hex[random(hex.length)]
      groups.push(g || (random(3) ? '0' : ''))
    }
    if (random(4) === 0) groups.push(`${random(260)}.${random(256)}.${random(256)}.${random(256)}`)
    let s = groups.join(':')
    for (let gaps = random(3) === 0 ? 0 : 1 + (random(15) === 0 ? 1 : 0); gaps > 0; gaps--) {
      const at = random(s.length + 1)
      s = s.slice(0, at) + '::' + s.slice(at)
    }
    if (random(6) === 0) s += '%' + ['eth0', '', 'a.b-c:d', 'x y', '1'][random(5)]
    assert.strictEqual(isIP(s), net.isIP(s), s)
  }
})

test('cold start: the musl test reads the ELF interpreter of the file it is given', { skip: !native && 'no native addon' }, (t) => {
  const { isMusl } = require('../lib/native')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-musl-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const head = Buffer.alloc(8192)
  const fd = fs.openSync(process.execPath, 'r')
  const n = fs.readSync(fd, head, 0, head.length, 0)
  fs.closeSync(fd)
  const node = head.subarray(0, n)
  const file = (name, bytes) => {
    const f = path.join(dir, name)
    fs.writeFileSync(f, bytes)
    return f
  }
  // This Node (glibc here; the test machines run no musl Node).
  const interp = /\/lib(64)?\/ld-linux-[^\0]*\0/.exec(node.toString('latin1'))
  assert.ok(interp, 'a glibc node binary names its ld-linux loader')
  assert.strictEqual(isMusl(process.execPath), false)
  // The same header with musl's loader in place of glibc's.
  const musl = Buffer.from(node)
  musl.fill(0, interp.index, interp.index + interp[0].length)
  musl.write('/lib/ld-musl-x86_64.so.1', interp.index, 'latin1')
  assert.strictEqual(isMusl(file('musl', musl)), true)
  // Its PT_INTERP pointing past the first 4 KiB read: a second read finds it.
  const far = Buffer.concat([musl, Buffer.alloc(8192)])
  const phoff = Number(far.readBigUInt64LE(32))
  for (let i = 0; i < far.readUInt16LE(56); i++) {
    const ph = phoff + i * far.readUInt16LE(54)
    if (far.readUInt32LE(ph) === 3) far.writeBigUInt64LE(6000n, ph + 8)
  }
  far.write('/lib/ld-musl-aarch64.so.1\0', 6000, 'latin1')
  assert.strictEqual(isMusl(file('far', far)), true)
  // Not an ELF file, cut short, missing, a directory: not musl, and no throw.
  assert.strictEqual(isMusl(file('text', 'not an ELF file\n')), false)
  assert.strictEqual(isMusl(file('short', node.subarray(0, 100))), false)
  assert.strictEqual(isMusl(path.join(dir, 'missing')), false)
  assert.strictEqual(isMusl(dir), false)
})

test('cold start: the musl test takes the loader this process mapped, where /proc/self/maps names one', { skip: !native && 'no native addon' }, () => {
  const { isMusl, loaderInMaps } = require('../lib/native')
  const line = (file) => `7f01557da000-7f01557db000 r--p 00000000 fe:00 325843                     ${file}\n`
  const libc = line('/usr/lib/x86_64-linux-gnu/libc.so.6')
  assert.strictEqual(loaderInMaps(libc + line('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')), false)
  assert.strictEqual(loaderInMaps(line('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1') + libc), false)
  assert.strictEqual(loaderInMaps(line('/lib/ld-musl-x86_64.so.1') + line('[heap]')), true)
  assert.strictEqual(loaderInMaps(line('/lib/ld-musl-aarch64.so.1')), true)
  // Naming neither (a statically linked node, no /proc): the ELF header decides.
  assert.strictEqual(loaderInMaps(line('/usr/bin/node') + line('[stack]')), undefined)
  assert.strictEqual(loaderInMaps(line('/opt/ld-musl-tools/bin/tool')), undefined)
  assert.strictEqual(loaderInMaps(undefined), undefined)
  // This process: the same answer as its binary's ELF interpreter.
  const here = loaderInMaps(fs.readFileSync('/proc/self/maps', 'utf8'))
  assert.notStrictEqual(here, undefined, 'this Node maps a loader this test knows')
  assert.strictEqual(here, isMusl(process.execPath))
})

const RECIPE = `
const dgram = require(process.argv[1])
const s = dgram.createSocket('udp4')
s.on('message', (msg) => {
  s.close()
  const loaded = (name) => process.moduleLoadList.includes('NativeModule ' + name)
  console.log(JSON.stringify({ msg: String(msg), cluster: loaded('cluster'), net: loaded('net'), isWorker: require('cluster').isWorker }))
})
s.bind(0, '127.0.0.1', () => s.send('x', s.address().port, '127.0.0.1'))
`

// A project with a copy of the package in node_modules/dgram-rs and the given files (relative
// path: contents) beside it; the copy is loaded in a fresh process that counts reads of
// /proc/self/maps.
function loadInProject (t, files, { prelude = '', permission = false } = {}) {
  const root = path.join(__dirname, '..')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-addons-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pkg = path.join(dir, 'node_modules', 'dgram-rs')
  for (const f of ['index.js', 'package.json', 'lib', path.join('generated', 'dgram-rs.js')]) {
    if (fs.existsSync(path.join(root, f))) fs.cpSync(path.join(root, f), path.join(pkg, f), { recursive: true })
  }
  for (const [name, contents] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), contents)
  }
  const script = `${prelude}
const fs = require('fs')
const readFileSync = fs.readFileSync
let mapsRead = 0
fs.readFileSync = function (file, ...rest) {
  if (file === '/proc/self/maps') mapsRead++
  return readFileSync.call(this, file, ...rest)
}
let warning = null
process.on('warning', (w) => { if (w.code?.startsWith('DGRAM_RS')) warning = w.code })
const dgram = require(process.argv[1])
setImmediate(() => console.log(JSON.stringify({ native: dgram.native, mapsRead, warning })))
`
  // The permission model, reads allowed in the project only (Node 20 takes a glob, later ones
  // a folder with what it holds).
  const flags = !permission
    ? []
    : PERMISSION === '--permission'
      ? [PERMISSION, `--allow-fs-read=${dir}`, '--allow-addons']
      : [PERMISSION, `--allow-fs-read=${dir}/*`, '--allow-addons']
  const r = spawnSync(...nodeCommand([...flags, '-e', script, pkg]), {
    encoding: 'utf8',
    timeout: 15000,
    // NODE_PATH an existing folder outside the reads allowed: where Node checks the resolution's
    // reads, the package's resolution there is refused (ERR_ACCESS_DENIED), not "not found".
    env: { ...process.env, DGRAM_RS_CODE_CACHE: '0', ...(permission && { NODE_PATH: os.tmpdir() }) }
  })
  assert.strictEqual(r.status, 0, r.stderr)
  return JSON.parse(r.stdout)
}

test('cold start: the addon of one C library alone is loaded without asking which C library runs', { skip: !native && 'no native addon' }, (t) => {
  const root = path.join(__dirname, '..')
  const [gnu, musl] = ['gnu', 'musl'].map((libc) => `linux-${process.arch}-${libc}`)
  const built = [gnu, musl].find((p) => fs.existsSync(path.join(root, `dgram-rs.${p}.node`)))
  if (built === undefined) return t.skip('no local build in the package root')
  const other = built === gnu ? musl : gnu
  const addon = fs.readFileSync(path.join(root, `dgram-rs.${built}.node`))
  const local = (p) => `node_modules/dgram-rs/dgram-rs.${p}.node`
  const installed = (p, contents, under = 'node_modules') => ({
    [`${under}/dgram-rs-${p}/package.json`]: JSON.stringify({ name: `dgram-rs-${p}`, main: `dgram-rs.${p}.node` }),
    [`${under}/dgram-rs-${p}/dgram-rs.${p}.node`]: contents
  })
  const fine = { native: true, mapsRead: 0, warning: null }
  // This C library's alone, as a local build or as the platform package: loaded, and
  // /proc/self/maps never read.
  assert.deepStrictEqual(loadInProject(t, { [local(built)]: addon }), fine)
  assert.deepStrictEqual(loadInProject(t, installed(built, addon)), fine)
  // Both C libraries' (the same file under both names): the loader asks, once, and loads.
  const asked = { native: true, mapsRead: 1, warning: null }
  assert.deepStrictEqual(loadInProject(t, { [local(gnu)]: addon, [local(musl)]: addon }), asked)
  assert.deepStrictEqual(loadInProject(t, { ...installed(gnu, addon), ...installed(musl, addon) }), asked)
  // The other C library's alone (here a file no loader takes), nested in the package's own
  // node_modules, the nearest folder: it fails to load, the loader asks, and resolves this C
  // library's package, further up.
  assert.deepStrictEqual(loadInProject(t, { ...installed(other, 'not an ELF file', 'node_modules/dgram-rs/node_modules'), ...installed(built, addon) }), asked)
  // The other C library's alone, nothing of this one's: what is missing is this C library's
  // addon, so the package falls back to node:dgram with its warning, as it did when the loader
  // asked first; not "the addon did not load", which is a broken install's error.
  const fellBack = { native: false, mapsRead: 1, warning: 'DGRAM_RS_FALLBACK' }
  assert.deepStrictEqual(loadInProject(t, { [local(other)]: 'not an ELF file' }), fellBack)
  assert.deepStrictEqual(loadInProject(t, installed(other, 'not an ELF file')), fellBack)
  // A Node.js whose Node-API is older than the addon's: no addon is tried, whatever is there.
  const oldNodeApi = "Object.defineProperty(process.versions, 'napi', { value: '7' })"
  assert.deepStrictEqual(loadInProject(t, { [local(built)]: addon }, { prelude: oldNodeApi }), { native: false, mapsRead: 0, warning: 'DGRAM_RS_FALLBACK' })
  // Under the permission model, reads allowed in the project only: the folders above it (where
  // existsSync throws ERR_ACCESS_DENIED) count as holding nothing, as Node's resolution does.
  assert.deepStrictEqual(loadInProject(t, installed(built, addon), { permission: true }), fine)
  assert.deepStrictEqual(loadInProject(t, {}, { permission: true }), fellBack)
})

test('cold start: a fresh process binds, sends and receives without loading cluster or net', { skip: !native && 'no native addon' }, () => {
  const r = spawnSync(...nodeCommand(['-e', RECIPE, path.join(__dirname, '..')]), { encoding: 'utf8', timeout: 15000 })
  assert.strictEqual(r.status, 0, r.stderr)
  assert.deepStrictEqual(JSON.parse(r.stdout), { msg: 'x', cluster: false, net: false, isWorker: false })
})

test('cold start: a process that loaded cluster as the primary binds as one', () => {
  const script = "require('cluster');" + RECIPE
  for (const module of ['node:dgram', path.join(__dirname, '..')]) {
    const r = spawnSync(...nodeCommand(['-e', script, module]), { encoding: 'utf8', timeout: 15000 })
    assert.strictEqual(r.status, 0, r.stderr)
    assert.deepStrictEqual(JSON.parse(r.stdout).isWorker, false)
  }
})

test('cold start: whether binds go through a cluster primary is settled by the first bind', () => {
  // node:dgram's first bind loads cluster, which reads NODE_UNIQUE_ID once: set afterwards, the
  // variable makes no later bind a worker's. dgram-rs keeps the first bind's answer too (and so
  // reads process.env at no later bind).
  const script = `
const dgram = require(process.argv[1])
const first = dgram.createSocket('udp4')
first.bind(0, '127.0.0.1', () => {
  process.env.NODE_UNIQUE_ID = '1'
  const second = dgram.createSocket('udp4')
  second.on('error', (err) => { console.log(JSON.stringify({ error: err.code || err.message })); first.close() })
  second.bind(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ bound: second.address().port > 0 }))
    first.close(); second.close()
  })
})
`
  for (const module of ['node:dgram', path.join(__dirname, '..')]) {
    const r = spawnSync(...nodeCommand(['-e', script, module]), { encoding: 'utf8', timeout: 15000 })
    assert.strictEqual(r.status, 0, module + ': ' + r.stderr)
    assert.deepStrictEqual(JSON.parse(r.stdout), { bound: true }, module)
  }
})
