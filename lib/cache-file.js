'use strict'

// Writes V8's code cache of the bundle (index.js's vm.Script) to its file: through a temporary
// file and a rename, so that a process that reads it meanwhile, or another that writes it, sees
// a whole file or none. Used by index.js, where a process found no cache (in the package's own
// folder, or in Node's compile cache folder where the application turned that on: a folder shared
// by every copy of the package the application loads, so each keeps its own there), and by
// `npx dgram-rs-code-cache` (lib/code-cache.js), which also removes the caches of an older bundle
// from the package's folder (no process will use them again).

const fs = require('fs')
const path = require('path')

/** Writes `script`'s code cache, with every function compiled so far, to `cacheFile`; with
 * `removeOthers`, removes the other bundles' caches from its folder. */
function writeCodeCache (script, cacheFile, { removeOthers = false } = {}) {
  const dir = path.dirname(cacheFile)
  fs.mkdirSync(dir, { recursive: true })
  // Each thread its own (worker threads load the package too).
  const tmp = `${cacheFile}.${process.pid}-${require('worker_threads').threadId}.tmp`
  // Opened before the cache is made (1-1.5 ms): a folder this process may not write costs nothing.
  // Created, never opened where something is (a link put there would be followed).
  const fd = fs.openSync(tmp, 'wx')
  try {
    try {
      fs.writeFileSync(fd, script.createCachedData())
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, cacheFile)
  } catch (e) {
    fs.rmSync(tmp, { force: true })
    throw e
  }
  if (!removeOthers) return
  // The file's name begins with the bundle's identity.
  const id = path.basename(cacheFile).split('-')[0]
  for (const f of fs.readdirSync(dir)) {
    if (!f.startsWith(`${id}-`) && f.endsWith('.bin')) fs.rmSync(path.join(dir, f), { force: true })
  }
}

module.exports = { writeCodeCache }
