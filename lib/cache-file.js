'use strict'

// Writes V8's code cache of the bundle (index.js's vm.Script) to its file: through a temporary
// file and a rename, so that a process that reads it meanwhile, or another that writes it, sees
// a whole file or none. Used by `npx dgram-rs-code-cache` (lib/code-cache.js), which also removes
// the caches of an older bundle from the package's folder (no process will use them again), and
// by index.js where the application turned Node's compile cache on: that folder is shared by
// every copy of the package the application loads, so each keeps its own there.

const fs = require('fs')
const path = require('path')

/** Writes `script`'s code cache, with every function compiled so far, to `cacheFile`; with
 * `removeOthers`, removes the other bundles' caches from its folder. */
function writeCodeCache (script, cacheFile, { removeOthers = false } = {}) {
  const dir = path.dirname(cacheFile)
  fs.mkdirSync(dir, { recursive: true })
  const tmp = `${cacheFile}.${process.pid}.tmp`
  fs.writeFileSync(tmp, script.createCachedData())
  fs.renameSync(tmp, cacheFile)
  if (!removeOthers) return
  // The file's name begins with the bundle's identity.
  const id = path.basename(cacheFile).split('-')[0]
  for (const f of fs.readdirSync(dir)) {
    if (!f.startsWith(`${id}-`) && f.endsWith('.bin')) fs.rmSync(path.join(dir, f), { force: true })
  }
}

module.exports = { writeCodeCache }
