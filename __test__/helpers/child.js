'use strict'
// Runs a small script with `node -e` in a child process, for a given implementation's module name
// (available to the script as `dgram`), bounded in time.
const { spawn } = require('node:child_process')
const { REPO_ROOT } = require('./impls')
const { nodeCommand } = require('./node-command')

// Resolves with { code, signal, stillRunning, stdout, stderr }. With `killAfter`, the child is
// killed after that many ms if it is still running (stillRunning: true); with `killAfterOutput`,
// the same, counted from its first output on stdout instead of from the spawn (a window that does
// not depend on how long the child takes to start: seconds under qemu-user). Otherwise it is killed
// at `timeout` and the result says timedOut: true.
function runChild (moduleName, body, { killAfter, killAfterOutput, timeout = 8000, args = [], execArgv = [] } = {}) {
  const script = `const dgram = require(${JSON.stringify(moduleName)});\n${body}`
  return new Promise((resolve, reject) => {
    const child = spawn(...nodeCommand([...execArgv, '-e', script, ...args]), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let stillRunning = false
    let timedOut = false
    const timers = []
    const killLater = (ms) => timers.push(setTimeout(() => { stillRunning = true; child.kill('SIGKILL') }, ms))
    child.stdout.setEncoding('utf8').on('data', (d) => {
      if (killAfterOutput && stdout === '') killLater(killAfterOutput)
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    if (killAfter) killLater(killAfter)
    timers.push(setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeout))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      for (const t of timers) clearTimeout(t)
      resolve({ code, signal, stillRunning, timedOut, stdout, stderr })
    })
  })
}

module.exports = { runChild }
