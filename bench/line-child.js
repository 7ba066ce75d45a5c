'use strict'

// A benchmark's child process: this same script run again in a role, reporting one JSON object
// per line on its stdout, bounded in time. Shared by the benchmarks whose parent waits for a
// child's lines in turn (bench/reqresp.js, bench/fairness.js, bench/paced-server.js).

const { spawn } = require('node:child_process')

/** Runs `file` with `args` (pinned to CPU `cpu` through taskset where given), killed after
 * `limitMs`. `next()` resolves with its next line, parsed, and rejects once it has exited with
 * none left; `stop()` kills it. */
function lineChild (file, args, { cpu, limitMs }) {
  const command = cpu === undefined
    ? [process.execPath, [file, ...args]]
    : ['taskset', ['-c', String(cpu), process.execPath, file, ...args]]
  const p = spawn(...command, { stdio: ['pipe', 'pipe', 'inherit'] })
  const timer = setTimeout(() => p.kill('SIGKILL'), limitMs)
  const lines = []
  const waiting = []
  let exited = false
  let out = ''
  p.stdout.setEncoding('utf8').on('data', (d) => {
    out += d
    let i
    while ((i = out.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(out.slice(0, i)))
      out = out.slice(i + 1)
      while (waiting.length && lines.length) waiting.shift().resolve(lines.shift())
    }
  })
  const ended = () => new Error(`${args[0]} ended without a result`)
  p.on('exit', () => {
    exited = true
    clearTimeout(timer)
    for (const w of waiting.splice(0)) w.reject(ended())
  })
  return {
    p,
    next: () => new Promise((resolve, reject) => {
      if (lines.length) resolve(lines.shift())
      else if (exited) reject(ended())
      else waiting.push({ resolve, reject })
    }),
    stop () { clearTimeout(timer); p.kill('SIGKILL') }
  }
}

module.exports = { lineChild }
