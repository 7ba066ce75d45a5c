'use strict'
// The command that starts a child Node.js: process.execPath, or, with DGRAM_TEST_NODE_PREFIX set
// (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu" for an arm64 node under qemu-user, where no
// binfmt_misc starts a foreign binary by itself), that command with process.execPath as its first
// argument. Words are separated by spaces.
const prefix = (process.env.DGRAM_TEST_NODE_PREFIX || '').split(' ').filter(Boolean)

// [file, args] for spawn / spawnSync / execFileSync.
function nodeCommand (args) {
  return prefix.length === 0
    ? [process.execPath, args]
    : [prefix[0], [...prefix.slice(1), process.execPath, ...args]]
}

// Options for child_process.fork(), which starts options.execPath (default process.execPath) with
// execArgv (default process.execArgv) before the module: the same command as nodeCommand's.
function forkOptions (options = {}) {
  const execArgv = options.execArgv || process.execArgv
  return prefix.length === 0
    ? { ...options, execArgv }
    : { ...options, execPath: prefix[0], execArgv: [...prefix.slice(1), process.execPath, ...execArgv] }
}

module.exports = { nodeCommand, forkOptions, underPrefix: prefix.length > 0 }
