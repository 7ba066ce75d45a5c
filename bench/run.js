'use strict'

// Side-by-side benchmark of node:dgram and dgram-rs (and a pure-Rust reference), interleaved in one
// run. Every side of a workload is its own process, pinned with taskset like a real client and
// server; see bench/workloads.js for what runs and bench/worker.js for how.
//
//   node bench/run.js [--quick] [--only=<regex on row names>] [--out=<path prefix>]
//   node bench/run.js --scale [...]: the scale-out benchmark, see bench/scale.js
//   node bench/run.js --stalls [...]: loss under event-loop stalls, see bench/stalls.js
//   node bench/run.js --churn [...]: socket churn beside node:dgram, see bench/churn.js
//   node bench/run.js --cold [...]: cold start to the first datagram, see bench/cold-start.js
//   node bench/run.js --reqresp [...]: request/response windows 1-32, see bench/reqresp.js
//   node bench/run.js --fairness [...]: timer gaps under a flood with a slow handler, see bench/fairness.js
//   (--only keeps the baseline rows, node→node and node↔node, so ratios still have a base)
//
// Environment:
//   BENCH_SECONDS            seconds per trial (default 2; --quick: 0.5)
//   BENCH_TRIALS             trials per row, for both kinds (default 3 throughput / 5 RTT; --quick: 1 / 2)
//   BENCH_TRIALS_THROUGHPUT, BENCH_TRIALS_RTT   the same, separately
//   BENCH_BURST              send() calls per setImmediate tick in the JS flood sender (default 64)
//   BENCH_SIZES              datagram sizes of the throughput rows, comma-separated (default 64,1200)
//   BENCH_REFERENCE          path of the udp_reference binary
//                            (default target/release/examples/udp_reference, built if missing)
//
// Before each trial the runner waits (boundedly) for other processes to go quiet, records how much
// CPU they took during the trial, and runs a trial again once if they took more than 20 %.
//
// Prints a markdown table on stdout (progress goes to stderr) and writes <out>.json (every trial)
// and <out>.svg; <out> is bench/results (bench/results-quick with --quick).
// Traffic is on 127.0.0.1 only, ports 0. Every trial is bounded in time, and every child process is
// killed at the end, on error too.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const workloads = require('./workloads')
const report = require('./report')

const ROOT = path.resolve(__dirname, '..')
const WORKER = path.join(__dirname, 'worker.js')

const argv = process.argv.slice(2)
// Other benchmarks, each with its own arguments: `--stalls` loss under event-loop stalls
// (bench/stalls.js), `--scale` one port over many receivers (bench/scale.js), `--churn` socket
// churn (bench/churn.js), `--cold` cold start (bench/cold-start.js), `--reqresp` request/response
// (bench/reqresp.js), `--fairness` timer gaps under a flood (bench/fairness.js), `--paced-server` an
// echo server's CPU under evenly spaced requests (bench/paced-server.js).
const otherFiles = { stalls: 'stalls', scale: 'scale', churn: 'churn', cold: 'cold-start', reqresp: 'reqresp', fairness: 'fairness', 'paced-server': 'paced-server' }
const other = Object.keys(otherFiles).find((name) => argv.includes(`--${name}`))
if (other) {
  require(`./${otherFiles[other]}`).main(argv.filter((a) => a !== `--${other}`)).then(
    () => process.exit(0),
    (err) => { console.error(err.message); process.exit(1) })
} else {
  runBench()
}

// The benchmark proper: everything below, run unless --scale asked for the other one.
function runBench () {
  const flag = (name) => {
    const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`))
    if (a === undefined) return undefined
    return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true
  }
  for (const a of argv) {
    if (!/^--(quick|only|out)(=|$)/.test(a)) {
      console.error(`unknown argument ${a}\nusage: node bench/run.js [--quick] [--only=<regex>] [--out=<path prefix>]`)
      process.exit(2)
    }
  }

  const quick = Boolean(flag('quick'))
  const envNum = (name, dflt) => {
    const v = process.env[name]
    if (v === undefined || v === '') return dflt
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) {
      console.error(`${name} must be a positive number, got ${JSON.stringify(v)}`)
      process.exit(2)
    }
    return n
  }
  const seconds = envNum('BENCH_SECONDS', quick ? 0.5 : 2)
  const trialsThroughput = Math.round(envNum('BENCH_TRIALS_THROUGHPUT', envNum('BENCH_TRIALS', quick ? 1 : 3)))
  const trialsRtt = Math.round(envNum('BENCH_TRIALS_RTT', envNum('BENCH_TRIALS', quick ? 2 : 5)))
  const burst = Math.round(envNum('BENCH_BURST', 64))
  // Datagram sizes of the throughput rows: large datagrams (BENCH_SIZES=32768,65507) are a
  // workload of their own (media, bulk transfers), where gathering a tick's sends costs a copy.
  const sizes = process.env.BENCH_SIZES
    ? process.env.BENCH_SIZES.split(',').map((x) => Math.round(Number(x)))
    : workloads.sizes
  if (sizes.some((n) => !(n >= 1 && n <= 65507))) throw new Error(`BENCH_SIZES: sizes from 1 to 65507 bytes, not ${process.env.BENCH_SIZES}`)
  const warmup = Math.min(0.25, seconds * 0.1)
  // After the sender reports, the receiver gets this long to read what is still queued to it.
  const DRAIN_MS = 200
  const only = flag('only') ? new RegExp(flag('only')) : null
  const outPrefix = path.resolve(typeof flag('out') === 'string' ? flag('out') : path.join(__dirname, quick ? 'results-quick' : 'results'))

  const log = (...a) => console.error(...a)
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

  // ---------------------------------------------------------------------------------------------
  // Children: every one is tracked, and killed when this process exits for any reason.

  const live = new Set()
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL')
      } catch {
      // Gone already.
      }
    }
  })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      log(`\n${sig}: stopping`)
      process.exit(130)
    })
  }

  class Proc {
    constructor (label, cmd, args) {
      this.label = label
      this.messages = []
      this.waiters = new Set()
      this.stderr = ''
      this.closed = null
      this.child = spawn(cmd, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
      live.add(this.child)
      this.done = new Promise((resolve) => {
        this.child.on('close', (code, signal) => {
          live.delete(this.child)
          this.closed = { code, signal }
          this.flush()
          resolve()
        })
      })
      this.child.on('error', (err) => {
        this.spawnError = err
        live.delete(this.child)
        this.closed = this.closed || { code: null, signal: null }
        this.flush()
      })
      this.child.stdin.on('error', () => {}) // EPIPE when the child is already gone.
      let buf = ''
      this.child.stdout.setEncoding('utf8')
      this.child.stdout.on('data', (chunk) => {
        buf += chunk
        let i
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          try {
            this.messages.push(JSON.parse(line))
          } catch {
            continue // Not protocol: ignore.
          }
          this.flush()
        }
      })
      this.child.stderr.setEncoding('utf8')
      this.child.stderr.on('data', (chunk) => {
        this.stderr = (this.stderr + chunk).slice(-4000)
      })
    }

    flush () {
      for (const check of [...this.waiters]) check()
    }

    // Resolves with the next message of this event; rejects on an error message, exit or timeout.
    wait (event, ms) {
      return new Promise((resolve, reject) => {
        let timer = null
        const done = (err, msg) => {
          clearTimeout(timer)
          this.waiters.delete(check)
          if (err) reject(err)
          else resolve(msg)
        }
        const check = () => {
          const bad = this.messages.find((m) => m.event === 'error')
          if (bad) return done(new Error(`${this.label}: ${bad.message}`))
          const i = this.messages.findIndex((m) => m.event === event)
          if (i >= 0) return done(null, this.messages.splice(i, 1)[0])
          if (this.spawnError) return done(new Error(`${this.label}: ${this.spawnError.message}`))
          if (this.closed) {
          // Node's uncaught-exception report ends with its version: the Error line says more.
            const lines = this.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/^Node\.js v/.test(l))
            const tail = lines.find((l) => /^(\w*Error|Uncaught|thread .* panicked|fatal)/i.test(l)) || lines.slice(-1)[0] || ''
            const how = this.closed.signal || `code ${this.closed.code}`
            return done(new Error(`${this.label} exited (${how}) before "${event}"${tail ? `: ${tail}` : ''}`))
          }
          return undefined
        }
        timer = setTimeout(() => done(new Error(`${this.label}: no "${event}" within ${ms} ms`)), ms)
        this.waiters.add(check)
        check()
      })
    }

    stop () {
      if (!this.child.stdin.destroyed) this.child.stdin.write('stop\n')
    }

    // Kills the child (if still running) and waits until it is gone, so the next trial has the CPUs.
    async kill () {
      if (!this.closed) {
        try {
          this.child.kill('SIGKILL')
        } catch {
        // Gone already.
        }
      }
      await Promise.race([this.done, sleep(3000)])
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Other load on the machine. A benchmark sharing two vCPUs with a compiler is measuring the
  // compiler: each trial records how much CPU went to processes other than this one and its
  // children, and how much the hypervisor stole, and a trial waits (a bounded time) for a quiet
  // machine before it starts.

  function cpuSnapshot () {
    try {
      const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
      const self = fs.readFileSync('/proc/self/stat', 'utf8')
      // Fields after the command name: state is field 3; utime, stime, cutime, cstime are 14..17.
      // cutime/cstime hold the CPU of children already reaped, which is all of a finished trial's.
      const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number)
      return {
        task: cpu[0] + cpu[1] + cpu[2], // user + nice + system, all CPUs (not irq/softirq: ours too)
        steal: cpu[7],
        total: cpu.reduce((a, b) => a + b, 0),
        mine: f[11] + f[12] + f[13] + f[14]
      }
    } catch {
      return null
    }
  }

  // Percent of the machine's CPU time, between two snapshots, used by other processes / stolen.
  function background (a, b) {
    if (!a || !b || b.total <= a.total) return { bg_pct: null, steal_pct: null }
    const span = b.total - a.total
    return {
      bg_pct: (Math.max(0, b.task - a.task - (b.mine - a.mine)) / span) * 100,
      steal_pct: ((b.steal - a.steal) / span) * 100
    }
  }

  const QUIET_PCT = 10
  const CONTENDED_PCT = 20
  // Waiting is bounded per trial and in total, so a machine that never gets quiet still finishes the
  // run on time (its numbers then carry the load note).
  const QUIET_WAIT_MS = 5_000
  let quietBudgetMs = quick ? 8_000 : 45_000

  async function waitForQuiet () {
    const started = Date.now()
    const until = started + Math.min(QUIET_WAIT_MS, quietBudgetMs)
    for (;;) {
      const a = cpuSnapshot()
      await sleep(200)
      const { bg_pct: bg } = background(a, cpuSnapshot())
      if (bg === null || bg <= QUIET_PCT || Date.now() >= until) {
        quietBudgetMs = Math.max(0, quietBudgetMs - (Date.now() - started))
        return bg
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // What this machine can run.

  function checkPinning () {
    const cpus = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length
    const r = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' })
    return { cpus, taskset: r.status === 0 }
  }

  function checkDgramRs () {
    const r = spawnSync(process.execPath, ['-e', "require('dgram-rs')"], { cwd: __dirname, encoding: 'utf8', timeout: 30_000 })
    if (r.status === 0) return null
    const lines = `${r.stderr || ''}`.split('\n').map((l) => l.trim()).filter(Boolean)
    const msg = lines.find((l) => /^(Error|TypeError|SyntaxError|ReferenceError)\b/.test(l)) || lines[0] || `exit ${r.status}`
    return `dgram-rs does not load (${msg.slice(0, 160)})`
  }

  function findReference () {
    const bin = process.env.BENCH_REFERENCE || path.join(ROOT, 'target', 'release', 'examples', 'udp_reference')
    const src = path.join(__dirname, 'udp_reference.rs')
    const mtime = (p) => {
      try {
        return fs.statSync(p).mtimeMs
      } catch {
        return null
      }
    }
    const binTime = mtime(bin)
    if (process.env.BENCH_REFERENCE) return binTime === null ? { error: `${bin} not found` } : { bin }
    if (binTime !== null && binTime >= (mtime(src) ?? 0)) return { bin }
    let cargoToml = ''
    try {
      cargoToml = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8')
    } catch {
    // No Cargo.toml: reported below.
    }
    if (!/name\s*=\s*"udp_reference"/.test(cargoToml)) {
      if (binTime !== null) return { bin }
      return { error: 'no [[example]] udp_reference in Cargo.toml' }
    }
    log('building the Rust reference: cargo build --release --example udp_reference')
    const r = spawnSync('cargo', ['build', '--release', '--example', 'udp_reference'], {
      cwd: ROOT,
      stdio: ['ignore', process.stderr, process.stderr],
      timeout: 600_000
    })
    if (r.status === 0 && mtime(bin) !== null) return { bin }
    if (binTime !== null) {
      log('cargo build failed; using the existing (older) reference binary')
      return { bin }
    }
    return { error: 'cargo build --release --example udp_reference failed' }
  }

  // ---------------------------------------------------------------------------------------------
  // Starting one side.

  let pinning = null
  let referenceBin = null

  function start (endpoint, params, cpu, label) {
    let cmd
    let args
    if (endpoint.kind === 'js') {
      cmd = process.execPath
      args = [WORKER, endpoint.role, `--impl=${endpoint.impl}`, ...Object.entries(params).map(([k, v]) => `--${k}=${v}`)]
    } else {
      cmd = referenceBin
      const p = params
      const byMode = {
        'recv-mmsg': [p.size],
        'recv-gro': [p.size],
        'send-mmsg': [p.port, p.size, p.seconds],
        'send-gso': [p.port, p.size, p.seconds],
        echo: [],
        ping: [p.port, p.size, p.seconds, p.warmup]
      }
      if (!byMode[endpoint.mode]) throw new Error(`unknown reference mode ${endpoint.mode}`)
      args = [endpoint.mode, ...byMode[endpoint.mode].map(String)]
    }
    if (pinning.taskset) {
      args = ['-c', String(cpu), cmd, ...args]
      cmd = 'taskset'
    }
    return new Proc(label, cmd, args)
  }

  function expectNumbers (msg, keys, label) {
    const bad = keys.filter((k) => typeof msg[k] !== 'number' || !Number.isFinite(msg[k]))
    if (bad.length) throw new Error(`${label}: result without ${bad.join(', ')}`)
  }

  async function throughputTrial (cfg, secs = seconds) {
    const { row, size, place } = cfg
    const procs = []
    try {
      const rx = start(row.receiver, { size }, place.receiver, `${row.name} receiver`)
      procs.push(rx)
      const { port } = await rx.wait('ready', 20_000)
      const tx = start(row.sender, { port, size, seconds: secs, burst }, place.sender, `${row.name} sender`)
      procs.push(tx)
      const s = await tx.wait('result', secs * 1000 + 20_000)
      await sleep(DRAIN_MS)
      rx.stop()
      const r = await rx.wait('result', 10_000)
      expectNumbers(s, ['sent', 'cpu_us', 'elapsed_s'], tx.label)
      expectNumbers(r, ['received', 'rate', 'cpu_us', 'cpu_datagrams'], rx.label)
      return {
        rate: r.rate,
        sent: s.sent,
        received: r.received,
        loss: s.sent > 0 ? Math.max(0, 1 - r.received / s.sent) : null,
        tx_rate: s.elapsed_s > 0 ? s.sent / s.elapsed_s : null,
        tx_cpu_us_per_dgram: s.sent > 0 ? s.cpu_us / s.sent : null,
        rx_cpu_us_per_dgram: r.cpu_datagrams > 0 ? r.cpu_us / r.cpu_datagrams : null,
        tx_maxrss_kb: s.maxrss_kb,
        rx_maxrss_kb: r.maxrss_kb,
        tx_errors: s.errors
      }
    } finally {
      await Promise.all(procs.map((p) => p.kill()))
    }
  }

  async function rttTrial (cfg) {
    const { row, place } = cfg
    const procs = []
    try {
      const srv = start(row.server, {}, place.receiver, `${row.name} echo`)
      procs.push(srv)
      const { port } = await srv.wait('ready', 20_000)
      const cl = start(row.client, { port, size: workloads.pingSize, seconds, warmup }, place.sender, `${row.name} client`)
      procs.push(cl)
      const c = await cl.wait('result', (seconds + warmup) * 1000 + 20_000)
      srv.stop()
      const s = await srv.wait('result', 10_000)
      expectNumbers(c, ['p50_us', 'p99_us', 'samples', 'cpu_us'], cl.label)
      expectNumbers(s, ['echoed', 'cpu_us'], srv.label)
      return {
        p50_us: c.p50_us,
        p99_us: c.p99_us,
        mean_us: c.mean_us,
        samples: c.samples,
        lost: c.lost,
        client_cpu_us_per_rt: c.samples > 0 ? c.cpu_us / c.samples : null,
        server_cpu_us_per_rt: s.echoed > 0 ? s.cpu_us / s.echoed : null,
        client_maxrss_kb: c.maxrss_kb,
        server_maxrss_kb: s.maxrss_kb
      }
    } finally {
      await Promise.all(procs.map((p) => p.kill()))
    }
  }

  // ---------------------------------------------------------------------------------------------

  function gitCommit () {
    const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' })
    if (r.status !== 0) return 'unknown'
    const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' })
    return `${r.stdout.trim()}${dirty.stdout && dirty.stdout.trim() ? '+dirty' : ''}`
  }

  function readFileTrim (p) {
    try {
      return fs.readFileSync(p, 'utf8').trim()
    } catch {
      return 'unknown'
    }
  }

  async function main () {
    const t0 = Date.now()
    pinning = checkPinning()
    const missing = {}
    if (!pinning.taskset) log('taskset not available: processes are not pinned')
    const rsError = checkDgramRs()
    if (rsError) {
      missing.rs = rsError
      log(`${rsError}: its rows are n/a`)
    }
    const refFound = findReference()
    if (refFound.error) {
      missing.ref = refFound.error
      log(`Rust reference unavailable (${refFound.error}): its rows are n/a`)
    } else {
      referenceBin = refFound.bin
    }

    const placements = workloads.placements.map((place) => {
      const top = Math.max(place.sender, place.receiver)
      const na = pinning.taskset && top >= pinning.cpus ? `needs CPU ${top}; this machine has ${pinning.cpus}` : null
      return { ...place, na }
    })
    const naFor = (row, place) =>
      place.na || row.needs.map((n) => missing[n]).find(Boolean) || null
    const selected = (row) => !only || only.test(row.name)

    const tp = []
    for (const size of sizes) {
      for (const place of placements) {
        for (const [i, row] of workloads.throughput.entries()) {
          const isVersus = workloads.throughput.some((r) => selected(r) && r.versus === row.name)
          if (!selected(row) && i !== 0 && !isVersus) continue
          tp.push({ kind: 'throughput', row, size, place, na: naFor(row, place), trials: [] })
        }
      }
    }
    const rt = []
    for (const place of placements) {
      for (const [i, row] of workloads.rtt.entries()) {
        if (!selected(row) && i !== 0) continue
        rt.push({ kind: 'rtt', row, place, na: naFor(row, place), trials: [] })
      }
    }

    const runnableTp = tp.filter((c) => !c.na)
    const runnableRt = rt.filter((c) => !c.na)
    const total = runnableTp.length * trialsThroughput + runnableRt.length * trialsRtt
    const estimate = Math.min(1, seconds) + total * 0.2 + runnableTp.length * trialsThroughput * (seconds + 0.6) + runnableRt.length * trialsRtt * (seconds + warmup + 0.4)
    log(
    `${total} trials (${runnableTp.length} throughput rows × ${trialsThroughput}, ${runnableRt.length} RTT rows × ${trialsRtt}), ` +
      `${seconds} s each; about ${Math.ceil(estimate)} s`
    )
    // A hard bound on the whole run, whatever hangs: the exit handler kills the children.
    setTimeout(() => {
      log('benchmark exceeded its time budget: giving up')
      process.exit(1)
    }, (estimate * 2.5 + quietBudgetMs / 1000 + 120) * 1000).unref()

    let n = 0
    // A trial during which other processes took more than CONTENDED_PCT of the machine is run again,
    // once, while the retry budget lasts (one trial in eight); the JSON keeps both.
    let retriesLeft = Math.ceil(total / 8)
    const runTrial = async (cfg, fn, describe) => {
      n++
      const tag = cfg.kind === 'throughput' ? `${cfg.size} B ${cfg.place.name}` : cfg.place.name
      let discarded = null
      for (let attempt = 0; ; attempt++) {
        try {
          const before = await waitForQuiet()
          const snap = cpuSnapshot()
          const t = await fn(cfg)
          Object.assign(t, background(snap, cpuSnapshot()), { bg_before_pct: before })
          const bg = t.bg_pct == null ? '' : ` [other load ${t.bg_pct.toFixed(0)} %, steal ${t.steal_pct.toFixed(0)} %]`
          if (attempt === 0 && t.bg_pct > CONTENDED_PCT && retriesLeft > 0) {
            retriesLeft--
            discarded = t
            log(`[${n}/${total}] ${tag} ${cfg.row.name}: ${describe(t)}${bg}: machine busy, running it again`)
            continue
          }
          if (discarded) t.discarded_busy_trial = discarded
          cfg.trials.push(t)
          log(`[${n}/${total}] ${tag} ${cfg.row.name}: ${describe(t)}${bg}`)
        } catch (err) {
          cfg.trials.push({ error: err.message })
          // One failure ends the row: a broken implementation should not cost every remaining timeout.
          cfg.failed = err.message
          log(`[${n}/${total}] ${tag} ${cfg.row.name}: FAILED ${err.message}`)
        }
        return
      }
    }

    // The first trial of a run on these VMs comes out slower (by up to a third) than the rest, whatever
    // runs first: a short discarded trial takes that hit.
    if (runnableTp.length) {
      try {
        await throughputTrial(runnableTp[0], Math.min(1, seconds))
      } catch {
      // Its row will report the failure when it runs for real.
      }
    }

    // Interleaved: every round runs each row once, so drift (thermal, neighbours) hits all alike.
    for (let round = 0; round < trialsThroughput; round++) {
      for (const cfg of runnableTp) {
        if (cfg.failed) {
          n++
          continue
        }
        await runTrial(cfg, throughputTrial, (t) =>
        `${Math.round(t.rate).toLocaleString('en-US')} dgram/s received, loss ${(t.loss * 100).toFixed(1)} %, ` +
        `CPU µs/dgram tx ${t.tx_cpu_us_per_dgram?.toFixed(2)} rx ${t.rx_cpu_us_per_dgram?.toFixed(2)}`
        )
      }
    }
    for (let round = 0; round < trialsRtt; round++) {
      for (const cfg of runnableRt) {
        if (cfg.failed) {
          n++
          continue
        }
        await runTrial(cfg, rttTrial, (t) => `p50 ${t.p50_us.toFixed(1)} µs, p99 ${t.p99_us.toFixed(1)} µs, ${t.samples} round trips`)
      }
    }

    const cpuModel = (os.cpus()[0] && os.cpus()[0].model) || 'unknown CPU'
    const results = {
      meta: {
        date: new Date().toISOString(),
        node: process.version,
        kernel: os.release(),
        cpus: pinning.cpus,
        cpuModel: cpuModel.replace(/\s+/g, ' ').trim(),
        commit: gitCommit(),
        rmemDefault: readFileTrim('/proc/sys/net/core/rmem_default'),
        pinned: pinning.taskset,
        durationS: Math.round((Date.now() - t0) / 1000),
        retriedBusyTrials: Math.ceil(total / 8) - retriesLeft,
        quietWaitBudgetLeftS: Math.round(quietBudgetMs / 1000)
      },
      config: { quick, seconds, warmup, burst, trialsThroughput, trialsRtt, drainMs: DRAIN_MS, pingSize: workloads.pingSize },
      throughput: tp.map((c) => ({ size: c.size, ...resultRow(c, workloads.throughput[0]) })),
      rtt: rt.map((c) => resultRow(c, workloads.rtt[0]))
    }

    fs.writeFileSync(`${outPrefix}.json`, `${JSON.stringify(results, null, 2)}\n`)
    fs.writeFileSync(`${outPrefix}.svg`, report.svg(results))
    process.stdout.write(report.markdown(results))
    const noisy = [...results.throughput, ...results.rtt].filter((c) => c.median && c.median.spread > 0.15)
    if (noisy.length) {
      log(`\nnoisy rows (max−min > 15 % of the median): ${noisy.map((c) => `${c.name} ${c.size ? `${c.size} B ` : ''}${c.placement} (${(c.median.spread * 100).toFixed(0)} %)`).join('; ')}`)
    }
    log(`\nwrote ${path.relative(process.cwd(), `${outPrefix}.json`)} and ${path.relative(process.cwd(), `${outPrefix}.svg`)} in ${results.meta.durationS} s`)
  }

  // One row of results.json: a workload in one placement (and size), with its trials and median.
  function resultRow (c, baselineRow) {
    const median = report.summarize(c.trials)
    return {
      placement: c.place.name,
      name: c.row.name,
      baseline: c.row === baselineRow,
      versus: c.row.versus || null,
      reference: Boolean(c.row.reference),
      color: c.row.color,
      na: c.na || (median ? null : c.failed || null),
      median,
      trials: c.trials
    }
  }

  main().then(
    () => process.exit(0),
    (err) => {
      log(err && err.stack ? err.stack : err)
      process.exit(1)
    }
  )
}
