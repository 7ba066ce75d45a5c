'use strict'
// Two copies of the package in one thread, as Jest's per-file module registry and
// jest.resetModules() make them, or a require cache cleared by hand: each copy's sockets work
// exactly as one copy's do, side by side with the other's (the addon's per-thread state is
// shared by the copies; nothing of one copy may leak into the other's sockets).
//
// Runs on dgram-rs only: node:dgram is one module of Node's, never loaded twice. The transcript
// each copy produces is compared with node:dgram's.

const assert = require('node:assert')
const path = require('node:path')
const { test } = require('node:test')
const nodeDgram = require('node:dgram')
const { withTimeout } = require('./helpers/impls')

const root = path.resolve(__dirname, '..')

// A fresh copy of the package's JavaScript; with `addon`, the addon file is loaded again too
// (process.dlopen of the same file: the same library, a new exports object).
function freshCopy (addon) {
  for (const key of Object.keys(require.cache)) {
    if (key.startsWith(root + path.sep) && !key.includes(`${path.sep}node_modules${path.sep}`) &&
        (addon || !key.endsWith('.node'))) delete require.cache[key]
  }
  return require(root)
}

// Payloads of 64 bytes or less take the small-datagram path (a staging area per thread), the
// larger one a Buffer of its own.
const PAYLOADS = ['small-1', 'small-2', 'x'.repeat(64), 'y'.repeat(300)]

// Sends every payload from a socket of `sender` to a socket of `receiver`; resolves with what
// arrived, as [payload, rinfo.family, rinfo.size].
async function exchange (receiver, sender, backgroundReceive = false) {
  // node:dgram ignores backgroundReceive (an option it does not know).
  const rx = receiver.createSocket({ type: 'udp4', backgroundReceive })
  const tx = sender.createSocket('udp4')
  const got = []
  const done = new Promise((resolve) => {
    rx.on('message', (buf, rinfo) => {
      got.push([buf.toString(), rinfo.family, rinfo.size])
      if (got.length === PAYLOADS.length) resolve()
    })
  })
  try {
    await new Promise((resolve) => rx.bind(0, '127.0.0.1', resolve))
    for (const p of PAYLOADS) {
      await new Promise((resolve, reject) => tx.send(p, rx.address().port, '127.0.0.1', (e) => e ? reject(e) : resolve()))
    }
    await withTimeout(done, 3000, 'exchange')
    return got
  } finally {
    rx.close()
    tx.close()
  }
}

// The fallback (DGRAM_RS_FALLBACK=1) is node:dgram's module with JavaScript around it: no addon.
const skip = process.env.DGRAM_RS_FALLBACK === '1' && 'native addon only'

for (const addon of [false, true]) {
  test(`two copies side by side (${addon ? 'addon loaded again' : 'JavaScript only'})`, { skip }, async (t) => {
    const expected = await exchange(nodeDgram, nodeDgram)
    const first = freshCopy(addon)
    assert.strictEqual(first.native, true, 'the addon loads')
    // An open socket of the first copy, made before the second copy loads.
    const early = first.createSocket('udp4')
    t.after(() => early.close())
    await new Promise((resolve) => early.bind(0, '127.0.0.1', resolve))
    const second = freshCopy(addon)
    assert.notStrictEqual(second, first, 'a second copy')
    assert.deepStrictEqual(await exchange(second, second), expected, 'the second copy alone')
    assert.deepStrictEqual(await exchange(first, first), expected, 'the first copy, after the second loaded')
    assert.deepStrictEqual(await exchange(first, second), expected, 'first receives from second')
    assert.deepStrictEqual(await exchange(second, first), expected, 'second receives from first')
    // The background path stages small datagrams too.
    assert.deepStrictEqual(await exchange(first, second, true), expected, 'first receives in the background')
    assert.deepStrictEqual(await exchange(second, first, true), expected, 'second receives in the background')
    // The socket the first copy opened before the second loaded receives as it did.
    const got = []
    const arrived = new Promise((resolve) => early.on('message', (buf, rinfo) => {
      got.push([buf.toString(), rinfo.family, rinfo.size])
      if (got.length === PAYLOADS.length) resolve()
    }))
    const tx = second.createSocket('udp4')
    t.after(() => tx.close())
    for (const p of PAYLOADS) tx.send(p, early.address().port, '127.0.0.1')
    await withTimeout(arrived, 3000, 'early socket')
    assert.deepStrictEqual(got, expected, 'the early socket of the first copy')
  })
}
