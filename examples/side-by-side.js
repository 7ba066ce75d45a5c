'use strict'
// Runs the recipe (server.js and client.js from this directory) on node:dgram and on dgram-rs,
// one after the other, and compares what the clients print. Then the two mixed pairings, to show
// that the implementations interoperate. Exit code 0 when every transcript matches node:dgram's.
//
//   npm start
//
// The recipe's ports are fixed (server 1339, client 1400), so the runs cannot overlap.

const { spawn } = require('node:child_process')
const dgram = require('node:dgram')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const SERVER_PORT = 1339
const CLIENT_PORT = 1400
// Longer with DGRAM_RECIPE_COLLECT_MS (an emulated node, under qemu-user, takes seconds to start).
const COLLECT_MS = Number(process.env.DGRAM_RECIPE_COLLECT_MS) || 1500
const BIND_WAIT_MS = Math.max(5000, COLLECT_MS)

// The node:dgram programs are generated from the examples' own text, so the two never drift.
function nodeDgramCopies () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgram-rs-recipe-'))
  const files = {}
  for (const name of ['server.js', 'client.js']) {
    const text = fs.readFileSync(path.join(__dirname, name), 'utf8')
    const copy = text.replace("require('dgram-rs')", "require('dgram')")
    if (copy === text) throw new Error(`${name}: no require('dgram-rs') line to replace`)
    files[name] = path.join(dir, name)
    fs.writeFileSync(files[name], copy)
  }
  return { dir, server: files['server.js'], client: files['client.js'] }
}

const PROGRAMS = {
  'dgram-rs': { server: path.join(__dirname, 'server.js'), client: path.join(__dirname, 'client.js') }
}

// Is a UDP port bound on this host? On Linux, read /proc/net/udp (no side effect). Elsewhere, try to
// bind it ourselves with node:dgram: EADDRINUSE means it is taken. (Binding it ourselves, even for
// a moment, could make the server's own bind fail if they race; /proc avoids that where it exists.)
function portBound (port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `
  try {
    const table = fs.readFileSync('/proc/net/udp', 'utf8') + fs.readFileSync('/proc/net/udp6', 'utf8')
    return Promise.resolve(table.split('\n').some((line) => {
      const local = line.trim().split(/\s+/)[1] || ''
      return (local + ' ').endsWith(hex)
    }))
  } catch {}
  return new Promise((resolve) => {
    const probe = dgram.createSocket('udp4')
    probe.once('error', (err) => { probe.close(); resolve(err.code === 'EADDRINUSE') })
    probe.bind(port, () => probe.close(() => resolve(false)))
  })
}

async function waitForPort (port, bound, child) {
  const start = Date.now()
  for (let i = 0; i < 500 && Date.now() - start < BIND_WAIT_MS; i++) {
    if (await portBound(port) === bound) return true
    if (child && child.exitCode !== null) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return false
}

function start (file, args, cwd) {
  // DGRAM_TEST_NODE_PREFIX: a command that starts this node (qemu-user for another architecture).
  const prefix = (process.env.DGRAM_TEST_NODE_PREFIX || '').split(' ').filter(Boolean)
  const command = [...prefix, process.execPath, file, ...args]
  const child = spawn(command[0], command.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  child.out = ''
  child.err = ''
  child.stdout.setEncoding('utf8').on('data', (d) => { child.out += d })
  child.stderr.setEncoding('utf8').on('data', (d) => { child.err += d })
  child.exited = new Promise((resolve) => child.on('close', resolve))
  return child
}

async function stop (child) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 2000))])
}

// One run: a server, then (once 1339 is bound) a client named `name`. Resolves with what the
// client printed in COLLECT_MS, and any stderr (with a note when the server never bound).
async function runPair (serverFile, clientFile, name = 'Dave') {
  const cwd = path.resolve(__dirname, '..') // where require('dgram-rs') resolves (self-reference)
  for (const port of [SERVER_PORT, CLIENT_PORT]) {
    if (!await waitForPort(port, false)) return { stdout: '', stderr: `port ${port} is in use by another process` }
  }
  const server = start(serverFile, [], cwd)
  let client
  try {
    if (!await waitForPort(SERVER_PORT, true, server)) {
      return { stdout: '', stderr: `server did not bind ${SERVER_PORT}\n${server.err}` }
    }
    client = start(clientFile, [name], cwd)
    await new Promise((resolve) => setTimeout(resolve, COLLECT_MS))
    return { stdout: client.out, stderr: server.err + client.err }
  } finally {
    if (client) await stop(client)
    await stop(server)
  }
}

async function main () {
  const copies = nodeDgramCopies()
  PROGRAMS['node:dgram'] = copies
  try {
    const runs = [
      ['node:dgram', 'node:dgram'],
      ['dgram-rs', 'dgram-rs'],
      ['node:dgram', 'dgram-rs'],
      ['dgram-rs', 'node:dgram']
    ]
    const results = []
    for (const [serverImpl, clientImpl] of runs) {
      const r = await runPair(PROGRAMS[serverImpl].server, PROGRAMS[clientImpl].client, 'Dave')
      results.push({ serverImpl, clientImpl, ...r })
      console.log(`--- server ${serverImpl}, client ${clientImpl}: client printed`)
      process.stdout.write(r.stdout || '(nothing)\n')
      if (r.stderr) process.stdout.write(`stderr:\n${r.stderr}`)
    }
    const oracle = results[0].stdout
    let ok = oracle !== ''
    console.log('---')
    for (const r of results.slice(1)) {
      const same = r.stdout === oracle && r.stderr === ''
      ok = ok && same
      console.log(`server ${r.serverImpl} / client ${r.clientImpl}: ${same ? 'matches' : 'DIFFERS from'} node:dgram`)
    }
    console.log(ok ? 'dgram-rs matches node:dgram' : 'MISMATCH')
    process.exitCode = ok ? 0 : 1
  } finally {
    fs.rmSync(copies.dir, { recursive: true, force: true })
  }
}

module.exports = { runPair, nodeDgramCopies, portBound, PROGRAMS, SERVER_PORT, CLIENT_PORT }

if (require.main === module) {
  main().catch((err) => { console.error(err); process.exitCode = 2 })
}
