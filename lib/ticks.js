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
// main context, whose global object vm.runInThisContext evaluates in (not the caller's vm
// context). Both are read once, at load, so fakes installed later on the main global (sinon's
// FakeTimers.install() in a plain Node test) do not reach them either.

const { setImmediate } = require('timers')
const main = require('vm').runInThisContext('globalThis')

module.exports = {
  nextTick: main.process.nextTick,
  queueMicrotask: main.queueMicrotask,
  setImmediate
}
