'use strict'

// The thread's own process.nextTick, queueMicrotask and setImmediate, for every tick dgram-rs
// schedules. node:dgram schedules through Node's internals, which no test runner can replace;
// dgram-rs's JavaScript would otherwise reach them through its globals. Jest runs a package's
// JavaScript in a vm context of its own and its modern fake timers (the default since Jest 27,
// also set in the configuration before any module loads) replace that context's process.nextTick,
// queueMicrotask and setImmediate: a dgram-rs socket then never saw 'listening', a send callback
// or 'close' until the test advanced the fake clock, while node:dgram's completed.
//
// So they are taken from where no sandbox reaches: setImmediate from the core `timers` module
// (a sandbox's require gives Node's own), process.nextTick and queueMicrotask from the thread's
// main context. Both are read once, at load, so fakes installed later on the main global (sinon's
// FakeTimers.install() in a plain Node test) do not reach them either.

const { setImmediate } = require('timers')

// The main context's global object. Loaded in that context (the usual case), it is this one:
// Node's own functions are then instances of this context's Function. In a sandbox they are not,
// and vm.runInThisContext evaluates in the main context, not the caller's (it costs about 0.4 ms,
// paid only there).
const main = setImmediate instanceof Function
  ? globalThis
  : require('vm').runInThisContext('globalThis')

module.exports = {
  nextTick: main.process.nextTick,
  queueMicrotask: main.queueMicrotask,
  setImmediate
}
