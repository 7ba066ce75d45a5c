'use strict'
// Preloaded (node --require) by scripts/qemu-suite.sh, which runs the suite with an arm64 Node.js
// under qemu-user: the tests that cannot pass there are skipped by name, each with the reason,
// so that they are counted and listed as skips ("# SKIP <reason>") instead of failing. Every
// other test runs as on x64, in both of the script's runs (plain, and DGRAM_TEST_BACKGROUND=1).
// A test is named by a regular expression on its full name.
const nodeTest = require('node:test')

const SKIPS = [
  // The maxMessageSize, sendWithOptions and per-send options tests read rinfo.truncated / tos with receiveInfo.
  [/^udp[46] (receiveInfo|maxMessageSize|sendWithOptions|per-send options)|^backgroundReceive with receiveInfo|^maxMessageSize pins receive offload off/,
    'receiveInfo turns SO_TIMESTAMPNS on, which qemu-user answers with ENOPROTOOPT (seen with qemu-aarch64 -strace)'],
  [/^udp4 setTOS \/ getTOS validate as setTTL does; setDontFragment and getPathMTU/,
    'qemu-user answers getsockopt IP_MTU with ENOPROTOOPT (IPV6_MTU, the udp6 case, runs)'],
  [/^reusePortBalance by /, 'qemu-user answers setsockopt SO_ATTACH_REUSEPORT_CBPF with ENOPROTOOPT'],
  [/^cluster: |multicore-server/,
    'cluster.fork() starts process.execPath itself, which cannot run an arm64 binary without binfmt_misc'],
  [/^options \(udp[46], before bind\): each call on a fresh socket/,
    'qemu-user answers setMulticastInterface on a socket not yet open with ENOPROTOOPT for node:dgram itself (Linux: EBADF)'],
  [/^getStats: under a flood|^messages\(\): a slow consumer holds at most highWaterMark|^getStats: datagrams arriving one by one add up exactly|^getStats: with receive offload on, a dropped coalesced batch/,
    'droppedByKernel reads 0 under qemu-user (it answers SO_MEMINFO with its first figure only: 4 bytes of 36): received + dropped falls short of sent'],
  [/^backgroundReceive: datagrams keep being read while JavaScript stalls/,
    'the emulated sender is too slow to overflow the receive buffer in the stall: neither path loses a datagram'],
  [/^backgroundReceive: a full inbox stops the reader, the kernel drops the rest/,
    'droppedByKernel reads 0 under qemu-user (it answers SO_MEMINFO with its first figure only: 4 bytes of 36), and the emulated sender may not overflow the buffer in the stall'],
  [/^backgroundReceive: through repeated stalls, the reader takes over and hands back each time/,
    'droppedByKernel reads 0 under qemu-user (it answers SO_MEMINFO with its first figure only: 4 bytes of 36): 1,480-1,499 of 1,500 delivered in order, 0 counted dropped (passes when none is dropped: 2 of 5 runs)'],
  [/^backgroundReceive: from the inbox, each datagram carries its own sender/,
    'droppedByKernel reads 0 under qemu-user (it answers SO_MEMINFO with its first figure only: 4 bytes of 36): 292-297 of 300 counted in three runs (every delivered datagram carried its own sender)'],
  [/^pacing: exit: a bound socket stays alive after reading bursts/,
    'the scenario\'s fixed window ends before an emulated child has read its bursts (node:dgram fails alike)'],
  [/^send queue \(dgram-rs\): a queued batch calls back once all its datagrams are sent/,
    'its fixed 50 ms window ends before the emulated receiver has read more than the first datagram (the queue\'s counts and callbacks are as on x64)'],
  ...(process.env.DGRAM_TEST_BACKGROUND === '1'
    ? [[/^pacing: a datagram sent during a poll phase reaches a paced socket after that phase's setImmediate/,
        'background mode under qemu-user only (1 of 6 runs; 0 of 20 on x64 under load): the 2 ms stall hands the socket to the reader thread, whose emulated wake-up can fall in the poll phase that sent the datagram; nothing is lost or reordered within the socket']]
    : [])
]

const skipped = []
const original = nodeTest.test
function test (name, options, fn) {
  const hit = typeof name === 'string' && SKIPS.find(([pattern]) => pattern.test(name))
  if (!hit) return Reflect.apply(original, this, arguments)
  skipped.push(name)
  if (typeof options === 'function') { fn = options; options = {} }
  return original.call(this, name, { ...options, skip: `qemu: ${hit[1]}` }, fn || (() => {}))
}
nodeTest.test = test
process.on('exit', () => {
  for (const name of skipped) process.stderr.write(`qemu skip: ${name}\n`)
})
