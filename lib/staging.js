'use strict'

// Datagrams of up to 64 bytes come from the native handle as a number instead
// of an ArrayBuffer: their bytes wait in `staging` (offset * 128 + length; see
// src/owner/staging.rs), and unstage() copies them out into a Buffer made
// here, which V8 keeps in its own heap (a Buffer made natively costs a malloc,
// and a free on another thread). It is a Buffer like node:dgram's: its own
// ArrayBuffer of its length, at offset 0.

const { setStagingArea } = require('./native.js')

// Node's own Buffer class, whose constructor makes a view without copying.
const FastBuffer = Buffer[Symbol.species]

// One area per thread: a second copy of this module (Jest loads one per test file) gets the
// first one's back, since the addon stages every copy's datagrams there.
const staging = setStagingArea(new Uint8Array(16 * 64))

function unstage (code) {
  const length = code & 127
  const offset = code >>> 7
  const buf = Buffer.alloc(length)
  for (let i = 0; i < length; i++) buf[i] = staging[offset + i]
  return buf
}

// One datagram's `buf` as the native handle passes it: a number (staged), or an ArrayBuffer of
// its own, which becomes the Buffer's memory (no copy). A view made here costs a fraction of a
// Buffer made through Node-API (src/uv.rs, arraybuffer_copy).
function datagramBuffer (buf) {
  return typeof buf === 'number' ? unstage(buf) : new FastBuffer(buf)
}

module.exports = { datagramBuffer }
