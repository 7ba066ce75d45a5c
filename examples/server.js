const dgram = require('dgram-rs')
const socket = dgram.createSocket('udp4')
socket.bind(1339)
socket.on('message', (name) => {
socket.send(`Hi ${name}!`, 1400)
})
