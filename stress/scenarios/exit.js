'use strict'
// 3. Exit behaviour, each case in its own child process:
//   bind+close exits; bound stays alive; unref() exits; unref()+ref() stays alive;
//   unref() before bind exits; connect+unref exits; a connected socket that got ECONNREFUSED
//   stays alive; process.exit() with 10,000 sends in flight exits 0;
//   an exception thrown in a 'message' handler is an ordinary uncaught exception
//   (exit code 1, the stack on stderr), never an abort or a hang.
//   IMPL=... node stress/scenarios/exit.js [impl]
// A child that should stay alive is given STAY_MS after it says it is ready; then this script
// kills it (by its pid) and counts that as "stayed alive".
const { spawn } = require('node:child_process')
const c = require('../lib/common')

const STAY_MS = 1500
const EXIT_WITHIN_MS = 5000

const CASES = {
  'bind+close': { expect: 'exit' },
  bound: { expect: 'stay' },
  'bind+unref': { expect: 'exit' },
  'unref before bind': { expect: 'exit' },
  'unref+ref': { expect: 'stay' },
  'connect+unref': { expect: 'exit' },
  'connected, after an ECONNREFUSED': { expect: 'stay' },
  'process.exit with 10000 sends in flight': { expect: 'exit0' },
  "throw in 'message'": { expect: 'uncaught' },
  'throw in send callback': { expect: 'uncaught' },
  "process.exit(0) in 'message'": { expect: 'exit' },
  "throw in 'message', caught by process.on('uncaughtException')": { expect: 'exit' }
}

if (process.env.STRESS_EXIT_CASE) {
  childCase(process.env.STRESS_EXIT_CASE)
} else {
  parent().catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
}

function childCase (name) {
  const dgram = c.loadDgram()
  const ready = () => process.stdout.write('@@READY\n')
  const s = dgram.createSocket('udp4')
  switch (name) {
    case 'bind+close':
      s.bind(0, '127.0.0.1', () => s.close(ready))
      break
    case 'bound':
      s.bind(0, '127.0.0.1', ready)
      break
    case 'bind+unref':
      s.bind(0, '127.0.0.1', () => {
        s.unref()
        ready()
      })
      break
    case 'unref before bind':
      s.unref()
      s.bind(0, '127.0.0.1', ready)
      break
    case 'unref+ref':
      s.bind(0, '127.0.0.1', () => {
        s.unref()
        s.ref()
        ready()
      })
      break
    case 'connect+unref': {
      const peer = dgram.createSocket('udp4')
      peer.bind(0, '127.0.0.1', () => {
        s.connect(peer.address().port, '127.0.0.1', () => {
          peer.close()
          s.unref()
          ready()
        })
      })
      break
    }
    case 'connected, after an ECONNREFUSED': {
      // The socket is still open, ref'd and reading after the ICMP error: it keeps the process.
      const dead = dgram.createSocket('udp4')
      dead.bind(0, '127.0.0.1', () => {
        const port = dead.address().port
        dead.close(() => {
          s.once('error', () => setImmediate(ready))
          s.connect(port, '127.0.0.1', () => s.send('x'))
        })
      })
      break
    }
    case 'process.exit with 10000 sends in flight': {
      const peer = dgram.createSocket('udp4')
      peer.on('message', () => {})
      peer.bind(0, '127.0.0.1', () => {
        s.bind(0, '127.0.0.1', () => {
          const buf = Buffer.alloc(1000, 1)
          for (let i = 0; i < 10000; i++) s.send(buf, peer.address().port, '127.0.0.1', () => {})
          ready()
          process.exit(0)
        })
      })
      break
    }
    case "throw in 'message'":
      s.on('message', () => {
        throw new Error('boom from a message handler')
      })
      s.bind(0, '127.0.0.1', () => {
        ready()
        s.send('x', s.address().port, '127.0.0.1')
      })
      break
    case "process.exit(0) in 'message'": {
      // Inside the native receive callback, with more datagrams waiting in the same batch.
      const peer = dgram.createSocket('udp4')
      s.on('message', () => process.exit(0))
      s.bind(0, '127.0.0.1', () => {
        ready()
        peer.bind(0, '127.0.0.1', () => {
          for (let i = 0; i < 100; i++) peer.send('x', s.address().port, '127.0.0.1')
        })
      })
      break
    }
    case 'throw in send callback':
      s.bind(0, '127.0.0.1', () => {
        ready()
        s.send('x', s.address().port, '127.0.0.1', () => {
          throw new Error('boom from a send callback')
        })
      })
      break
    case "throw in 'message', caught by process.on('uncaughtException')": {
      // The handler sees the error; the socket goes on receiving; then it closes and we exit.
      let caught = 0
      let got = 0
      process.on('uncaughtException', (e) => {
        if (/boom/.test(e.message)) caught++
        if (caught === 2) s.close(ready)
      })
      s.on('message', () => {
        got++
        throw new Error(`boom ${got}`)
      })
      s.bind(0, '127.0.0.1', () => {
        s.send('x', s.address().port, '127.0.0.1')
        s.send('y', s.address().port, '127.0.0.1')
      })
      break
    }
    default:
      throw new Error(`unknown case ${name}`)
  }
}

function runChild (name) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [__filename, c.implName()], {
      env: { ...process.env, IMPL: c.implName(), STRESS_EXIT_CASE: name },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    let readyAt = null
    let killedByUs = false
    let stayTimer = null
    child.stdout.on('data', (d) => {
      out += d
      if (readyAt === null && out.includes('@@READY')) {
        readyAt = performance.now()
        stayTimer = setTimeout(() => {
          killedByUs = true
          child.kill('SIGKILL')
        }, STAY_MS)
      }
    })
    child.stderr.on('data', (d) => (err += d))
    const hardTimer = setTimeout(() => {
      killedByUs = true
      child.kill('SIGKILL')
    }, EXIT_WITHIN_MS + STAY_MS)
    child.on('close', (code, signal) => {
      clearTimeout(stayTimer)
      clearTimeout(hardTimer)
      const end = performance.now()
      resolve({
        code,
        signal,
        killedByUs,
        ready: readyAt !== null,
        msAfterReady: readyAt === null ? null : end - readyAt,
        ms: end - t0,
        stderr: err
      })
    })
  })
}

function judge (name, r) {
  const { expect } = CASES[name]
  const what = r.killedByUs ? `alive after ${STAY_MS} ms (killed)` : r.signal ? `signal ${r.signal}` : `exit ${r.code}`
  const firstErrLine = r.stderr.trim().split('\n').find((l) => /Error|abort|FATAL/i.test(l)) || ''
  switch (expect) {
    case 'exit':
      return { obs: r.killedByUs ? 'stays alive' : `exits (${r.signal || r.code})`, pass: r.ready && !r.killedByUs && r.code === 0, detail: `${what}, ${c.round(r.ms, 0)} ms` }
    case 'stay':
      return { obs: r.killedByUs ? 'stays alive' : `exits (${r.signal || r.code})`, pass: r.ready && r.killedByUs, detail: what }
    case 'exit0':
      return { obs: r.killedByUs ? 'hangs' : `exits (${r.signal || r.code})`, pass: r.ready && !r.killedByUs && r.code === 0 && r.signal === null && !/abort|FATAL|Segmentation/i.test(r.stderr), detail: `${what}${firstErrLine ? `; ${firstErrLine}` : ''}` }
    case 'uncaught': {
      const hasStack = /boom from/.test(r.stderr) && /\n\s+at /.test(r.stderr)
      return {
        obs: r.killedByUs ? 'hangs' : `exits (${r.signal || r.code}), ${hasStack ? 'stack on stderr' : 'no stack'}`,
        pass: r.ready && !r.killedByUs && r.code === 1 && r.signal === null && hasStack && !/abort|FATAL|Segmentation/i.test(r.stderr),
        detail: `${what}; stderr: ${firstErrLine.trim().slice(0, 120)}`
      }
    }
  }
}

async function parent () {
  const checks = {}
  const parity = {}
  const figures = {}
  // Two at a time: quick, but the children do not fight for the 2 vCPUs too much.
  const names = Object.keys(CASES)
  const results = {}
  for (let i = 0; i < names.length; i += 2) {
    const batch = names.slice(i, i + 2)
    const rs = await Promise.all(batch.map(runChild))
    batch.forEach((n, j) => (results[n] = rs[j]))
  }
  for (const name of names) {
    const j = judge(name, results[name])
    checks[`${name}: ${CASES[name].expect === 'stay' ? 'stays alive' : CASES[name].expect === 'uncaught' ? 'uncaught exception, exit 1' : 'exits 0'}`] = c.check(j.pass, j.detail)
    parity[name] = j.obs
    if (CASES[name].expect === 'exit' || CASES[name].expect === 'exit0') figures[`${name} ms`] = c.round(results[name].ms, 0)
  }
  c.report({ figures, checks, parity })
  c.exitGuard(5000)
}
