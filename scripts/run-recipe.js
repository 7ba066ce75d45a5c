'use strict'

// Runs the recipe (server.js, then `client.js Dave`) in the current directory, as a consumer who
// installed dgram-rs would, and prints one line of JSON: the client's stdout, whether
// require('dgram-rs') loads the addon there, and both programs' stderr. Used by
// scripts/release-check.sh. Bounded: the server gets 5 s to bind port 1339 (seen in
// /proc/net/udp), the client 5 s to print its line; both programs are then stopped.

const { execFileSync, spawn } = require('child_process')
const fs = require('fs')

const dir = process.cwd()
const deadline = (ms) => Date.now() + ms

// Whether some socket is bound to UDP port 1339 (the recipe's server port), IPv4 or IPv6.
function serverBound () {
  return ['/proc/net/udp', '/proc/net/udp6'].some((file) => {
    try {
      return fs.readFileSync(file, 'utf8').split('\n').some((line) => / *\d+: [0-9A-F]+:053B /.test(line))
    } catch {
      return false
    }
  })
}

const server = spawn(process.execPath, ['server.js'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
let serverStderr = ''
server.stderr.on('data', (d) => { serverStderr += d })

const bindBy = deadline(5000)
const waitForServer = setInterval(() => {
  if (!serverBound() && Date.now() < bindBy) return
  clearInterval(waitForServer)
  runClient()
}, 20)

function runClient () {
  const client = spawn(process.execPath, ['client.js', 'Dave'], { cwd: dir })
  let stdout = ''
  let clientStderr = ''
  let finished = false
  const timer = setTimeout(done, 5000)
  client.stdout.on('data', (d) => { stdout += d; if (stdout.includes('\n')) done() })
  client.stderr.on('data', (d) => { clientStderr += d })
  function done () {
    if (finished) return
    finished = true
    clearTimeout(timer)
    client.kill()
    server.kill()
    // Asked in a process of the consumer's project (this script's own require would resolve
    // dgram-rs to the package it belongs to).
    const native = execFileSync(process.execPath, ['-p', "require('dgram-rs').native"],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 }).trim()
    const report = () => console.log(JSON.stringify({ stdout, native, clientStderr, serverStderr }))
    if (server.exitCode !== null || server.signalCode !== null) report()
    else server.on('exit', report)
  }
}
