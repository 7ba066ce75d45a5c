// examples/server.js on every core. Two ways (see docs/extensions.md, "Scale-out"):
//   node examples/multicore-server.js           cluster workers sharing one socket
//   node examples/multicore-server.js threads   worker threads, each with its own socket on the
//                                               port (reusePort), spread evenly (reusePortBalance)
const dgram = require('dgram-rs')
const cluster = require('node:cluster')
const { Worker, isMainThread } = require('node:worker_threads')
const cores = require('node:os').availableParallelism()
const threads = process.argv[2] === 'threads'

function serve (options) {
  const socket = dgram.createSocket(options)
  socket.bind(1339)
  socket.on('message', (name, rinfo) => {
    socket.send(`Hi ${name}!`, 1400, rinfo.address)
  })
}

if (threads && isMainThread) {
  for (let i = 0; i < cores; i++) new Worker(__filename, { argv: ['threads'] }) // eslint-disable-line no-new
} else if (threads) {
  serve({ type: 'udp4', reusePort: true, reusePortBalance: { receivers: cores, by: 'datagram' } })
} else if (cluster.isPrimary) {
  for (let i = 0; i < cores; i++) cluster.fork()
} else {
  serve('udp4') // a worker's bind() shares the socket the primary binds
}
