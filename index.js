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
  const writeTo = cacheToWrite(cache, cacheFile, cacheFile === ownCacheFile)
  if (writeTo !== undefined) writeLater(script, writeTo)
  return { modules: script.runInThisContext(), script, cacheFile, ownCacheFile, cache }
}

/** Where this process writes the bundle's code cache for the next ones, if anywhere: `file`
 * where it found none there (or one V8 refused, below), the application did not say
 * DGRAM_RS_CODE_CACHE=0, and the folder is one it may write. */
function cacheToWrite (cache, file, inPackage) {
  if (cache === 'used' || process.env.DGRAM_RS_CODE_CACHE === '0') return undefined
  // V8 refuses a cache made under other flags that change code (--expose-gc; on Node 20 and 22
  // --max-old-space-size). A process started without flags replaces it; one with flags leaves it,
  // so that two ways of starting do not replace each other's at every run.
  if (cache === 'rejected' && startedWithFlags()) return undefined
  // Node's compile cache folder is the application's choice; the package's own folder is written
  // only by its owner: a server started by root (a DNS server on port 53) would otherwise leave
  // root's files in a user's node_modules, which npm, run by that user, could not then remove.
  if (!inPackage) return file
  try {
    return fs.statSync(path.join(__dirname, 'generated')).uid === process.getuid?.() ? file : undefined
  } catch {
    return undefined
  }
}

/** Whether Node.js was started with options (NODE_OPTIONS, or any but a script to evaluate). */
function startedWithFlags () {
  if (process.env.NODE_OPTIONS) return true
  const args = process.execArgv
  for (let i = 0; i < args.length; i++) {
    if (['-e', '--eval', '-p', '--print'].includes(args[i])) i++
    else if (!/^--(eval|print)=/.test(args[i])) return true
  }
  return false
}

/** Writes the code cache at exit, or a second after loading where the process runs longer (a
 * server stopped by a signal never exits the way that runs 'exit' listeners): by then the
 * functions the program ran are compiled, and a later process deserializes them all (a cache made
 * right after compiling holds the modules' top level only, about 1 ms less gained). Once, about
 * 2 ms of one thread. Nothing a failed write could tell the program (a read-only folder); a later
 * process tries again. */
function writeLater (script, file) {
  // Node's own timers, not the global ones a test's fake timers replace; this one keeps no
  // process alive.
  const timers = require('timers')
  const write = () => {
    timers.clearTimeout(timer)
    process.removeListener('exit', write)
    try {
      require('./lib/cache-file.js').writeCodeCache(script, file)
    } catch {}
  }
  const timer = timers.setTimeout(write, 1000).unref()
  process.once('exit', write)
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
