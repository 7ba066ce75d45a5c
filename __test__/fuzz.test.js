'use strict'
// Property test: random argument lists (seeded PRNG, 300 cases) for every public method, on a
// fresh and on a bound socket; dgram-rs must throw exactly what node:dgram throws (or neither
// throws), return the same thing and emit the same events. The cases run in child processes
// (helpers/fuzz-child.js) because some odd calls abort node itself; a case that aborts is recorded
// and the run resumes after it. Sockets use a `lookup` that never asks DNS, bind only loopback
// (or, through implicit binds, the wildcard) on port 0, and send only to loopback.
const assert = require('node:assert')
const { nodeCommand } = require('./helpers/node-command')
const path = require('node:path')
const { test } = require('node:test')
const { spawnSync } = require('node:child_process')
const { IMPLS, REPO_ROOT } = require('./helpers/impls')

const SEED = Number(process.env.DGRAM_FUZZ_SEED || 20240611)
const COUNT = 300
const CHILD = path.join(__dirname, 'helpers', 'fuzz-child.js')

function runAll (moduleName) {
  const results = []
  let start = 0
  for (let restarts = 0; start < COUNT && restarts < 20; restarts++) {
    const r = spawnSync(...nodeCommand([CHILD, moduleName, String(SEED), String(start), String(COUNT - start)]),
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20 })
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    results.push(...lines)
    start += lines.length
    if (start < COUNT) {
      // The case at `start` ended the process: record it and go on after it.
      results.push({ i: start, crashed: { status: r.status, signal: r.signal, stderrHead: (r.stderr || '').split('\n').find((l) => /Assertion|Error|panick/.test(l)) || '' } })
      start++
    }
  }
  return results
}

test(`fuzz: ${COUNT} random calls give the same results on both (seed ${SEED})`, { timeout: 180000 }, () => {
  const expected = runAll('node:dgram')
  assert.strictEqual(expected.length, COUNT)
  // The oracle must have done a bit of everything, so the comparison is not vacuous.
  const threw = expected.filter((c) => c.result && c.result.threw).length
  const returned = expected.filter((c) => c.result && 'returned' in c.result).length
  assert.ok(threw > 50 && returned > 50, `threw ${threw}, returned ${returned}`)
  assert.ok(new Set(expected.map((c) => c.method)).size >= 20)
  const actual = runAll(IMPLS[1].module)
  const nodeCrashes = new Set(expected.filter((c) => c.crashed).map((c) => c.i))
  const mismatches = []
  for (let i = 0; i < COUNT; i++) {
    // Where node:dgram itself aborts there is nothing to match (dgram-rs must simply not crash).
    if (nodeCrashes.has(i)) {
      if (actual[i] && actual[i].crashed) mismatches.push({ i, note: 'dgram-rs crashed where node:dgram aborted', actual: actual[i] })
      continue
    }
    try {
      assert.deepStrictEqual(actual[i], expected[i])
    } catch {
      mismatches.push({ i, expected: expected[i], actual: actual[i] })
    }
  }
  assert.deepStrictEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${COUNT} cases differ (first 5 shown)`)
})
