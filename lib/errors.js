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

// Node-style errors, ported from Node 20's lib/internal/errors.js: only the
// codes dgram needs, with Node's exact message builders. Every thrown or
// emitted error must match node:dgram's in class, `code`, `message`, own
// properties and the first line of its stack.

const util = require('util')
// lib/permission.js is loaded only for an error that is not an errno (a number): the permission
// model's refusal. Each module loaded costs every program's start-up (bench/cold-start.js).
const isPermissionModelError = (err) =>
  typeof err === 'object' && err !== null && require('./permission.js').isPermissionModelError(err)

// Node marks its own errors with a private symbol; ours has the same
// description so that Reflect.ownKeys() of a SystemError looks the same.
const kIsNodeError = Symbol('kIsNodeError')

const codes = {}
const messages = new Map()

const classRegExp = /^[A-Z][a-zA-Z0-9]*$/

// Sorted by a rough estimate on most frequently used entries.
const kTypes = [
  'string',
  'function',
  'number',
  'object',
  // Accept 'Function' and 'Object' as alternative to the lower cased version.
  'Function',
  'Object',
  'boolean',
  'bigint',
  'symbol'
]

// Node prints `${name} [${code}]: ${message}` as the first line of the stack
// of its own errors, through an internal prepareStackTrace hook that userland
// cannot reach. V8 formats `err.stack` lazily, on first read, from `err.name`:
// so read it once while the name carries the code, then restore the name
// (this is what Node itself did before the hook existed).
function addCodeToStack (err, name, code) {
  const own = Object.getOwnPropertyDescriptor(err, 'name')
  err.name = `${name} [${code}]`
  err.stack // eslint-disable-line no-unused-expressions
  if (own === undefined) {
    delete err.name
  } else {
    Object.defineProperty(err, 'name', own)
  }
}

// Validators throw through this wrapper so that, as in Node, the stack starts
// at the public method that called the validator, not inside lib/.
function hideStackFrames (fn) {
  function wrappedFn (...args) {
    try {
      return Reflect.apply(fn, this, args)
    } catch (error) {
      if (Error.stackTraceLimit) {
        Error.captureStackTrace(error, wrappedFn)
        if (error[kIsNodeError]) {
          addCodeToStack(error, error.name, error.code)
        }
      }
      throw error
    }
  }
  return wrappedFn
}

function makeNodeErrorWithCode (Base, key) {
  const msg = messages.get(key)
  return class NodeError extends Base {
    code = key

    constructor (...args) {
      if (typeof msg === 'function') {
        // As in Node: super() without a message, then `message` defined after
        // the `code` field, which fixes the order of own keys
        // (stack, code, message).
        super()
        Object.defineProperty(this, 'message', {
          __proto__: null,
          value: Reflect.apply(msg, this, args),
          enumerable: false,
          writable: true,
          configurable: true
        })
      } else {
        super(args.length === 0 ? msg : util.format(msg, ...args))
      }
      addCodeToStack(this, this.name, key)
    }

    // Node reports the base class as the constructor.
    get ['constructor'] () {
      return Base
    }

    get [kIsNodeError] () {
      return true
    }

    toString () {
      return `${this.name} [${key}]: ${this.message}`
    }
  }
}

// A specialized Error that includes an additional info property with
// additional information about the error condition (Node's SystemError, used
// here by ERR_SOCKET_BUFFER_SIZE). The context must have .code, .syscall
// and .message.
class SystemError extends Error {
  constructor (key, context) {
    super()
    const prefix = messages.get(key)
    const message = `${prefix}: ${context.syscall} returned ` +
                    `${context.code} (${context.message})`

    this.code = key

    Object.defineProperties(this, {
      [kIsNodeError]: {
        __proto__: null,
        value: true,
        enumerable: false,
        writable: false,
        configurable: true
      },
      name: {
        __proto__: null,
        value: 'SystemError',
        enumerable: false,
        writable: true,
        configurable: true
      },
      message: {
        __proto__: null,
        value: message,
        enumerable: false,
        writable: true,
        configurable: true
      },
      info: {
        __proto__: null,
        value: context,
        enumerable: true,
        configurable: true,
        writable: false
      },
      errno: {
        __proto__: null,
        get () {
          return context.errno
        },
        set: (value) => {
          context.errno = value
        },
        enumerable: true,
        configurable: true
      },
      syscall: {
        __proto__: null,
        get () {
          return context.syscall
        },
        set: (value) => {
          context.syscall = value
        },
        enumerable: true,
        configurable: true
      }
    })
    addCodeToStack(this, 'SystemError', key)
  }

  toString () {
    return `${this.name} [${this.code}]: ${this.message}`
  }

  [Symbol.for('nodejs.util.inspect.custom')] (recurseTimes, ctx) {
    return util.inspect(this, {
      ...ctx,
      getters: true,
      customInspect: false
    })
  }
}

function E (sym, val, def) {
  messages.set(sym, val)
  codes[sym] = def === SystemError
    ? class NodeError extends SystemError {
      constructor (ctx) {
        super(sym, ctx)
      }
    }
    : makeNodeErrorWithCode(def, sym)
}

// Only use this for integers! Decimal numbers do not work with this function.
function addNumericalSeparator (val) {
  let res = ''
  let i = val.length
  const start = val[0] === '-' ? 1 : 0
  for (; i >= start + 4; i -= 3) {
    res = `_${val.slice(i - 3, i)}${res}`
  }
  return `${val.slice(0, i)}${res}`
}

/**
 * Determine the specific type of a value for type-mismatch errors.
 * @param {*} value
 * @returns {string}
 */
function determineSpecificType (value) {
  if (value === null) {
    return 'null'
  } else if (value === undefined) {
    return 'undefined'
  }

  const type = typeof value

  switch (type) {
    case 'bigint':
      return `type bigint (${value}n)`
    case 'number':
      if (value === 0) {
        return 1 / value === -Infinity ? 'type number (-0)' : 'type number (0)'
      } else if (value !== value) { // eslint-disable-line no-self-compare
        return 'type number (NaN)'
      } else if (value === Infinity) {
        return 'type number (Infinity)'
      } else if (value === -Infinity) {
        return 'type number (-Infinity)'
      }
      return `type number (${value})`
    case 'boolean':
      return value ? 'type boolean (true)' : 'type boolean (false)'
    case 'symbol':
      return `type symbol (${String(value)})`
    case 'function':
      return `function ${value.name}`
    case 'object':
      if (value.constructor && 'name' in value.constructor) {
        return `an instance of ${value.constructor.name}`
      }
      return `${util.inspect(value, { depth: -1 })}`
    case 'string':
      value.length > 28 && (value = `${value.slice(0, 25)}...`)
      if (value.indexOf("'") === -1) {
        return `type string ('${value}')`
      }
      return `type string (${JSON.stringify(value)})`
    default:
      value = util.inspect(value, { colors: false })
      if (value.length > 28) {
        value = `${value.slice(0, 25)}...`
      }

      return `type ${type} (${value})`
  }
}

/**
 * Create a list string in the form like 'A and B' or 'A, B, ..., and Z'.
 * @param {string[]} array An array of strings.
 * @param {string} [type] The list type to be inserted before the last element.
 * @returns {string}
 */
function formatList (array, type = 'and') {
  switch (array.length) {
    case 0: return ''
    case 1: return `${array[0]}`
    case 2: return `${array[0]} ${type} ${array[1]}`
    case 3: return `${array[0]}, ${array[1]}, ${type} ${array[2]}`
    default:
      return `${array.slice(0, -1).join(', ')}, ${type} ${array[array.length - 1]}`
  }
}

// This used to be util._errnoException(): a failed system call, e.g.
// `getsockname EBADF` (errno is a negative libuv/errno number).
class ErrnoException extends Error {
  constructor (err, syscall, original) {
    const code = util.getSystemErrorName(err)
    const message = original
      ? `${syscall} ${code} ${original}`
      : `${syscall} ${code}`

    super(message)

    this.errno = err
    this.code = code
    this.syscall = syscall
  }

  get ['constructor'] () {
    return Error
  }
}

// A failed system call about an address, e.g. `bind EADDRINUSE 0.0.0.0:1339`.
class ExceptionWithHostPort extends Error {
  constructor (err, syscall, address, port, additional) {
    let code
    let details = ''
    if (isPermissionModelError(err)) {
      // The permission model refused the network (lib/permission.js): its code and message, as
      // Node 25+ builds this error.
      code = err.code
      details = ` ${err.message}`
    } else {
      code = util.getSystemErrorName(err)
      if (port && port > 0) {
        details = ` ${address}:${port}`
      } else if (address) {
        details = ` ${address}`
      }
      if (additional) {
        details += ` - Local (${additional})`
      }
    }

    super(`${syscall} ${code}${details}`)

    this.errno = err
    this.code = code
    this.syscall = syscall
    this.address = address
    if (port) {
      this.port = port
    }
  }

  get ['constructor'] () {
    return Error
  }
}

// What Node's C++ CollectUVExceptionInfo puts in the context of a
// SystemError: { errno, code, message, syscall }, in that order.
function uvExceptionContext (err, syscall) {
  const [code, message] = util.getSystemErrorMap().get(err) ||
    ['UNKNOWN', 'unknown error']
  return { errno: err, code, message, syscall }
}

E('ERR_BUFFER_OUT_OF_BOUNDS',
  // Using a default argument here is important so the argument is not counted
  // towards `Function#length`.
  (name = undefined) => {
    if (name) {
      return `"${name}" is outside of buffer bounds`
    }
    return 'Attempt to access memory outside buffer bounds'
  }, RangeError)
E('ERR_INVALID_ARG_TYPE',
  (name, expected, actual) => {
    if (!Array.isArray(expected)) {
      expected = [expected]
    }

    let msg = 'The '
    if (name.endsWith(' argument')) {
      // For cases like 'first argument'
      msg += `${name} `
    } else {
      const type = name.includes('.') ? 'property' : 'argument'
      msg += `"${name}" ${type} `
    }
    msg += 'must be '

    const types = []
    const instances = []
    const other = []

    for (const value of expected) {
      if (kTypes.includes(value)) {
        types.push(value.toLowerCase())
      } else if (classRegExp.exec(value) !== null) {
        instances.push(value)
      } else {
        other.push(value)
      }
    }

    // Special handle `object` in case other instances are allowed to outline
    // the differences between each other.
    if (instances.length > 0) {
      const pos = types.indexOf('object')
      if (pos !== -1) {
        types.splice(pos, 1)
        instances.push('Object')
      }
    }

    if (types.length > 0) {
      msg += `${types.length > 1 ? 'one of type' : 'of type'} ${formatList(types, 'or')}`
      if (instances.length > 0 || other.length > 0) { msg += ' or ' }
    }

    if (instances.length > 0) {
      msg += `an instance of ${formatList(instances, 'or')}`
      if (other.length > 0) { msg += ' or ' }
    }

    if (other.length > 0) {
      if (other.length > 1) {
        msg += `one of ${formatList(other, 'or')}`
      } else {
        if (other[0].toLowerCase() !== other[0]) { msg += 'an ' }
        msg += `${other[0]}`
      }
    }

    msg += `. Received ${determineSpecificType(actual)}`

    return msg
  }, TypeError)
E('ERR_INVALID_ARG_VALUE', (name, value, reason = 'is invalid') => {
  let inspected = util.inspect(value)
  if (inspected.length > 128) {
    inspected = `${inspected.slice(0, 128)}...`
  }
  const type = name.includes('.') ? 'property' : 'argument'
  return `The ${type} '${name}' ${reason}. Received ${inspected}`
}, TypeError)
E('ERR_INVALID_FD_TYPE', 'Unsupported fd type: %s', TypeError)
// Added in Node 22.13 / 23.4 with dgram's sendBlockList.
E('ERR_IP_BLOCKED', function (ip) {
  return `IP(${ip}) is blocked by net.BlockList`
}, Error)
E('ERR_MISSING_ARGS',
  (...args) => {
    let msg = 'The '
    const len = args.length
    const wrap = (a) => `"${a}"`
    args = args.map(
      (a) => (Array.isArray(a) ? a.map(wrap).join(' or ') : wrap(a))
    )
    msg += `${formatList(args)} argument${len > 1 ? 's' : ''}`
    return `${msg} must be specified`
  }, TypeError)
E('ERR_OUT_OF_RANGE',
  (str, range, input, replaceDefaultBoolean = false) => {
    let msg = replaceDefaultBoolean
      ? str
      : `The value of "${str}" is out of range.`
    let received
    if (Number.isInteger(input) && Math.abs(input) > 2 ** 32) {
      received = addNumericalSeparator(String(input))
    } else if (typeof input === 'bigint') {
      received = String(input)
      if (input > 2n ** 32n || input < -(2n ** 32n)) {
        received = addNumericalSeparator(received)
      }
      received += 'n'
    } else {
      received = util.inspect(input)
    }
    msg += ` It must be ${range}. Received ${received}`
    return msg
  }, RangeError)
E('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound', Error)
E('ERR_SOCKET_BAD_BUFFER_SIZE',
  'Buffer size must be a positive integer', TypeError)
E('ERR_SOCKET_BAD_PORT', (name, port, allowZero = true) => {
  const operator = allowZero ? '>=' : '>'
  return `${name} should be ${operator} 0 and < 65536. Received ${determineSpecificType(port)}.`
}, RangeError)
E('ERR_SOCKET_BAD_TYPE',
  'Bad socket type specified. Valid types are: udp4, udp6', TypeError)
E('ERR_SOCKET_BUFFER_SIZE',
  'Could not get or set buffer size',
  SystemError)
E('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected', Error)
E('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected', Error)
E('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running', Error)
// dgram-rs: a UDP-only method called on a 'unix_dgram' socket.
E('ERR_SOCKET_UNSUPPORTED_FOR_TYPE',
  (method, type) => `${method}() is not supported on a '${type}' socket: it is UDP-only`,
  Error)

module.exports = {
  codes,
  ErrnoException,
  ExceptionWithHostPort,
  hideStackFrames,
  SystemError,
  uvExceptionContext
}
