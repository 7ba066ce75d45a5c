'use strict'
// 2c. Running out of descriptors. This script re-runs itself as a child under
// `prlimit --nofile=256:256`; the child binds sockets until one fails, and reports how the
// failure surfaced (an 'error' event, a bind callback, a throw) and its code. Then it closes
// everything and checks that a new socket binds again. Must be EMFILE, never a crash.
//   IMPL=... node stress/scenarios/emfile.js [impl]
const { spawnSync } = require('node:child_process')
const c = require('../lib/common')

const LIMIT = 256
const MAX_ATTEMPTS = 400

if (process.env.STRESS_EMFILE_CHILD === '1') {
  child().catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
} else {
  parent()
}

function parent () {
  const r = spawnSync('prlimit', [`--nofile=${LIMIT}:${LIMIT}`, process.execPath, __filename, c.implName()], {
    env: { ...process.env, IMPL: c.implName(), STRESS_EMFILE_CHILD: '1' },
    encoding: 'utf8',
    timeout: 30000,
    killSignal: 'SIGKILL'
  })
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('@@CHILD '))
  let res = null
  try {
    res = JSON.parse(line.slice('@@CHILD '.length))
  } catch {}
  const crashed = r.signal !== null || r.status !== 0
  const stderrTail = (r.stderr || '').trim().split('\n').slice(-3).join(' | ')
  c.report({
    figures: {
      socketsBeforeFailure: res ? res.opened : NaN,
      childExit: r.signal ? r.signal : r.status
    },
    checks: {
      'no crash (child exits 0)': c.check(!crashed, r.signal ? `signal ${r.signal}` : `exit ${r.status}${stderrTail ? `: ${stderrTail}` : ''}`),
      'failure is EMFILE': c.check(res && res.code === 'EMFILE', res ? `${res.how}: ${res.code} ${res.message}` : 'no result'),
      'binds again after closing': c.check(res && res.recovered, res ? String(res.recovered) : 'no result')
    },
    observations: {
      'how EMFILE surfaces': res ? `${res.how} code=${res.code} syscall=${res.syscall}` : `no result (${r.signal || r.status})`
    }
  })
  c.exitGuard(5000)
}

async function child () {
  const dgram = c.loadDgram()
  const socks = []
  let failure = null
  for (let i = 0; i < MAX_ATTEMPTS && !failure; i++) {
    failure = await new Promise((resolve) => {
      let s
      try {
        s = dgram.createSocket('udp4')
      } catch (e) {
        return resolve({ how: 'createSocket() threw', e })
      }
      s.once('error', (e) => {
        try {
          s.close()
        } catch {}
        resolve({ how: "'error' event", e })
      })
      try {
        s.bind(0, '127.0.0.1', () => {
          socks.push(s)
          resolve(null)
        })
      } catch (e) {
        resolve({ how: 'bind() threw', e })
      }
    })
  }
  const opened = socks.length
  await Promise.all(socks.map((s) => new Promise((resolve) => s.close(resolve))))
  let recovered = false
  try {
    const s = dgram.createSocket('udp4')
    recovered = await c.withTimeout(
      new Promise((resolve) => {
        s.on('error', () => resolve(false))
        s.bind(0, '127.0.0.1', () => s.close(() => resolve(true)))
      }),
      3000,
      'bind after closing'
    )
  } catch {}
  const e = failure && failure.e
  process.stdout.write(
    `@@CHILD ${JSON.stringify({
      opened,
      how: failure ? failure.how : `no failure in ${MAX_ATTEMPTS} attempts`,
      code: e && e.code,
      syscall: e && e.syscall,
      message: e && e.message,
      recovered
    })}\n`
  )
}
