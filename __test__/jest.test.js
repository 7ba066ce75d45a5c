'use strict'
// Jest's modern fake timers (the default kind since Jest 27) fake process.nextTick,
// queueMicrotask and setImmediate in the vm context a test file and its modules run in. node:dgram
// schedules through Node's internals and is not affected; dgram-rs must not be either
// (lib/ticks.js). Runs the Jest tests in __test__/fixtures/jest (fake timers from a test file and
// from the configuration) on node:dgram, on dgram-rs, and on dgram-rs's fallback, and requires
// every test to pass: a tick scheduled on a fake never runs, and the test times out.
const { nodeCommand, underPrefix } = require('./helpers/node-command')
const assert = require('node:assert')
const { test } = require('node:test')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { IMPLS, REPO_ROOT } = require('./helpers/impls')

let jestBin = null
try {
  jestBin = path.join(path.dirname(require.resolve('jest/package.json')), 'bin', 'jest.js')
} catch {}
const skip = jestBin === null && 'jest is not installed (a devDependency: npm ci installs it)'

const CONFIG = path.join(__dirname, 'fixtures', 'jest', 'jest.config.js')

// What a module name is to a test file Jest runs from the fixtures folder.
function resolveImpl (name) {
  return name.startsWith('node:') ? name : require.resolve(name)
}

// Jest runs test files in worker processes it forks from process.execPath (jest-worker) when it
// has more than one core and no timings saying the files are fast; under a command prefix (an
// arm64 node under qemu-user, scripts/qemu-suite.sh) such a child cannot start, so the files run
// in Jest's own process there.
const IN_BAND = underPrefix ? ['--runInBand'] : []

// Runs the fixtures with DGRAM_JEST_IMPL = moduleName; resolves with { test name: status }.
function runJest (moduleName, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(...nodeCommand([jestBin, '--config', CONFIG, '--ci', '--json', '--testTimeout', '5000', ...IN_BAND]), {
      cwd: REPO_ROOT,
      env: { ...process.env, DGRAM_JEST_IMPL: resolveImpl(moduleName), ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      let report
      try {
        report = JSON.parse(stdout)
      } catch {
        return reject(new Error(`jest exited ${code} without a report: ${stderr}`))
      }
      const statuses = {}
      for (const file of report.testResults) {
        const project = path.basename(file.name)
        for (const a of file.assertionResults) statuses[`${project}: ${a.title}`] = a.status
      }
      resolve({ code, statuses, stderr })
    })
  })
}

const ROUND_TRIPS = {
  'use-fake-timers.jest.js: a round trip completes under jest.useFakeTimers()': 'passed',
  'config-fake-timers.jest.js: a round trip completes with fake timers enabled in the configuration': 'passed'
}
// extras.jest.js runs in both projects.
const EXTRAS = (batches, unix) => {
  const tests = {}
  for (const how of ['jest.useFakeTimers()', 'configuration']) {
    tests[`extras.jest.js: sendBatch and receiveBatches (${how})`] = batches
    tests[`extras.jest.js: a unix_dgram socket (abstract name) sends to itself and closes (${how})`] = unix
  }
  return tests
}

test('jest fake timers: node:dgram completes a round trip (the oracle)', { skip }, async () => {
  const { code, statuses, stderr } = await runJest(IMPLS[0].module)
  assert.deepStrictEqual(statuses, { ...ROUND_TRIPS, ...EXTRAS('pending', 'pending') }, stderr)
  assert.strictEqual(code, 0, stderr)
})

test('jest fake timers: dgram-rs completes the same round trip, and its additions work', { skip }, async () => {
  const { code, statuses, stderr } = await runJest(IMPLS[1].module)
  const native = require(IMPLS[1].module).native
  const expected = IMPLS[1].module === 'node:dgram'
    ? { ...ROUND_TRIPS, ...EXTRAS('pending', 'pending') }
    : { ...ROUND_TRIPS, ...EXTRAS('passed', native ? 'passed' : 'pending') }
  assert.deepStrictEqual(statuses, expected, stderr)
  assert.strictEqual(code, 0, stderr)
})

test('jest fake timers: dgram-rs\'s fallback (node:dgram with the additions in JavaScript) too', { skip: skip || (IMPLS[1].module === 'node:dgram' && 'DGRAM_TEST_SELFCHECK=1') }, async () => {
  const { code, statuses, stderr } = await runJest(IMPLS[1].module, { DGRAM_RS_FALLBACK: '1' })
  assert.deepStrictEqual(statuses, { ...ROUND_TRIPS, ...EXTRAS('passed', 'pending') }, stderr)
  assert.strictEqual(code, 0, stderr)
})
