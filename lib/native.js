// @ts-check
'use strict'

// Finds and loads the native addon, in this order:
//
// 1. a local build in the package root, dgram-rs.<platform>.node: what `npm install` (the
//    `prepare` script) or `npm run build` made in a clone. It comes first so that a clone runs
//    its own build, never a published binary; the published root package holds no .node file.
// 2. the prebuilt platform package, dgram-rs-<platform> (an optionalDependency of the root
//    package; npm installs the one whose os/cpu/libc fields match this machine).
//
// <platform> is napi-rs's name: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc...
//
// When neither exists, or Node loads no addons, this module throws an Error with code
// 'DGRAM_RS_NO_NATIVE' (index.js then falls back to node:dgram). An addon that exists but fails
// to load (a corrupt file, an ABI mismatch) throws the loader's own reason instead: that is a
// broken install, not a platform without a binary.
//
// Why not napi-rs's generated loader: it tries every platform's package and reads /usr/bin/ldd to
// tell musl from glibc. That cost about 100 KB of V8's young generation at startup, which alone was
// enough for V8 to double the young generation of the benchmark's receiver (and its peak RSS by
// some 8 MB). Here: on Linux a few existsSync, and the C library asked (/proc/self/maps) only
// where both of its addons are there (see findAddon).

const fs = require('fs')
const path = require('path')

// The Node-API version the addon is built for (napi's "napi8" feature in Cargo.toml).
const NAPI_VERSION = 8

const root = path.join(__dirname, '..')

function noNative (reason) {
  return Object.assign(new Error(reason), { code: 'DGRAM_RS_NO_NATIVE' })
}

// Whether this process runs on musl: the dynamic loader mapped in its memory says so where
// /proc/self/maps names one (one read of a few kilobytes through the call index.js made already:
// 0.2 ms, against 0.5 for the ELF header below with the first use of the fs calls it needs).
// Else (no /proc, a statically linked node, a loader of another name) the node binary's header.
function runsOnMusl () {
  let maps
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8')
  } catch {}
  return loaderInMaps(maps) ?? isMusl()
}

// true for musl's loader (/lib/ld-musl-<arch>.so.1), false for glibc's (ld-linux-<arch>.so.2,
// ld-linux-aarch64.so.1), undefined where the text names neither.
function loaderInMaps (maps) {
  if (maps === undefined) return undefined
  if (/\/ld-musl-[^/\n]*\.so\.1$/m.test(maps)) return true
  if (/\/ld-linux-[^/\n]*\.so\.[12]$/m.test(maps)) return false
  return undefined
}

// Whether a node binary runs on musl: the ELF interpreter (PT_INTERP) of the node binary itself is
// /lib/ld-musl-<arch>.so.1 there. (Whether such a file exists says nothing: Debian's musl-tools
// installs it on a glibc system.)
//
// Read byte by byte from one Uint8Array: each Buffer method called here for the first time in
// the process (alloc, readUInt32BE, readBigUInt64LE, includes...) cost 0.1 to 0.2 ms of V8
// compiling it, 0.7 ms in all, more than the reads.
function isMusl (file = process.execPath) {
  let fd
  try {
    fd = fs.openSync(file, 'r')
    const head = new Uint8Array(4096)
    const n = fs.readSync(fd, head, 0, head.length, 0)
    // ELF, 64-bit, little-endian (x64, arm64); anything else is not a Linux we build for.
    if (n < 64 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46 ||
        head[4] !== 2 || head[5] !== 1) { return false }
    const phoff = u64(head, 32)
    const phentsize = head[54] | head[55] << 8
    const phnum = head[56] | head[57] << 8
    for (let i = 0; i < phnum && phoff + (i + 1) * phentsize <= n; i++) {
      const ph = phoff + i * phentsize
      if (u32(head, ph) !== 3) continue // PT_INTERP
      const offset = u64(head, ph + 8)
      const size = Math.min(u64(head, ph + 32), 256)
      let interp = head.subarray(offset, offset + size)
      if (offset + size > n) { // Not in the first read (it is, in every build we know).
        interp = new Uint8Array(size)
        fs.readSync(fd, interp, 0, size, offset)
      }
      return hasMuslLoader(interp)
    }
    return false // no interpreter: a statically linked node (official and Alpine builds are not)
  } catch {
    return false
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

// Little-endian integers of an ELF header; u64 is exact below 2^53 (an offset past that is no
// ELF file's, and fails the bounds tests that follow).
function u32 (b, at) {
  return (b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24) >>> 0
}

function u64 (b, at) {
  return u32(b, at) + u32(b, at + 4) * 0x100000000
}

const MUSL_LOADER = [0x6c, 0x64, 0x2d, 0x6d, 0x75, 0x73, 0x6c, 0x2d] // "ld-musl-"

function hasMuslLoader (interp) {
  for (let i = 0; i + MUSL_LOADER.length <= interp.length; i++) {
    let j = 0
    while (j < MUSL_LOADER.length && interp[i + j] === MUSL_LOADER[j]) j++
    if (j === MUSL_LOADER.length) return true
  }
  return false
}

function platformName () {
  const { platform, arch } = process
  if (platform === 'linux') return linuxPlatform(runsOnMusl())
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function linuxPlatform (musl) {
  return `linux-${process.arch}-${musl ? 'musl' : 'gnu'}`
}

// The addon to load: { platform, file, guessed }. On Linux, where the addon of only one of the two
// C libraries is there (a clone's own build; the one platform package that a package manager
// reading `libc` installed), that one, without asking which C library this process runs on
// (guessed): the question cost a fresh process 0.15-0.5 ms (/proc/self/maps), and the package's
// resolution 0.45 ms more, where two stats of each node_modules folder find it. load() asks where
// a guessed addon fails to load, as one built for the other C library does. Local builds first,
// as in locate(); where neither folder nor build has one, locate() resolves the package (Yarn's
// Plug'n'Play, NODE_PATH) or says why there is none.
function findAddon () {
  const napi = Number(process.versions.napi)
  if (napi < NAPI_VERSION) {
    throw noNative(`the addon needs Node-API ${NAPI_VERSION}, this Node.js has Node-API ${napi}`)
  }
  if (process.platform === 'linux') {
    const both = [linuxPlatform(false), linuxPlatform(true)]
    const local = both.map((platform) => ({ platform, file: path.join(root, addonName(platform)) }))
      .filter((a) => readable(a.file))
    const present = local.length > 0 ? local : nearestPackages(both)
    if (present.length === 1) return { ...present[0], guessed: true }
  }
  const platform = platformName()
  return { platform, file: locate(platform), guessed: false }
}

// The platform packages of `platforms` in the nearest node_modules folder that holds any of them,
// in the order Node's resolution looks from the package's root (its own node_modules, where npm
// nests a version another copy's hoisted one would not match, then each folder above).
function nearestPackages (platforms) {
  for (let dir = root; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const found = platforms
        .map((platform) => ({ platform, folder: path.join(dir, 'node_modules', `dgram-rs-${platform}`) }))
        .filter((p) => readable(path.join(p.folder, 'package.json')))
        .map(({ platform, folder }) => ({ platform, file: path.join(folder, addonName(platform)) }))
      if (found.length > 0) return found
    }
    if (path.dirname(dir) === dir) return []
  }
}

// Whether a file exists and may be read: under the permission model, existsSync throws
// ERR_ACCESS_DENIED for a path outside --allow-fs-read (the folders above an application's).
function readable (file) {
  try {
    return fs.existsSync(file)
  } catch {
    return false
  }
}

// The addon's file name, in a clone's root and in its platform package.
function addonName (platform) {
  return `dgram-rs.${platform}.node`
}

// The path of the addon to load, or a thrown 'DGRAM_RS_NO_NATIVE' error saying why there is none.
function locate (platform) {
  const file = addonName(platform)
  const local = path.join(root, file)
  if (readable(local)) return local
  const pkg = `dgram-rs-${platform}`
  let manifest
  try {
    manifest = require.resolve(`${pkg}/package.json`, { paths: [root] })
  } catch (e) {
    // Under the permission model a folder the resolution looks in (NODE_PATH's, one above the
    // application's) may be one this process may not read: no addon it could load is there.
    if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_ACCESS_DENIED') throw e
    const why = process.platform !== 'linux'
      ? `no prebuilt binary for ${platform} (the addon uses Linux's recvmmsg, UDP GSO/GRO and timerfd)`
      : e.code === 'ERR_ACCESS_DENIED'
        ? `the package ${pkg} is not installed where this process may read (${e.resource ?? e.message})`
        : `the package ${pkg} is not installed`
    throw noNative(`${why}, and there is no local build (${file})`)
  }
  return path.join(path.dirname(manifest), file)
}

// The addon's exports.
function open ({ platform, file, guessed }) {
  try {
    return require(file)
  } catch (e) {
    // Addons switched off (--no-addons, also through NODE_OPTIONS or a Worker's execArgv, or
    // --permission without --allow-addons) is the user's choice, not a broken install: the
    // program then runs on node:dgram, as it would have without dgram-rs.
    if (e.code === 'ERR_DLOPEN_DISABLED') {
      throw noNative('loading native addons is disabled (--no-addons, or --permission without --allow-addons)')
    }
    // The only addon there, of the other C library: this one's is what is missing.
    const right = guessed ? platformName() : platform
    if (right !== platform) return open({ platform: right, file: locate(right), guessed: false })
    throw new Error(`dgram-rs: the native addon ${file} did not load: ${e.message} ` +
      '(DGRAM_RS_FALLBACK=1 uses node:dgram instead)', { cause: e })
  }
}

function load () {
  /** @type {typeof import('../binding')} */
  const binding = open(findAddon())
  // The addon's functions (inherited: a copy of all 60 cost 0.1 ms of a fresh process; the
  // addon's own exports object, which another copy of this module may load too, stays as it is)
  // and the handle classes, the Unix one made when first asked for. The permission model's checks
  // (lib/permission.js), loaded only where it is on: without --permission, process.permission is
  // undefined and the handle classes stay as they are.
  const guards = process.permission === undefined ? null : require('./permission.js')
  let UnixHandle
  return Object.create(binding, {
    UdpHandle: { enumerable: true, value: guards === null ? handleClass(binding) : guards.guardNet(handleClass(binding)) },
    UnixHandle: {
      enumerable: true,
      get: () => (UnixHandle ??= guards === null ? unixHandleClass(binding) : guards.guardUnix(unixHandleClass(binding)))
    }
  })
}

// The UDP handle (Node's UDPWrap). To the addon a handle is a number, which it gives when the
// handle is made: each method passes it to one of the addon's functions (src/handle.rs), or, for the
// calls made once per datagram sent and those a socket per query makes, to a raw Node-API call
// (src/fast_calls.rs). A plain object with a number costs a socket per query less than a native
// class instance did (src/handle/registry.rs says why). close() makes the addon forget the
// number, as Node's UDPWrap lives until its handle closes; the handle keeps its statistics at
// close for getStats().
/** @param {typeof import('../binding')} binding */
function handleClass (binding) {
  const {
    udpCreate, udpSend, udpSendLater, udpSendBatch, udpBind, udpRecvStart, udpClose,
    udpGetsockname, udpGetpeername, udpFlushSends
  } = binding
  const kId = Symbol('handle id')
  const kStatsAtClose = Symbol('statistics at close')
  const statsAtClose = new Float64Array(6)
  // sendBatch's [sent, queued, failed, errno], read by the caller before its next sendBatch.
  const batchResults = new Float64Array(4)
  // getsockname's and getpeername's [family (4 or 6), port]: the addon returns the address
  // itself, and the properties are set here (V8 sets constant names from JavaScript without
  // the string-table lookup that each one made when the addon set it).
  const addressInfo = new Float64Array(2)
  // Node's getsockname(out): { address, family, port } into `out`; 0, or the errno.
  const fillAddress = (address, out) => {
    if (typeof address === 'number') return address
    out.address = address
    out.family = addressInfo[0] === 4 ? 'IPv4' : 'IPv6'
    out.port = addressInfo[1]
    return 0
  }
  class UdpHandle {
    constructor (family) {
      // The addon numbers handles: every copy of this module in the thread shares its registry.
      // The handle is its own async resource, as node:dgram's UDPWrap is.
      this[kId] = udpCreate(family, this)
    }

    send (list, port, ip, id) { return udpSend(this[kId], list, port, ip, id) }
    sendLater (list, port, ip, id) { return udpSendLater(this[kId], list, port, ip, id) }
    flushSends (out) { return udpFlushSends(this[kId], out) }
    bind (ip, port, flags) { return udpBind(this[kId], ip, port, flags) }
    recvStart () { return udpRecvStart(this[kId], this) }
    close () {
      if (this[kStatsAtClose] !== undefined) return []
      const ended = udpClose(this[kId], statsAtClose)
      const s = statsAtClose
      // Element by element: Array.from walks a typed array through its iterator, which cost as
      // much as the close itself.
      this[kStatsAtClose] = [s[0], s[1], s[2], s[3], s[4], s[5]]
      return ended
    }

    getsockname (out) { return fillAddress(udpGetsockname(this[kId], addressInfo), out) }
    getpeername (out) { return fillAddress(udpGetpeername(this[kId], addressInfo), out) }

    open (fd, duplicate) { return binding.udpOpen(this[kId], fd, duplicate) }
    connect (ip, port) { return binding.udpConnect(this[kId], ip, port) }
    disconnect () { return binding.udpDisconnect(this[kId]) }
    recvStop () { return binding.udpRecvStop(this[kId]) }
    sendBatch (data, segment, port, ip, id) {
      udpSendBatch(this[kId], data, segment, port, ip, id, batchResults)
      return batchResults
    }

    setBatchReceive (on, zeroCopy) { return binding.udpSetBatchReceive(this[kId], on, zeroCopy) }
    setReusePortBalance (by, receivers) { return binding.udpSetReusePortBalance(this[kId], by, receivers) }
    setBackgroundReceive (maxBytes) { return binding.udpSetBackgroundReceive(this[kId], maxBytes) }
    setPaused (paused) { return binding.udpSetPaused(this[kId], paused) }
    getStats () { return this[kStatsAtClose] ?? binding.udpGetStats(this[kId]) }
    setQueueEverySend (on) { return binding.udpSetQueueEverySend(this[kId], on) }
    ref () { return binding.udpSetRef(this[kId], true) }
    unref () { return binding.udpSetRef(this[kId], false) }
    hasRef () { return binding.udpHasRef(this[kId]) }
    bufferSize (size, isRecv) { return binding.udpBufferSize(this[kId], size, isRecv) }
    setBroadcast (on) { return binding.udpSetBroadcast(this[kId], on) }
    setTTL (ttl) { return binding.udpSetTTL(this[kId], ttl) }
    setMulticastTTL (ttl) { return binding.udpSetMulticastTTL(this[kId], ttl) }
    setMulticastLoopback (on) { return binding.udpSetMulticastLoopback(this[kId], on) }
    setMulticastInterface (iface) { return binding.udpSetMulticastInterface(this[kId], iface) }
    addMembership (group, iface) { return binding.udpMembership(this[kId], group, iface, true) }
    dropMembership (group, iface) { return binding.udpMembership(this[kId], group, iface, false) }
    addSourceSpecificMembership (source, group, iface) { return binding.udpSourceMembership(this[kId], source, group, iface, true) }
    dropSourceSpecificMembership (source, group, iface) { return binding.udpSourceMembership(this[kId], source, group, iface, false) }
    getSendQueueSize () { return binding.udpSendQueue(this[kId])[0] }
    getSendQueueCount () { return binding.udpSendQueue(this[kId])[1] }
    get fd () { return this[kStatsAtClose] === undefined ? binding.udpFd(this[kId]) : -1 }
    dupFd () { return binding.udpDupFd(this[kId]) }

    setReceiveInfo () { return binding.udpSetReceiveInfo(this[kId]) }
    setMaxMessageSize (size) { return binding.udpSetMaxMessageSize(this[kId], size) }
    setReceiveErrors (onicmp) { return binding.udpSetReceiveErrors(this[kId], onicmp) }
    setTOS (tos) { return binding.udpSetTOS(this[kId], tos) }
    getTOS () { return binding.udpGetTOS(this[kId]) }
    setDontFragment (on) { return binding.udpSetDontFragment(this[kId], on) }
    getPathMTU () { return binding.udpGetPathMTU(this[kId]) }
    sendWithControl (list, port, ip, id, tos, source) { return binding.udpSendWithControl(this[kId], list, port, ip, id, tos, source) }
  }
  return UdpHandle
}

// The Unix datagram handle ('unix_dgram' sockets, src/unix_handle.rs), on the same model: a plain
// object with the number unixCreate gave it, filed in the same table as the UDP handles from
// creation to close(). After close() the number names nothing, and each call answers as a closed
// socket does (EBADF, fd -1, nothing queued). Its sends are raw calls (src/fast_calls.rs).
/** @param {typeof import('../binding')} binding */
function unixHandleClass (binding) {
  const { unixCreate, unixSend, unixTrySend } = binding
  const kId = Symbol('handle id')
  class UnixHandle {
    constructor () {
      this[kId] = unixCreate()
    }

    open () { return binding.unixOpen(this[kId]) }
    bind (name) { return binding.unixBind(this[kId], name) }
    connect (name) { return binding.unixConnect(this[kId], name) }
    disconnect () { return binding.unixDisconnect(this[kId]) }
    getsockname (out) { return binding.unixGetsockname(this[kId], out) }
    getpeername (out) { return binding.unixGetpeername(this[kId], out) }
    recvStart (onmessage, onerror, onsend, onwritable) {
      return binding.unixRecvStart(this[kId], onmessage, onerror, onsend, onwritable)
    }

    recvStop () { return binding.unixRecvStop(this[kId]) }
    send (data, name, id) { return unixSend(this[kId], data, name, id) }
    trySend (data, name) { return unixTrySend(this[kId], data, name) }
    notifyWritable () { return binding.unixNotifyWritable(this[kId]) }
    close () { return binding.unixClose(this[kId]) }
    ref () { binding.unixSetRef(this[kId], true) }
    unref () { binding.unixSetRef(this[kId], false) }
    hasRef () { return binding.unixHasRef(this[kId]) }
    bufferSize (size, isRecv) { return binding.unixBufferSize(this[kId], size, isRecv) }
    getSendQueueSize () { return binding.unixSendQueue(this[kId])[0] }
    getSendQueueCount () { return binding.unixSendQueue(this[kId])[1] }
    get fd () { return binding.unixFd(this[kId]) }
  }
  return UnixHandle
}

// isMusl and loaderInMaps for the tests (__test__/cold-start.test.js).
module.exports = Object.assign(load(), { isMusl, loaderInMaps })
