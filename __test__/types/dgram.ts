// Type test for index.d.ts: compiled (never run) by `tsc -p __test__/types`.
// The package is imported by its own name, as users import it (package.json "exports").

import * as dgram from 'dgram-rs';
import type * as nodeDgram from 'node:dgram';
import { BlockList } from 'node:net';

// Drop-in: the module can stand wherever node:dgram is expected, and so can its sockets.
const asNode: typeof nodeDgram = dgram;
const nodeSocket: nodeDgram.Socket = dgram.createSocket('udp4');
const rsOptions: dgram.SocketOptions = { type: 'udp6', ipv6Only: true } satisfies nodeDgram.SocketOptions;

// createSocket: by type or options, with a 'message' listener.
const s = dgram.createSocket('udp4', (msg, rinfo) => {
  const b: Buffer = msg;
  const fam: 'IPv4' | 'IPv6' = rinfo.family;
  const n: number = rinfo.size + rinfo.port + b.length;
  const a: string = rinfo.address;
  void [fam, n, a];
});
const blockList = new BlockList();
const withOptions: dgram.Socket = dgram.createSocket({
  type: 'udp6',
  reuseAddr: true,
  reusePort: true,
  ipv6Only: false,
  recvBufferSize: 1 << 20,
  sendBufferSize: 1 << 20,
  receiveBlockList: blockList,
  sendBlockList: blockList,
  signal: new AbortController().signal,
  lookup: (hostname, options, callback) => callback(null, '::1', 6),
});

// bind forms return the socket.
const bound: dgram.Socket = s.bind(0, '127.0.0.1', () => {}).bind(0, () => {}).bind(() => {}).bind();
s.bind({ port: 0, address: '127.0.0.1', exclusive: true }, () => {});
s.bind({ fd: 3 });

// send forms.
s.send('x', 1234, '127.0.0.1', (err, bytes) => { const e: Error | null = err; const n: number = bytes; void [e, n]; });
s.send(Buffer.from('x'), 1234, '127.0.0.1');
s.send(['a', Buffer.from('b'), new Uint8Array(1)], 1234, (err) => void err);
s.send(new DataView(new ArrayBuffer(1)));
s.send(Buffer.alloc(4), 0, 4, 1234, '127.0.0.1', () => {});
s.send(Buffer.alloc(4), 0, 4, 1234);
s.send('abc', 0, 2, () => {});

// connect, addresses, options.
s.connect(1234, '127.0.0.1', () => {});
s.connect(1234, () => {});
const local: import('node:net').AddressInfo = s.address();
const remote = s.remoteAddress();
void [local.port, remote.family];
s.disconnect();
const ttl: number = s.setTTL(64) + s.setMulticastTTL(1);
const loop: boolean = s.setMulticastLoopback(true);
s.setBroadcast(true);
s.setMulticastInterface('127.0.0.1');
s.addMembership('224.0.0.114', '127.0.0.1');
s.dropMembership('224.0.0.114');
s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1');
s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1');
s.setRecvBufferSize(1 << 16);
s.setSendBufferSize(1 << 16);
const sizes: number = s.getRecvBufferSize() + s.getSendBufferSize() + s.getSendQueueSize() + s.getSendQueueCount();
const chained: dgram.Socket = s.ref().unref().close(() => {});
const disposed: Promise<void> = s[Symbol.asyncDispose]();

// Events.
s.on('message', (msg, rinfo) => { const b: Buffer = msg; const p: number = rinfo.port; void [b, p]; })
  .on('error', (err) => { const e: Error = err; void e; })
  .once('listening', () => {})
  .prependListener('connect', () => {})
  .addListener('close', () => {});
const emitted: boolean = s.emit('message', Buffer.from('x'), { address: '::1', family: 'IPv6', port: 1, size: 1 });

// Wrong calls are rejected.
// @ts-expect-error: not a socket type
dgram.createSocket('udp5');
// @ts-expect-error: type is required in options
dgram.createSocket({ reuseAddr: true });
// @ts-expect-error: reusePort is a boolean
dgram.createSocket({ type: 'udp4', reusePort: 'yes' });
// dgram-rs's reusePortBalance.
dgram.createSocket({ type: 'udp4', reusePort: true, reusePortBalance: { receivers: 8 } }).close();
dgram.createSocket({ type: 'udp4', reusePort: true, reusePortBalance: { receivers: 8, by: 'datagram' } }).close();
// @ts-expect-error: receivers is required
dgram.createSocket({ type: 'udp4', reusePort: true, reusePortBalance: { by: 'flow' } });
// @ts-expect-error: by is 'flow' or 'datagram'
dgram.createSocket({ type: 'udp4', reusePort: true, reusePortBalance: { receivers: 2, by: 'cpu' } });
// @ts-expect-error: a block list must be a net.BlockList
dgram.createSocket({ type: 'udp4', receiveBlockList: ['127.0.0.1'] });
// @ts-expect-error: port is a number
s.bind('1234');
// @ts-expect-error: connect needs a port
s.connect();
// @ts-expect-error: a number is not a message
s.send(42, 1234);
// @ts-expect-error: rinfo.family is 'IPv4' or 'IPv6'
const badInfo: dgram.RemoteInfo = { address: '::1', family: 'IPv5', port: 1, size: 1 };
// @ts-expect-error: setTTL takes a number
s.setTTL('64');
// @ts-expect-error: address() returns an AddressInfo, not a string
const wrong: string = s.address();

void [asNode, nodeSocket, rsOptions, withOptions, bound, ttl, loop, sizes, chained, disposed, emitted, badInfo, wrong];

// dgram-rs's batch API.
const batcher = dgram.createSocket({ type: 'udp4', receiveBatches: true });
batcher.on('messages', (messages, rinfo) => {
  const first: Buffer | undefined = messages[0];
  const from: string = rinfo.address;
  void [first, from];
});
const segmented = dgram.createSocket({ type: 'udp4', receiveBatches: 'segments' });
segmented.on('segments', (data, segmentSize, rinfo) => {
  const bytes: Buffer = data;
  const size: number = segmentSize + rinfo.size;
  void [bytes, size];
});
// @ts-expect-error: receiveBatches takes true, false, 'zero-copy' or 'segments'
dgram.createSocket({ type: 'udp4', receiveBatches: 'segment' });
batcher.sendBatch(['a', Buffer.from('b'), new Uint16Array(2)], 1234, '127.0.0.1', (err, count) => {
  const e: Error | null = err;
  const n: number = count;
  void [e, n];
});
batcher.sendBatch([Buffer.alloc(8)], 1234);
batcher.sendBatch([Buffer.alloc(8)], (err) => void err);
batcher.sendBatch(Buffer.alloc(8), 4, 1234, '127.0.0.1', (err, count) => void [err, count]);
// @ts-expect-error: the buffer form needs a segment size and a port
batcher.sendBatch(Buffer.alloc(8), 1234, '127.0.0.1');
// @ts-expect-error: a message is data, not a number
batcher.sendBatch([1, 2], 1234);

// dgram-rs: 'unix_dgram' sockets.
{
    const u = dgram.createSocket('unix_dgram', (msg, rinfo) => { const a: string = rinfo.address; void a; void msg; });
    u.bind('/tmp/x.sock', () => {});
    u.send('hi', '/tmp/y.sock', (err, bytes) => { void err; void bytes; });
    const fam: 'unix' = u.address().family;
    void fam;
    dgram.createSocket({ type: 'unix_dgram', recvBufferSize: 1 << 16 }).close();
}
// dgram-rs's receive information, send control and ICMP errors.
const meta = dgram.createSocket({ type: 'udp6', receiveInfo: true, maxMessageSize: 1500, receiveErrors: true });
meta.on('message', (msg, rinfo) => {
  const local: string | undefined = rinfo.localAddress;
  const time: bigint | undefined = rinfo.timestamp;
  const ecn = (rinfo.tos ?? 0) & 3;
  void [msg, local, time, ecn, rinfo.ttl, rinfo.interfaceIndex, rinfo.truncated];
});
meta.on('icmp', (e) => {
  const code: string = e.code;
  void [code, e.type, e.icmpCode, e.offender, e.address, e.port];
});
meta.sendWithOptions('x', { port: 1234, address: '::1', tos: 0x2e, sourceAddress: '::1' }, (err, n) => void [err, n]);
meta.sendWithOptions('x', { tos: 4 });
const tos: number = meta.setTOS(0x10) + meta.getTOS();
meta.setDontFragment(true);
const mtu: number = meta.getPathMTU();
void [tos, mtu];
// @ts-expect-error: the TOS is a number
meta.sendWithOptions('x', { tos: 'high' });
// @ts-expect-error: receiveInfo is a boolean
dgram.createSocket({ type: 'udp4', receiveInfo: 'yes' });

// dgram-rs: background receive, statistics, 'drain', the async iterator.
{
    const bg = dgram.createSocket({ type: 'udp4', backgroundReceive: { maxQueueBytes: 1 << 20 } });
    const stats = bg.getStats();
    const lost: number = stats.droppedByKernel + stats.droppedByQueue;
    bg.on('drain', () => { void lost; });
    (async () => {
        for await (const [msg, rinfo] of bg) { void msg.length; void rinfo.port; }
        for await (const [msg] of bg.messages({ highWaterMark: 16 })) { void msg; }
    })();
    // @ts-expect-error: backgroundReceive takes a boolean or { maxQueueBytes }
    dgram.createSocket({ type: 'udp4', backgroundReceive: 'yes' });
}

// bindSync / connectSync exist where the running Node's node:dgram has them.
const syncSocket = dgram.createSocket('udp4');
if (syncSocket.bindSync) {
  const bound: { port: number } = syncSocket.bindSync({ port: 0, address: '127.0.0.1' });
  syncSocket.connectSync?.(bound.port);
}
