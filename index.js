'use strict'

// dgram-rs: a drop-in replacement for node:dgram. With the native addon, the
// public surface is exactly node:dgram's (see lib/socket.js for the Socket
// class). Where no addon loads (lib/native.js says why), node:dgram's own
// module with dgram-rs's additions in JavaScript (lib/fallback.js), one
// warning, and `native: false`.

const fs = require('fs')
const path = require('path')
const { deprecate } = require('util')
const vm = require('vm')
// Node's CommonJS Module class, as this file's own module is one: require('module') would load
// Node's ES module loader too (0.3 ms of a fresh process).
const Module = module.constructor

// The modules a first datagram loads come from one generated file (scripts/bundle.js says why),
// compiled with V8's code cache where there is one for this Node: in the package, where the
// application ran lib/code-cache.js, or in Node's compile cache folder, where the application
// turned Node's compile cache on (NODE_COMPILE_CACHE, module.enableCompileCache()) and a process
// wrote it at exit. Each module runs as what Node's loader would make of lib/<name>.js: registered
// in require.cache under that path, so that every module loaded the usual way (the lazy ones,
// lib/unix-dgram.js, a test) gets the same instance. Without the file (a checkout not built), or in
// a vm context (Jest's sandbox, whose globals its own loader gives), each module loads from lib/ as
// usual.
const BUNDLE = path.join(__dirname, 'generated', 'dgram-rs.js')
const LIB = path.join(__dirname, 'lib')
// Node's own functions are of the main realm: where this code runs in another (a vm context), the
// bundle, which runs in the main one, would give it other globals than its own. Not opened where
// the fallback is asked for.
const bundle = process.env.DGRAM_RS_FALLBACK !== '1' &&
  Object.getPrototypeOf(fs.readFileSync) === Function.prototype
  ? openBundle()
  : null

/** The bundle's module functions by name, its vm.Script, and its code cache's files and state. */
function openBundle () {
  let code
  try {
    code = fs.readFileSync(BUNDLE, 'utf8')
  } catch {
    return null
  }
  const id = /^\/\/ dgram-rs bundle ([0-9a-f]+):/.exec(code)?.[1] ?? 'unknown'
  // One cache per Node.js release, as Node's own compile cache keeps: V8 took a cache that another
  // Node.js release of the same V8 made (20.20.2's, in 20.12.0 and 20.19.0) and then ran it
  // wrongly (the modules' require('path') was not path): V8 does not check what else differs
  // between two releases (most likely their startup snapshots).
  const name = `${id}-${process.arch}-node-${process.versions.node}.bin`
  const ownCacheFile = path.join(__dirname, 'generated', 'cache', name)
  let cacheFile = ownCacheFile
  let cachedData = readIfAny(cacheFile)
  const nodeDir = cachedData === undefined ? nodeCompileCacheDir() : undefined
  if (nodeDir !== undefined) {
    cacheFile = path.join(nodeDir, 'dgram-rs', name)
    cachedData = readIfAny(cacheFile)
  }
  const script = new vm.Script(code, { filename: BUNDLE, cachedData })
  const cache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used'
  // Written at exit, as Node writes its own (a process ended by a signal writes none): by then
  // the functions the program ran are compiled, and a later process deserializes them all (a
  // cache made right after compiling holds the modules' top level only: Node's own gained about
  // 1 ms of the 4). Nothing a failed write could tell the program; the next process tries again.
  if (nodeDir !== undefined && cache !== 'used') {
    process.once('exit', () => {
      try {
        require('./lib/cache-file.js').writeCodeCache(script, cacheFile)
      } catch {}
    })
  }
  return { modules: script.runInThisContext(), script, cacheFile, ownCacheFile, cache }
}

function readIfAny (file) {
  try {
    return fs.readFileSync(file)
  } catch {
    return undefined
  }
}

/** Node's compile cache folder, where the application turned it on (Node.js 22.8 and later tell):
 * by the environment, or through node:module, whose functions are then on the Module class. */
function nodeCompileCacheDir () {
  if (process.env.NODE_COMPILE_CACHE === undefined && Module.getCompileCacheDir === undefined) return undefined
  return require('module').getCompileCacheDir?.()
}

/** lib/<name>, from the bundle where it holds it. */
function load (name) {
  const file = path.join(LIB, name)
  const define = bundle?.modules[name]
  if (define === undefined) return require(file)
  const loaded = require.cache[file]
  if (loaded !== undefined) return loaded.exports
  const m = new Module(file, module)
  m.filename = file
  // Node's own require for this file, made only where the module resolves a path (a module of
  // lib/ outside the bundle, a package): Node's built-in modules are the same from here.
  let requireNative
  const native = () => (requireNative ??= Module.createRequire(file))
  const requireHere = (id) => {
    if (id.startsWith('./') && bundle.modules[id.slice(2)] !== undefined) return load(id.slice(2))
    return id.startsWith('.') || id.startsWith('/') ? native()(id) : require(id)
  }
  requireHere.resolve = (id, options) => native().resolve(id, options)
  requireHere.cache = require.cache
  require.cache[file] = m
  try {
    define.call(m.exports, m.exports, requireHere, m, file, LIB)
  } catch (e) {
    delete require.cache[file]
    throw e
  }
  m.loaded = true
  return m.exports
}

let reason = null
if (process.env.DGRAM_RS_FALLBACK === '1') {
  reason = 'DGRAM_RS_FALLBACK=1'
} else {
  try {
    load('native.js')
  } catch (e) {
    // Only "there is none": an addon that fails to load throws its reason.
    if (e.code !== 'DGRAM_RS_NO_NATIVE') throw e
    reason = e.message
  }
}

if (reason === null) {
  const { createSocket, Socket } = load('socket.js')
  module.exports = {}
  // Removed in Node 25, as the other DEP0112 APIs (lib/node-version.js).
  if (load('node-version.js').deprecatedPrivates) {
    module.exports._createSocketHandle = deprecate(
      load('handle.js')._createSocketHandle,
      'dgram._createSocketHandle() is deprecated',
      'DEP0112'
    )
  }
  Object.assign(module.exports, { createSocket, Socket, native: true })
  // How this copy loaded, for its tests and lib/code-cache.js (not enumerable: the exports' keys
  // are node:dgram's).
  Object.defineProperty(module.exports, Symbol.for('dgram-rs.loaded'), { value: bundle })
} else {
  module.exports = { ...require('./lib/fallback.js'), native: false }
  // Asked for with the variable: no warning. Otherwise one per thread, even
  // if two copies of the package are loaded.
  const warned = Symbol.for('dgram-rs.fallbackWarned')
  if (reason !== 'DGRAM_RS_FALLBACK=1' && !process[warned]) {
    process[warned] = true
    process.emitWarning(`no native addon for ${process.platform}-${process.arch}: ${reason}. ` +
      'Using node:dgram, with sendBatch and receiveBatches done in JavaScript (slower, same results).',
    { type: 'DgramRsWarning', code: 'DGRAM_RS_FALLBACK' })
  }
}
