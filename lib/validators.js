// Copyright Node.js contributors. All rights reserved.
//
// Permission is hereby granted, free of charge, to any person obtaining a copy
// of this software and associated documentation files (the "Software"), to
// deal in the Software without restriction, including without limitation the
// rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
// sell copies of the Software, and to permit persons to whom the Software is
// furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in
// all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
// IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
// FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
// IN THE SOFTWARE.

'use strict'

// The argument validators dgram uses, ported from Node 20's
// lib/internal/validators.js with the same names, codes and messages.

const {
  hideStackFrames,
  codes: {
    ERR_INVALID_ARG_TYPE,
    ERR_OUT_OF_RANGE,
    ERR_SOCKET_BAD_PORT
  }
} = require('./errors.js')

/**
 * @param {*} value
 * @returns {boolean}
 */
function isInt32 (value) {
  return value === (value | 0)
}

const validateUint32 = hideStackFrames((value, name, positive = false) => {
  if (typeof value !== 'number') {
    throw new ERR_INVALID_ARG_TYPE(name, 'number', value)
  }
  if (!Number.isInteger(value)) {
    throw new ERR_OUT_OF_RANGE(name, 'an integer', value)
  }
  const min = positive ? 1 : 0
  // 2 ** 32 === 4294967296
  const max = 4_294_967_295
  if (value < min || value > max) {
    throw new ERR_OUT_OF_RANGE(name, `>= ${min} && <= ${max}`, value)
  }
})

const validateInteger = hideStackFrames((value, name, min, max) => {
  if (typeof value !== 'number') { throw new ERR_INVALID_ARG_TYPE(name, 'number', value) }
  if (!Number.isInteger(value)) { throw new ERR_OUT_OF_RANGE(name, 'an integer', value) }
  if (value < min || value > max) { throw new ERR_OUT_OF_RANGE(name, `>= ${min} && <= ${max}`, value) }
})

const validateString = hideStackFrames((value, name) => {
  if (typeof value !== 'string') { throw new ERR_INVALID_ARG_TYPE(name, 'string', value) }
})

const validateNumber = hideStackFrames((value, name, min = undefined, max) => {
  if (typeof value !== 'number') { throw new ERR_INVALID_ARG_TYPE(name, 'number', value) }

  if ((min != null && value < min) || (max != null && value > max) ||
    ((min != null || max != null) && Number.isNaN(value))) {
    throw new ERR_OUT_OF_RANGE(
      name,
      `${min != null ? `>= ${min}` : ''}${min != null && max != null ? ' && ' : ''}${max != null ? `<= ${max}` : ''}`,
      value)
  }
})

/**
 * Check that the port number is not NaN when coerced to a number,
 * is an integer and that it falls within the legal range of port numbers.
 * @param {*} port
 * @param {string} [name='Port']
 * @param {boolean} [allowZero=true]
 * @returns {number}
 */
const validatePort = hideStackFrames((port, name = 'Port', allowZero = true) => {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) ||
      port > 0xFFFF ||
      (port === 0 && !allowZero)) {
    throw new ERR_SOCKET_BAD_PORT(name, port, allowZero)
  }
  return port | 0
})

const validateAbortSignal = hideStackFrames((signal, name) => {
  if (signal !== undefined &&
      (signal === null ||
       typeof signal !== 'object' ||
       !('aborted' in signal))) {
    throw new ERR_INVALID_ARG_TYPE(name, 'AbortSignal', signal)
  }
})

const validateFunction = hideStackFrames((value, name) => {
  if (typeof value !== 'function') { throw new ERR_INVALID_ARG_TYPE(name, 'Function', value) }
})

// Node's validateObject with its default options (bindSync's options): no
// null, no array.
const validateObject = hideStackFrames((value, name) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ERR_INVALID_ARG_TYPE(name, 'Object', value)
  }
})

// net.isIP's answer, as node:dgram uses it, without require('net'), which
// would load Node's streams, child_process's and net's modules, about 3 ms of
// a fresh process's start, for one test of a literal. The rules are Node's
// (compared with net.isIP in __test__/cold-start.test.js): IPv4 is four
// decimal numbers 0-255 without leading zeros; IPv6 is eight groups of one to
// four hex digits, or fewer around one '::' that stands for at least one
// group, the last two of which may be an IPv4 literal, then an optional
// '%zone' of letters, digits, '-', '.' and ':'.
/**
 * @param {*} s
 * @returns {0 | 4 | 6}
 */
function isIP (s) {
  const str = `${s}` // As RegExp.prototype.test reads it (a Symbol throws there too).
  if (isIPv4(str)) return 4
  if (isIPv6(str)) return 6
  return 0
}

function isIPv6 (str) {
  let end = str.indexOf('%')
  if (end === -1) {
    end = str.length
  } else if (end === str.length - 1 || !isZone(str, end + 1)) {
    return false
  }
  const address = str.slice(0, end)
  const gap = address.indexOf('::')
  if (gap !== -1 && address.indexOf('::', gap + 1) !== -1) return false
  const head = gap === -1 ? address : address.slice(0, gap)
  const tail = gap === -1 ? '' : address.slice(gap + 2)
  const groups = countGroups(head, gap === -1) + (tail === '' ? 0 : countGroups(tail, true))
  if (Number.isNaN(groups)) return false
  return gap === -1 ? groups === 8 : groups <= 7
}

// How many 16-bit groups `part` (':'-separated, non-empty) holds, an IPv4
// literal as the last one counting two; NaN where a group is malformed.
// `last`: the part ends the address (only there may the IPv4 literal be).
function countGroups (part, last) {
  if (part === '') return 0
  const groups = part.split(':')
  let count = 0
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]
    if (last && i === groups.length - 1 && group.includes('.')) {
      if (!isIPv4(group)) return NaN
      count += 2
    } else if (isHexGroup(group)) {
      count++
    } else {
      return NaN
    }
  }
  return count
}

function isHexGroup (group) {
  if (group.length === 0 || group.length > 4) return false
  for (let i = 0; i < group.length; i++) {
    const c = group.charCodeAt(i)
    const lower = c | 0x20 // a letter in lower case
    if (!((c >= 0x30 && c <= 0x39) || (lower >= 0x61 && lower <= 0x66))) return false
  }
  return true
}

function isZone (str, from) {
  for (let i = from; i < str.length; i++) {
    const c = str.charCodeAt(i)
    const letter = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a
    if (!letter && !(c >= 0x30 && c <= 0x3a) && c !== 0x2d && c !== 0x2e) return false
  }
  return true
}

// IPv4Reg's test without the expression (V8 compiles one on its first use, 0.3 ms of a cold
// start): four decimal numbers 0 to 255 joined by dots, none with a leading zero.
function isIPv4 (str) {
  let dots = 0
  let digits = 0
  let value = 0
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i)
    if (c === 0x2e) { // '.'
      if (digits === 0 || ++dots > 3) return false
      digits = 0
      value = 0
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && value === 0) return false // a leading zero
      value = value * 10 + (c - 0x30)
      if (++digits > 3 || value > 255) return false
    } else {
      return false
    }
  }
  return dots === 3 && digits > 0
}

let BlockList // Lazily loaded: most sockets have no block list.

// Node 22.13+/23.4+ check with BlockList.isBlockList(), which Node 20 lacks;
// `instanceof` is the same test for lists made in this realm.
const validateBlockList = hideStackFrames((value, name) => {
  BlockList ??= require('net').BlockList
  const ok = typeof BlockList.isBlockList === 'function'
    ? BlockList.isBlockList(value)
    : value instanceof BlockList
  if (!ok) { throw new ERR_INVALID_ARG_TYPE(name, 'net.BlockList', value) }
})

module.exports = {
  isIP,
  isInt32,
  validateAbortSignal,
  validateBlockList,
  validateFunction,
  validateInteger,
  validateNumber,
  validateObject,
  validatePort,
  validateString,
  validateUint32
}
