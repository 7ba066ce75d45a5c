'use strict'
// The generated bundle (scripts/bundle.js) and its loader (index.js): that the tests run on what
// lib/ makes now, that a first datagram needs no file of lib/ beyond it, that each module has one
// instance however it is reached (the bundle, Node's loader first, a lazily loaded module), that
// Jest's sandbox loads lib/ itself, that the code cache (lib/code-cache.js) is used, and that Node's
// compile cache takes the bundle where the application turned it on.
const assert = require('node:assert')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { test } = require('node:test')
const { nodeCommand } = require('./helpers/node-command')

const root = path.join(__dirname, '..')
const native = process.env.DGRAM_RS_FALLBACK !== '1' && require('dgram-rs').native
const skip = !native && 'no native addon'

// Runs `script` in a fresh Node; its last line of output, parsed.
function fresh (script, args = [], options = {}) {
  const r = spawnSync(...nodeCommand([...args, '-e', script, root]), { encoding: 'utf8', timeout: 20000, ...options })
  assert.strictEqual(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

test('bundle: generated/dgram-rs.js is what lib/ makes now (else `npm run build`)', () => {
  const r = spawnSync(...nodeCommand([path.join(root, 'scripts', 'bundle.js'), '--check']), { encoding: 'utf8', timeout: 20000 })
  assert.strictEqual(r.status, 0, r.stderr)
})

test('bundle: a first datagram loads no file of lib/ through Node\'s loader', { skip }, () => {
  const out = fresh(`
    const Module = require('module')
    const compiled = []
    const compile = Module.prototype._compile
    Module.prototype._compile = function (content, filename) {
      compiled.push(require('path').relative(process.argv[1], filename))
      return compile.apply(this, arguments)
    }
    const dgram = require(process.argv[1])
    const s = dgram.createSocket('udp4')
    s.on('message', (msg) => {
      s.close(() => console.log(JSON.stringify({ msg: String(msg), compiled, bundled: dgram[Symbol.for('dgram-rs.loaded')] !== null })))
    })
    s.bind(0, '127.0.0.1', () => s.send('x', s.address().port, '127.0.0.1'))`)
  // index.js only: every module the datagram needed came from the bundle.
  assert.deepStrictEqual(out, { msg: 'x', compiled: ['index.js'], bundled: true })
})

test('bundle: one instance of each module, whichever loader reached it first', { skip }, () => {
  const out = fresh(`
    const path = require('path')
    const lib = (name) => path.join(process.argv[1], 'lib', name)
    // lib/control.js through Node's loader before the package: the bundle must take that one.
    const control = require(lib('control.js'))
    const dgram = require(process.argv[1])
    const s = dgram.createSocket('udp4')
    // A module outside the bundle (lib/batch.js, loaded by sendBatch) requiring a bundled one.
    s.bind(0, '127.0.0.1', () => {
      s.sendBatch([Buffer.from('a')], s.address().port, '127.0.0.1', () => {
        s.close()
        const cached = Object.keys(require.cache).filter((f) => f.startsWith(path.join(process.argv[1], 'lib')))
        console.log(JSON.stringify({
          socket: require(lib('socket.js')).Socket === dgram.Socket,
          control: require.cache[lib('control.js')].exports === control,
          batch: cached.includes(lib('batch.js')),
          unique: new Set(cached.map((f) => require.cache[f].exports)).size === cached.length
        }))
      })
    })`)
  assert.deepStrictEqual(out, { socket: true, control: true, batch: true, unique: true })
})

test('bundle: in a vm context (Jest\'s sandbox) lib/ loads through the context\'s own loader', { skip }, () => {
  const out = fresh(`
    const vm = require('vm')
    const Module = require('module')
    const context = vm.createContext({ console, process, Buffer, setTimeout, clearTimeout, setImmediate, clearImmediate, queueMicrotask })
    // A loader of the sandbox's own, as Jest's: index.js compiled and run inside the context.
    const file = require('path').join(process.argv[1], 'index.js')
    const wrapper = vm.runInContext(Module.wrap(require('fs').readFileSync(file, 'utf8')), context, { filename: file })
    const m = { exports: {} }
    wrapper(m.exports, Module.createRequire(file), m, file, process.argv[1])
    console.log(JSON.stringify({ native: m.exports.native, bundle: m.exports[Symbol.for('dgram-rs.loaded')] }))`)
  assert.deepStrictEqual(out, { native: true, bundle: null })
})

// A copy of the package in a temporary folder (removed after the test), so that the caches made
// there are the test's alone.
function packageCopy (t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-cache-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const f of ['index.js', 'package.json', 'lib', 'generated/dgram-rs.js']) {
    fs.cpSync(path.join(root, f), path.join(dir, f), { recursive: true })
  }
  for (const f of fs.readdirSync(root).filter((f) => f.endsWith('.node'))) fs.copyFileSync(path.join(root, f), path.join(dir, f))
  return dir
}

const run = (args, env = process.env) => spawnSync(...nodeCommand(args), { encoding: 'utf8', timeout: 20000, env })
// How a fresh process's index.js compiled the bundle of the package in `dir`.
const cacheState = (dir) => ['-p', `require(${JSON.stringify(dir)})[Symbol.for('dgram-rs.loaded')].cache`]

// The environment of a process that writes no code cache (the command's tests).
const noWrite = { ...process.env, DGRAM_RS_CODE_CACHE: '0' }

test('bundle: a process that found no code cache leaves one for the next, in the package\'s folder: at exit', { skip }, (t) => {
  const dir = packageCopy(t)
  const state = cacheState(dir)
  const cacheDir = path.join(dir, 'generated', 'cache')
  assert.strictEqual(run(state).stdout.trim(), 'none')
  assert.deepStrictEqual(fs.readdirSync(cacheDir).map((f) => f.replace(/^[0-9a-f]+-/, '')), [`${process.arch}-node-${process.versions.node}.bin`])
  assert.strictEqual(run(state).stdout.trim(), 'used')
  // The application's opt-out: nothing written.
  fs.rmSync(cacheDir, { recursive: true })
  assert.strictEqual(run(state, noWrite).stdout.trim(), 'none')
  assert.strictEqual(fs.existsSync(cacheDir), false)
  // A folder it cannot write (here a file where the folder would be): silent, and the next
  // process compiles as before.
  fs.writeFileSync(cacheDir, '')
  const r = run(state)
  assert.deepStrictEqual([r.status, r.stderr, r.stdout.trim()], [0, '', 'none'])
  assert.strictEqual(run(state).stdout.trim(), 'none')
})

test('bundle: a process that runs on writes the code cache a second after loading (a server stopped by a signal runs no exit listener)', { skip }, (t) => {
  const dir = packageCopy(t)
  // Alive for 1.5 s, then killed: no 'exit' event.
  const r = run(['-e', `require(${JSON.stringify(dir)}); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 2000)`])
  assert.strictEqual(r.signal, 'SIGKILL')
  assert.strictEqual(run(cacheState(dir)).stdout.trim(), 'used')
  // Killed within the second: none written, and no timer kept the process alive meanwhile.
  const other = packageCopy(t)
  const quick = run(['-e', `require(${JSON.stringify(other)}); setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100)`])
  assert.strictEqual(quick.signal, 'SIGKILL')
  assert.strictEqual(fs.existsSync(path.join(other, 'generated', 'cache')), false)
})

test('bundle: a cache V8 refuses (other V8 flags) is replaced by a process started without flags, and left by one with flags', { skip }, (t) => {
  const dir = packageCopy(t)
  const state = cacheState(dir)
  assert.strictEqual(run(['--expose-gc', ...state]).stdout.trim(), 'none')
  assert.strictEqual(run(['--expose-gc', ...state]).stdout.trim(), 'used')
  assert.strictEqual(run(state).stdout.trim(), 'rejected')
  assert.strictEqual(run(state).stdout.trim(), 'used')
  assert.strictEqual(run(['--expose-gc', ...state]).stdout.trim(), 'rejected')
  assert.strictEqual(run(state).stdout.trim(), 'used')
})

test('bundle: the package\'s folder is written only by its owner (root\'s server would leave files a user\'s npm cannot remove)', {
  skip: skip || (process.getuid?.() !== 0 && 'needs root, to give the folder another owner')
}, (t) => {
  const dir = packageCopy(t)
  fs.chownSync(path.join(dir, 'generated'), 12345, 12345)
  assert.strictEqual(run(cacheState(dir)).stdout.trim(), 'none')
  assert.strictEqual(fs.existsSync(path.join(dir, 'generated', 'cache')), false)
  fs.chownSync(path.join(dir, 'generated'), 0, 0)
  assert.strictEqual(run(cacheState(dir)).stdout.trim(), 'none')
  assert.strictEqual(run(cacheState(dir)).stdout.trim(), 'used')
})

test('bundle: processes that start together (cluster workers) and a worker thread each leave a whole cache, and nothing else', { skip }, async (t) => {
  const dir = packageCopy(t)
  const cacheDir = path.join(dir, 'generated', 'cache')
  const { spawn } = require('node:child_process')
  const together = await Promise.all([1, 2, 3, 4].map(() => new Promise((resolve) => {
    const p = spawn(...nodeCommand(cacheState(dir)), { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => { out += d })
    p.on('exit', (code) => resolve(`${code} ${out.trim()}`))
  })))
  // Each compiled or took what one that exited before it wrote, whole; one file, no temporary one.
  for (const r of together) assert.match(r, /^0 (none|used)$/)
  assert.ok(together.includes('0 none'))
  assert.strictEqual(fs.readdirSync(cacheDir).length, 1)
  assert.strictEqual(run(cacheState(dir)).stdout.trim(), 'used')
  // A worker thread's exit writes it too (its own temporary file: the name has the thread's id).
  fs.rmSync(cacheDir, { recursive: true })
  const worker = run(['-e', `new (require('node:worker_threads').Worker)(${JSON.stringify(`require(${JSON.stringify(dir)})`)}, { eval: true })`])
  assert.strictEqual(worker.status, 0, worker.stderr)
  assert.strictEqual(fs.readdirSync(cacheDir).length, 1)
  assert.strictEqual(run(cacheState(dir)).stdout.trim(), 'used')
})

test('bundle: under Node\'s permission model, the cache is written only where the program may write', {
  skip: skip || (!process.allowedNodeEnvironmentFlags.has('--allow-addons') && 'no --allow-addons in this Node.js')
}, (t) => {
  const dir = packageCopy(t)
  const permission = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission'
  const flags = [permission, '--allow-addons', '--allow-fs-read=*', '--no-warnings']
  const denied = run([...flags, ...cacheState(dir)])
  assert.deepStrictEqual([denied.status, denied.stderr, denied.stdout.trim()], [0, '', 'none'])
  assert.strictEqual(fs.existsSync(path.join(dir, 'generated', 'cache')), false)
  assert.strictEqual(run([...flags, `--allow-fs-write=${dir}`, ...cacheState(dir)]).stdout.trim(), 'none')
  assert.strictEqual(run([...flags, ...cacheState(dir)]).stdout.trim(), 'used')
})

test('bundle: the code cache is used where it was made, and rejected under other V8 flags', { skip }, (t) => {
  const dir = packageCopy(t)
  const state = cacheState(dir)
  assert.strictEqual(run(state, noWrite).stdout.trim(), 'none')
  const made = run(['--no-warnings', path.join(dir, 'lib', 'code-cache.js')])
  assert.strictEqual(made.status, 0, made.stderr)
  assert.strictEqual(made.stderr, '')
  assert.strictEqual(fs.readdirSync(path.join(dir, 'generated', 'cache')).length, 1)
  assert.strictEqual(run(state, noWrite).stdout.trim(), 'used')
  // Made for this Node.js release alone: V8 also took a cache of another release of the same V8
  // (20.20.2's in 20.12.0 and 20.19.0), whose modules then failed (require('path') was not path).
  assert.match(path.basename(fs.readdirSync(path.join(dir, 'generated', 'cache'))[0]), new RegExp(`-node-${process.versions.node}\\.bin$`))
  // V8 takes a cache only under the flags that change code as they were (--expose-gc, any Node).
  assert.strictEqual(run(['--expose-gc', ...state], noWrite).stdout.trim(), 'rejected')
  // A changed bundle (another identity) does not take the old cache.
  const bundle = path.join(dir, 'generated', 'dgram-rs.js')
  fs.writeFileSync(bundle, fs.readFileSync(bundle, 'utf8').replace(/^(\/\/ dgram-rs bundle )[0-9a-f]+/, '$10000000000000000'))
  assert.strictEqual(run(state, noWrite).stdout.trim(), 'none')
})

test('bundle: where the application turned Node\'s compile cache on, the code cache is kept in its folder; the package\'s first', {
  skip: skip || (require('node:module').getCompileCacheDir === undefined && 'no compile cache in this Node.js (22.8 and later)')
}, (t) => {
  const dir = packageCopy(t)
  const nodeCache = path.join(dir, 'node-compile-cache')
  const env = { ...process.env, NODE_COMPILE_CACHE: nodeCache }
  // The cache's state and which folder it is in, in a fresh process.
  const where = (before = '', e = env) => {
    const r = run(['-p', `${before}; const l = require(${JSON.stringify(dir)})[Symbol.for('dgram-rs.loaded')]
      l.cache + ' ' + (l.cacheFile.startsWith(${JSON.stringify(nodeCache + path.sep)}) ? 'node' : l.cacheFile === l.ownCacheFile ? 'package' : l.cacheFile)`], e)
    assert.strictEqual(r.status, 0, r.stderr)
    return r.stdout.trim()
  }
  // The first process compiles and writes the cache at exit; the next takes it.
  assert.strictEqual(where(), 'none node')
  const [version] = fs.readdirSync(nodeCache)
  assert.deepStrictEqual(fs.readdirSync(path.join(nodeCache, version, 'dgram-rs')).map((f) => f.replace(/^[0-9a-f]+-/, '')), [`${process.arch}-node-${process.versions.node}.bin`])
  assert.strictEqual(where(), 'used node')
  // Turned on by the application's own call instead of the environment: the same folder.
  const noEnv = { ...process.env }
  delete noEnv.NODE_COMPILE_CACHE
  assert.strictEqual(where(`require('node:module').enableCompileCache(${JSON.stringify(nodeCache)})`, noEnv), 'used node')
  // Neither: the package's own folder, where nothing was made yet (that process leaves one).
  assert.strictEqual(where('', noEnv), 'none package')
  assert.strictEqual(where('', noEnv), 'used package')
  fs.rmSync(path.join(dir, 'generated', 'cache'), { recursive: true })
  // The package's own cache (`npx dgram-rs-code-cache`) comes first.
  const made = run(['--no-warnings', path.join(dir, 'lib', 'code-cache.js')], env)
  assert.strictEqual(made.status, 0, made.stderr)
  assert.strictEqual(where(), 'used package')
})

test('bundle: two copies of the package with other bundles keep their own caches in Node\'s compile cache folder', {
  skip: skip || (require('node:module').getCompileCacheDir === undefined && 'no compile cache in this Node.js (22.8 and later)')
}, (t) => {
  const a = packageCopy(t)
  const b = packageCopy(t)
  // Another release of the package: another bundle identity.
  const bundle = path.join(b, 'generated', 'dgram-rs.js')
  fs.writeFileSync(bundle, fs.readFileSync(bundle, 'utf8').replace(/^(\/\/ dgram-rs bundle )[0-9a-f]+/, '$10000000000000000'))
  const env = { ...process.env, NODE_COMPILE_CACHE: path.join(a, 'node-compile-cache') }
  const both = () => {
    const r = run(['-p', [a, b].map((dir) => `require(${JSON.stringify(dir)})[Symbol.for('dgram-rs.loaded')].cache`).join(" + ' ' + ")], env)
    assert.strictEqual(r.status, 0, r.stderr)
    return r.stdout.trim()
  }
  // Each writes its own at exit, and neither removes the other's.
  assert.strictEqual(both(), 'none none')
  assert.strictEqual(both(), 'used used')
  assert.strictEqual(both(), 'used used')
})
