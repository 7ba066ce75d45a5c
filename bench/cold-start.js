'use strict'

// Cold start, node:dgram beside dgram-rs: what a short-lived program (a CLI that sends one
// statsd metric, a health check, a serverless function) pays before its first datagram.
//
//   npm run bench -- --cold [--trials=21]
//   (node bench/run.js --cold …, or node bench/cold-start.js …)
//
// Each trial is a fresh process (implementations alternate, so drift in the machine hits both
// alike). The child takes its times from the moment its script starts (Node's own start-up,
// the same for both, left out):
//   require         when require() of the module returned
//   first datagram  when its socket, bound to 127.0.0.1:0, received the datagram it sent itself
// The median of the trials is printed with dgram-rs's ratio. Loopback only; each child is
// bounded in time.
//
// BENCH_BASE=<path of another dgram-rs checkout, built> adds its rows (a before/after in one run),
// as installed: from a copy laid out as below, whose first process left the cache.
//
// dgram-rs runs twice, each from its own copy of the package in a temporary folder, laid out as a
// consumer's node_modules holds it, the platform package beside it (the checkout's own
// generated/cache/ is left alone): as installed, where the first process compiled the bundle
// and left V8's code cache of it in the package's folder (one process runs first to leave it), and
// as the first process after an install or a Node.js upgrade pays, compiling the bundle
// (DGRAM_RS_CODE_CACHE=0: no cache made). On a Node.js with a compile cache (22.8 and later) a
// third time: in processes that turn Node's compile cache on (NODE_COMPILE_CACHE, a temporary
// folder that one process filled first). Run `npm run build` first: the copies take the
// checkout's bundle and addon.
//
// The child loads nothing before its start but node:path and node:perf_hooks (both in Node's
// snapshot): child_process, required at the top of this file, would load net, the streams and
// node:dgram itself, which node:dgram's bind() would otherwise load (through cluster) within the
// time measured.

const path = require('node:path')
const { median } = require('./report')

const ROOT = path.resolve(__dirname, '..')
const CHILD_LIMIT_MS = 10000

// ---------------------------------------------------------------------------------------------
// Child: one implementation; prints one JSON line.

function child (impl) {
  const { performance } = require('node:perf_hooks')
  const start = performance.now()
  const dgram = require(impl === 'node' ? 'node:dgram' : process.argv[4])
  const requireMs = performance.now() - start
  const s = dgram.createSocket('udp4')
  s.on('message', () => {
    const firstMs = performance.now() - start
    s.close()
    process.stdout.write(JSON.stringify({ requireMs, firstMs }) + '\n')
  })
  s.bind(0, '127.0.0.1', () => s.send('x', s.address().port, '127.0.0.1'))
}

// ---------------------------------------------------------------------------------------------
// Parent: trials, medians, ratios.

function runChild (impl, dir, env = process.env) {
  const { spawn } = require('node:child_process')
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [__filename, '--child', impl, dir], { stdio: ['ignore', 'pipe', 'inherit'], env })
    let out = ''
    p.stdout.on('data', (d) => { out += d })
    const timer = setTimeout(() => p.kill('SIGKILL'), CHILD_LIMIT_MS)
    p.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`${impl}: exit ${code ?? signal}`))
      resolve(JSON.parse(out.trim().split('\n').pop()))
    })
  })
}

// A copy of the package laid out as a consumer's node_modules holds it, in a temporary folder
// (`temps`, removed at the end): <temp>/node_modules/dgram-rs, and beside it the platform package
// of each addon the checkout `from` built (dgram-rs-<platform>: its package.json and .node file),
// so that the addon is found as an installed one is, not as a clone's local build. Returns the
// copy's path.
function packageCopy (temps, from = ROOT) {
  const fs = require('node:fs')
  const os = require('node:os')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-cold-'))
  temps.push(dir)
  const pkg = path.join(dir, 'node_modules', 'dgram-rs')
  for (const f of ['index.js', 'package.json', 'lib', path.join('generated', 'dgram-rs.js')]) {
    fs.cpSync(path.join(from, f), path.join(pkg, f), { recursive: true })
  }
  for (const f of fs.readdirSync(from)) {
    const platform = /^dgram-rs\.(.+)\.node$/.exec(f)?.[1]
    if (platform === undefined) continue
    const platformPkg = path.join(dir, 'node_modules', `dgram-rs-${platform}`)
    fs.mkdirSync(platformPkg, { recursive: true })
    fs.writeFileSync(path.join(platformPkg, 'package.json'), JSON.stringify({ name: `dgram-rs-${platform}`, main: f }))
    fs.copyFileSync(path.join(from, f), path.join(platformPkg, f))
  }
  return pkg
}

async function main (argv) {
  const fs = require('node:fs')
  const a = argv.find((x) => x.startsWith('--trials='))
  const trials = a ? Number(a.slice('--trials='.length)) : 21
  if (!fs.existsSync(path.join(ROOT, 'generated', 'dgram-rs.js'))) throw new Error('no generated/dgram-rs.js: run `npm run build` first')
  const temps = []
  try {
    const dirs = { rs: packageCopy(temps), firstRun: packageCopy(temps) }
    if (process.env.BENCH_BASE) dirs.base = packageCopy(temps, path.resolve(process.env.BENCH_BASE))
    // Node's compile cache: its own copy of the package, and the folder Node keeps the cache in.
    if (require('node:module').getCompileCacheDir !== undefined) {
      dirs.compileCache = packageCopy(temps)
      dirs.compileCacheDir = path.join(dirs.compileCache, 'node-compile-cache')
    }
    return await measure(trials, dirs)
  } finally {
    for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function measure (trials, dirs) {
  const impls = ['node', 'rs', 'firstRun']
  if (dirs.compileCache) impls.push('compileCache')
  if (process.env.BENCH_BASE) impls.push('base')
  const envs = { firstRun: { ...process.env, DGRAM_RS_CODE_CACHE: '0' } }
  await runChild('rs', dirs.rs) // leaves the code cache in the package's folder
  if (dirs.base) await runChild('rs', dirs.base) // the same for the base
  if (dirs.compileCache) {
    envs.compileCache = { ...process.env, NODE_COMPILE_CACHE: dirs.compileCacheDir }
    await runChild('rs', dirs.compileCache, envs.compileCache) // fills Node's cache
  }
  const got = Object.fromEntries(impls.map((impl) => [impl, []]))
  for (let t = 0; t < trials; t++) {
    for (const impl of t % 2 ? [...impls].reverse() : impls) {
      got[impl].push(await runChild(['firstRun', 'compileCache', 'base'].includes(impl) ? 'rs' : impl, dirs[impl] ?? '', envs[impl]))
    }
  }
  const rows = []
  for (const [key, label] of [['requireMs', 'require (ms)'], ['firstMs', 'first datagram received (ms)']]) {
    const node = median(got.node.map((r) => r[key]))
    const rs = median(got.rs.map((r) => r[key]))
    const firstRun = median(got.firstRun.map((r) => r[key]))
    const row = {
      figure: label,
      node: +node.toFixed(2),
      rs: +rs.toFixed(2),
      ratio: +(rs / node).toFixed(2),
      'rs, first run': +firstRun.toFixed(2),
      'ratio, first run': +(firstRun / node).toFixed(2)
    }
    if (got.compileCache) {
      const compileCache = median(got.compileCache.map((r) => r[key]))
      Object.assign(row, { 'rs, NODE_COMPILE_CACHE': +compileCache.toFixed(2), 'ratio, NODE_COMPILE_CACHE': +(compileCache / node).toFixed(2) })
    }
    if (got.base) {
      const base = median(got.base.map((r) => r[key]))
      Object.assign(row, { 'rs (BENCH_BASE)': +base.toFixed(2), 'ratio (BENCH_BASE)': +(base / node).toFixed(2) })
    }
    rows.push(row)
  }
  console.log(`cold start, median of ${trials} processes per implementation (ratio = dgram-rs / node:dgram)`)
  console.table(rows)
  return rows
}

if (process.argv[2] === '--child') {
  child(process.argv[3])
} else if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
}

module.exports = { main }
