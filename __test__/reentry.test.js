'use strict'
// Re-entry from a 'message' listener (issue 20 item 5). A listener may run the event loop itself
// (deasync's loopWhile, a synchronous wait that runs uv_run) or use other sockets of its thread;
// node:dgram delivers other sockets' datagrams meanwhile. dgram-rs must too: the thread's read
// buffer is not kept borrowed across the JavaScript call (a nested read gets a buffer of its own),
// and the listener's own socket does not keep the nested loop spinning.
const assert = require('node:assert')
const { parity, bindLoopback, until } = require('./helpers/impls')

// deasync (a devDependency) runs the loop from JavaScript; without a build for this platform the
// tests that need it are skipped.
let deasync = null
try { deasync = require('deasync') } catch {}
const NEEDS_DEASYNC = { skip: !deasync && 'deasync cannot be loaded here', timeout: 15000 }

// The scenario: `server`'s listener sends a query from `client` (both of this implementation) to a
// node:dgram echo and waits for the reply in a nested loop. With `burst`, the three requests
// arrive at once: node:dgram's nested loop then reads the server's next request too (its read
// takes one datagram at a time), so the requests' listeners nest; dgram-rs read all three at once
// and must deliver the rest in the same order, nested the same way.
async function nestedWait (ctx, burst) {
  const t = []
  const server = ctx.socket('udp4')
  const client = ctx.socket('udp4')
  const serverPort = await bindLoopback(server)
  await bindLoopback(client)
  const echo = ctx.node('udp4')
  const echoPort = await bindLoopback(echo)
  echo.on('message', (m, rinfo) => echo.send(`re:${m}`, rinfo.port, rinfo.address))
  let reply = null
  client.on('message', (m) => { t.push(`client:${m}`); reply = String(m) })
  server.on('message', (m) => {
    t.push(`server:${m}`)
    reply = null
    client.send(`q${m}`, echoPort, '127.0.0.1')
    const deadline = Date.now() + 2000
    let turns = 0
    // The nested loop: returns once the reply came (or at the deadline).
    deasync.loopWhile(() => { turns++; return reply === null && Date.now() < deadline })
    t.push(reply === null ? 'no reply in the nested loop' : `nested:${reply}`)
    // Bounded: the loop blocked in its poll between wakeups instead of spinning on a socket
    // (a spinning loop turns hundreds of thousands of times in the wait).
    t.push(turns < 1000 ? 'no spin' : `spun ${turns} times`)
  })
  const sender = ctx.node('udp4')
  await bindLoopback(sender)
  if (burst) {
    for (const m of ['1', '2', '3']) sender.send(m, serverPort, '127.0.0.1')
    await until(() => t.length >= 12, 8000, 'three requests')
  } else {
    // One request at a time: the next is sent once the listener has returned.
    for (const m of ['1', '2', '3']) {
      sender.send(m, serverPort, '127.0.0.1')
      await until(() => t.length >= 4 * Number(m), 4000, `request ${m}`)
    }
  }
  return t
}

parity('re-entry: requests arriving together nest in the listener\'s nested loop, in order', (ctx) => nestedWait(ctx, true), (t) => {
  assert.deepStrictEqual(t, [
    'server:1', 'server:2', 'server:3', 'client:re:q1', 'client:re:q2', 'client:re:q3',
    'nested:re:q3', 'no spin', 'nested:re:q3', 'no spin', 'nested:re:q3', 'no spin'
  ])
}, NEEDS_DEASYNC)

parity('re-entry: a listener that waits in a nested loop gets the reply on another socket of its thread', (ctx) => nestedWait(ctx, false), (t) => {
  assert.deepStrictEqual(t, [
    'server:1', 'client:re:q1', 'nested:re:q1', 'no spin',
    'server:2', 'client:re:q2', 'nested:re:q2', 'no spin',
    'server:3', 'client:re:q3', 'nested:re:q3', 'no spin'
  ])
}, NEEDS_DEASYNC)

parity('re-entry: a listener closes, binds and sends on other sockets of its thread, in the middle of a burst', async (ctx) => {
  const t = []
  const a = ctx.socket('udp4')
  const b = ctx.socket('udp4')
  const aPort = await bindLoopback(a)
  const bPort = await bindLoopback(b)
  const sender = ctx.node('udp4')
  await bindLoopback(sender)
  b.on('message', (m) => t.push(`b:${m}`))
  b.on('close', () => t.push('b closed'))
  let c = null
  a.on('message', (m) => {
    t.push(`a:${m}`)
    if (String(m) === '2') {
      b.close()
      c = ctx.socket('udp4')
      c.on('message', (m2) => t.push(`c:${m2}`))
      c.bind(0, '127.0.0.1', () => {
        t.push('c listening')
        a.send('to-c', c.address().port, '127.0.0.1')
      })
    }
  })
  for (const m of ['1', '2', '3', '4']) sender.send(m, aPort, '127.0.0.1')
  sender.send('never', bPort, '127.0.0.1')
  await until(() => t.includes('c:to-c') && t.includes('a:4'), 3000, 'the burst and the send')
  return t.filter((e) => e !== 'b:never')
}, (t) => {
  assert.deepStrictEqual([...t].sort(), ['a:1', 'a:2', 'a:3', 'a:4', 'b closed', 'c listening', 'c:to-c'])
})
