'use strict'
// The loader's decision (index.js, lib/native.js) and the fallback to node:dgram (lib/fallback.js).
// Each case runs a copy of the package's JavaScript in a temporary directory, in a child process,
// with or without a binary: the local build, a platform package in node_modules, a corrupt file.
const assert = require('node:assert')
const { test } = require('node:test')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { REPO_ROOT } = require('./helpers/impls')

const FALLBACK = process.env.DGRAM_RS_FALLBACK === '1'
// The addon this clone built (dgram-rs.<platform>.node), if any.
const BUILT = fs.readdirSync(REPO_ROOT).find((f) => /^dgram-rs\..+\.node$/.test(f))
const PLATFORM = BUILT && BUILT.slice('dgram-rs.'.length, -'.node'.length)

// A copy of the package's JavaScript (no binary) in a fresh directory; returns its path.
function copyPackage (t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-loader-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const pkg = path.join(dir, 'node_modules', 'dgram-rs')
  fs.mkdirSync(pkg, { recursive: true })
  for (const f of ['index.js', 'package.json', 'lib']) fs.cpSync(path.join(REPO_ROOT, f), path.join(pkg, f), { recursive: true })
  return { dir, pkg }
}

// Requires the copy twice in a child (from `dir`, as a dependency), makes a round trip over
// loopback with sendBatch and receiveBatches, prints what it saw as JSON.
function probe (dir, env = {}) {
  const script = `
const warnings = []
process.on('warning', (w) => warnings.push({ name: w.name, code: w.code, message: w.message }))
const dgram = require('dgram-rs')
require('dgram-rs')
const r = dgram.createSocket({ type: 'udp4', receiveBatches: true })
r.on('messages', (messages) => {
  setImmediate(() => {
    console.log(JSON.stringify({ native: dgram.native, warnings, got: messages.map(String), isNode: r instanceof require('node:dgram').Socket }))
    r.close(); s.close()
  })
})
const s = dgram.createSocket('udp4')
r.bind(0, '127.0.0.1', () => s.sendBatch(['a', 'b'], r.address().port, '127.0.0.1'))
setTimeout(() => { console.log('timed out'); process.exit(2) }, 3000).unref()`
  const out = spawnSync(process.execPath, ['-e', script], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 10000,
    env: { ...process.env, DGRAM_RS_FALLBACK: '', ...env }
  })
  let result = null
  try { result = JSON.parse(out.stdout) } catch {}
  return { status: out.status, result, stdout: out.stdout, stderr: out.stderr }
}

test('loader: the package in this repository loads the native addon unless DGRAM_RS_FALLBACK=1', () => {
  assert.strictEqual(require('dgram-rs').native, !FALLBACK)
})

test('loader: no binary anywhere: node:dgram with the additions, native false, one warning naming platform and reason', (t) => {
  const { dir } = copyPackage(t)
  const { status, result, stderr } = probe(dir)
  assert.strictEqual(status, 0, stderr)
  assert.strictEqual(result.native, false)
  assert.strictEqual(result.isNode, true)
  assert.deepStrictEqual(result.got, ['a', 'b'])
  assert.strictEqual(result.warnings.length, 1)
  const [w] = result.warnings
  assert.deepStrictEqual([w.name, w.code], ['DgramRsWarning', 'DGRAM_RS_FALLBACK'])
  assert.match(w.message, new RegExp(`^no native addon for ${process.platform}-${process.arch}: `))
  if (PLATFORM) assert.match(w.message, new RegExp(`the package dgram-rs-${PLATFORM} is not installed, and there is no local build`))
})

test('loader: the platform package in node_modules is found and loaded', { skip: !BUILT && 'no local build to stand in for the platform package' }, (t) => {
  const { dir } = copyPackage(t)
  const platformPkg = path.join(dir, 'node_modules', `dgram-rs-${PLATFORM}`)
  fs.mkdirSync(platformPkg)
  fs.writeFileSync(path.join(platformPkg, 'package.json'), JSON.stringify({ name: `dgram-rs-${PLATFORM}`, version: '0.0.0', main: BUILT }))
  fs.copyFileSync(path.join(REPO_ROOT, BUILT), path.join(platformPkg, BUILT))
  const { status, result, stderr } = probe(dir)
  assert.strictEqual(status, 0, stderr)
  assert.deepStrictEqual(result, { native: true, warnings: [], got: ['a', 'b'], isNode: true })
})

test('loader: a binary that fails to load is a thrown error with its reason, unless DGRAM_RS_FALLBACK=1', { skip: !BUILT && 'no local build: the platform name is unknown' }, (t) => {
  const { dir, pkg } = copyPackage(t)
  fs.writeFileSync(path.join(pkg, BUILT), 'not an ELF file')
  const broken = probe(dir)
  assert.strictEqual(broken.status, 1)
  assert.strictEqual(broken.result, null)
  assert.match(broken.stderr, new RegExp(`Error: dgram-rs: the native addon .*${BUILT.replace(/\./g, '\\.')} did not load: .*(invalid ELF header|file too short)`))
  const forced = probe(dir, { DGRAM_RS_FALLBACK: '1' })
  assert.strictEqual(forced.status, 0, forced.stderr)
  // Asked for: no warning.
  assert.deepStrictEqual(forced.result, { native: false, warnings: [], got: ['a', 'b'], isNode: true })
})

test('fallback: node:dgram\'s own Socket.prototype is left as it was', () => {
  const { Socket } = require('node:dgram')
  require(path.join(REPO_ROOT, 'lib', 'fallback.js'))
  assert.strictEqual(Socket.prototype.sendBatch, undefined)
  assert.strictEqual(Object.hasOwn(Socket.prototype, 'emit'), false)
})
