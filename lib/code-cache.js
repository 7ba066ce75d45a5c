#!/usr/bin/env node
'use strict'

// `npx dgram-rs-code-cache` (or `node --no-warnings lib/code-cache.js` in a checkout): makes V8's
// code cache of the bundle (generated/dgram-rs.js, scripts/bundle.js) for the Node.js that runs
// it, in the package's own generated/cache/, so that a fresh process's index.js deserializes the
// code that a first datagram runs instead of compiling it: about 4 ms less to a fresh process's
// first datagram on the project's machine (docs/benchmarks.md, Cold start).
//
// Without it, the first process that finds no cache writes one there itself (index.js), where its
// user owns the package's folder and can write to it. The command is for a folder that is
// read-only when the program runs: a Dockerfile's or a deployment's step after `npm ci`, once per
// Node.js version. dgram-rs has no install script. `npm run build` and `prepare` (a clone's
// `npm install`, a git dependency) run it. Where it cannot make the cache it says why on stderr and
// exits 0: index.js then compiles the bundle, as without one.
//
// The cache is made after a first datagram, in this process: bound to 127.0.0.1, it sends itself
// one datagram, receives it and closes, so that the functions that path calls are compiled and in
// the cache (a cache made right after `require` holds only the modules' top level: about 1 ms
// less gained). V8 checks a cache against its own version, the flags that change code (a process
// started with --expose-gc, or on Node 20 and 22 with --max-old-space-size, compiles instead) and
// the source's length; a rejected cache costs its read. The file's name holds the bundle's
// identity, the architecture and the Node.js release: V8 also took a cache that another Node.js
// release of the same V8 made, and ran it wrongly (index.js says more), so after a Node.js upgrade
// the first process compiles the bundle again (and leaves the new release's cache where it may).
// Loopback only; bounded in time.

const fs = require('fs')
const path = require('path')
const { writeCodeCache } = require('./cache-file.js')

const TIME_LIMIT_MS = 10000
const root = path.join(__dirname, '..')

function main () {
  if (!fs.existsSync(path.join(root, 'generated', 'dgram-rs.js'))) return skip('no bundle: run `npm run build`')
  // This command writes the cache itself, after its datagram: the package's own write is not needed.
  process.env.DGRAM_RS_CODE_CACHE = '0'
  const dgram = require(root)
  const loaded = dgram[Symbol.for('dgram-rs.loaded')]
  if (!dgram.native) return skip('no native addon')
  if (!loaded) return skip('the bundle was not loaded')
  const timer = setTimeout(() => {
    skip(`no datagram within ${TIME_LIMIT_MS} ms`)
    process.exit(0)
  }, TIME_LIMIT_MS)
  const socket = dgram.createSocket('udp4')
  socket.on('error', (e) => {
    clearTimeout(timer)
    socket.close()
    skip(e.message)
  })
  socket.on('message', () => {
    clearTimeout(timer)
    socket.close(() => {
      try {
        writeCodeCache(loaded.script, loaded.ownCacheFile, { removeOthers: true })
      } catch (e) {
        skip(e.message)
      }
    })
  })
  socket.bind(0, '127.0.0.1', () => socket.send('x', socket.address().port, '127.0.0.1'))
}

function skip (why) {
  process.stderr.write(`dgram-rs: no code cache made (${why}); a fresh process compiles the bundle instead\n`)
}

try {
  main()
} catch (e) {
  skip(e.message)
}
