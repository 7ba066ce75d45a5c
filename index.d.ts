// Types of dgram-rs: node:dgram's API, declared as @types/node declares the
// `dgram` module (same overloads and event signatures), plus the options
// dgram-rs offers on every Node version: reusePort, receiveBlockList and
// sendBlockList (Node 22.12+/23.4+).

import { NonSharedBuffer } from 'node:buffer';
import { AddressInfo, BlockList } from 'node:net';
import * as dns from 'node:dns';
import { Abortable, EventEmitter } from 'node:events';

/** The sender of a received datagram. */
export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  /** The message size. */
  size: number;
  /**
   * dgram-rs only, with `receiveInfo: true`: the datagram's destination address (one of this
   * host's, e.g. `'127.0.0.2'` on a socket bound to `0.0.0.0`; IPv4-mapped on a `udp6` socket).
   */
  localAddress?: string | undefined;
  /** dgram-rs only, with `receiveInfo`: the index of the interface it arrived on. */
  interfaceIndex?: number | undefined;
  /** dgram-rs only, with `receiveInfo`: the whole TOS / traffic-class byte (ECN: `tos & 3`). */
  tos?: number | undefined;
  /** dgram-rs only, with `receiveInfo`: the TTL / hop limit it arrived with. */
  ttl?: number | undefined;
  /**
   * dgram-rs only, with `receiveInfo`: kernel receive time, nanoseconds since the epoch. With
   * `receiveBatches`, the batch's first datagram's.
   */
  timestamp?: bigint | undefined;
  /** dgram-rs only, with `receiveInfo`: longer than `maxMessageSize`, so cut short. */
  truncated?: boolean | undefined;
}

/** dgram-rs only: an ICMP (or local) error, with `receiveErrors: true` (the `'icmp'` event). */
export interface IcmpError {
  /** The error's name, e.g. `'ECONNREFUSED'` for a port unreachable. */
  code: string;
  /** Its negative errno. */
  errno: number;
  /** Who reported it: `'icmp'`, `'icmp6'`, `'local'` (or the kernel's number for others). */
  origin: 'icmp' | 'icmp6' | 'local' | 'none' | number;
  /** The ICMP message's type (3 / 1: destination unreachable). */
  type: number;
  /** The ICMP message's code (3 / 4: port unreachable). */
  icmpCode: number;
  /** The host or router that sent the ICMP message. */
  offender: string | undefined;
  /** The failed datagram's destination address and port. */
  address: string | undefined;
  port: number | undefined;
}

/** dgram-rs only: `sendWithOptions(msg, options, callback)`. */
export interface SendOptions {
  /** Destination (unconnected sockets, and only those): as `send(msg, port, address)`. */
  port?: number | undefined;
  address?: string | undefined;
  /** This datagram's TOS / traffic class (0..255). */
  tos?: number | undefined;
  /** This datagram's source address: one of this host's, of the socket's family. */
  sourceAddress?: string | undefined;
}

export interface BindOptions {
  port?: number | undefined;
  address?: string | undefined;
  exclusive?: boolean | undefined;
  /** Adopt this already-open UDP socket instead of creating one. */
  fd?: number | undefined;
}

export type SocketType = 'udp4' | 'udp6';

export interface SocketOptions extends Abortable {
  type: SocketType;
  /** SO_REUSEADDR: bind() reuses the address even if another socket bound it. */
  reuseAddr?: boolean | undefined;
  /** SO_REUSEPORT: sockets bound to the same port share the datagrams (Node 22.12+). */
  reusePort?: boolean | undefined;
  /** A udp6 socket bound to `::` does not also receive IPv4. */
  ipv6Only?: boolean | undefined;
  /** SO_RCVBUF, set at bind. */
  recvBufferSize?: number | undefined;
  /** SO_SNDBUF, set at bind. */
  sendBufferSize?: number | undefined;
  /** Host name resolution (default: `dns.lookup`). */
  lookup?:
    | ((
      hostname: string,
      options: dns.LookupOneOptions,
      callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
    ) => void)
    | undefined;
  /** Datagrams from these senders are dropped (Node 23.4+). */
  receiveBlockList?: BlockList | undefined;
  /** Sending or connecting to these addresses fails with ERR_IP_BLOCKED (Node 23.4+). */
  sendBlockList?: BlockList | undefined;
  /**
   * dgram-rs only: emit `'messages'` once per read and sender (what one wakeup's read took from
   * one sender, as Buffer views) instead of `'message'` per datagram. With `'zero-copy'`, the
   * views are of the socket's read buffers themselves, valid while the `'messages'` listeners
   * run: afterwards they are empty (length 0). Copy what you keep. With `'segments'`, emit
   * `'segments'` once per run of equal-size datagrams instead: `data`'s consecutive
   * `segmentSize`-byte slices (the last may be shorter; an empty `data` is one empty datagram),
   * lent as with `'zero-copy'`.
   */
  receiveBatches?: boolean | 'zero-copy' | 'segments' | undefined;
  /**
   * dgram-rs only, Linux (`SO_ATTACH_REUSEPORT_CBPF`), with `reusePort: true`: spread the
   * datagrams of this port's `reusePort` group evenly over `receivers` sockets (in the order they
   * bound), instead of the kernel's flow hash, which can leave sockets idle. `by: 'flow'` (the
   * default) keeps each sender on one socket: (source address + port) % receivers; `'datagram'`
   * picks a random socket per datagram, even with a single sender, but one sender's datagrams then
   * spread over sockets. Applied when the socket binds (a failure is a `'setsockopt'` error).
   */
  reusePortBalance?: ReusePortBalance | undefined;
  /**
   * dgram-rs only: a runtime thread reads the socket, even while JavaScript is busy, into an
   * inbox of at most `maxQueueBytes` (default 8 MiB; what of a read does not fit is dropped and
   * counted in `getStats().droppedByQueue`, and the thread reads no more until JavaScript has
   * emptied the inbox). Delivery is as on the default path.
   */
  backgroundReceive?: boolean | { maxQueueBytes?: number | undefined } | undefined;
  /** dgram-rs only: add the receive information to every rinfo (see `RemoteInfo`). */
  receiveInfo?: boolean | undefined;
  /**
   * dgram-rs only: bytes read of each datagram, 1..65536 (default 65536). A longer datagram is
   * cut short (`rinfo.truncated` with `receiveInfo`). Below 65536, receive offload (GRO) is off.
   */
  maxMessageSize?: number | undefined;
  /**
   * dgram-rs only: report ICMP errors (`IP_RECVERR`) as `'icmp'` events, never as `'error'`; a
   * pending one never fails a later send.
   */
  receiveErrors?: boolean | undefined;
}

/** dgram-rs only: what a socket has received, sent and lost (`socket.getStats()`). */
export interface SocketStats {
  /**
   * Datagrams taken from the kernel (read; with `backgroundReceive`, put in the inbox). A read
   * can hold more than one loop iteration delivers: what `close()` finds read but not yet
   * delivered is counted here and discarded, as node:dgram's close discards the kernel's queue.
   */
  datagramsReceived: number;
  bytesReceived: number;
  datagramsSent: number;
  bytesSent: number;
  /**
   * The kernel's own drop count for the socket (`sk_drops`; a full receive buffer, mostly), in
   * the kernel's unit: a packet. A datagram that arrives on its own is one packet. With receive
   * offload on (turned on by the first read that comes back full; never with `maxMessageSize`
   * below 65536), a batch that a GSO sender sent in one call (dgram-rs's `sendBatch`, gathered
   * sends) reaches the socket as one packet of up to 64 datagrams, and a dropped one counts once.
   * So `datagramsReceived + droppedByKernel + droppedByQueue` equals what was sent to the socket
   * when datagrams arrive one by one, and understates the loss under a GSO sender's flood.
   */
  droppedByKernel: number;
  /**
   * Datagrams a full `backgroundReceive` inbox dropped: the part of a read that did not fit (the
   * thread then reads no more until the inbox is empty, and the kernel drops what its buffer
   * cannot hold meanwhile, in `droppedByKernel`).
   */
  droppedByQueue: number;
}

/** dgram-rs only: options of `socket.messages()`. */
export interface MessagesOptions {
  /** Datagrams held before reading pauses (default 1024). */
  highWaterMark?: number | undefined;
}

/** How a `reusePort` group spreads its datagrams (see `SocketOptions.reusePortBalance`). */
export interface ReusePortBalance {
  /** How many sockets the group will have: an integer, 1 to 65535. */
  receivers: number;
  /** `'flow'` (default) or `'datagram'`. */
  by?: 'flow' | 'datagram' | undefined;
}

/** The data of one datagram, as `sendBatch` takes it. */
export type BatchMessage = string | NodeJS.ArrayBufferView;

/** Creates a UDP socket; `callback` is added as a `'message'` listener. */
/** dgram-rs: the sender of a datagram on a 'unix_dgram' socket: its name, '' when unnamed. */
export interface UnixRemoteInfo {
    address: string;
    family: 'unix';
    size: number;
}

/** dgram-rs: a Unix socket name (a path, or on Linux an abstract name starting with '\0'). */
export interface UnixAddressInfo {
    address: string;
    family: 'unix';
}

/** dgram-rs: options of a 'unix_dgram' socket. */
export interface UnixSocketOptions {
    type: 'unix_dgram';
    recvBufferSize?: number | undefined;
    sendBufferSize?: number | undefined;
}

/**
 * dgram-rs: a Unix datagram socket (AF_UNIX, SOCK_DGRAM; Linux). node:dgram's Socket with
 * socket names for addresses; the UDP-only methods throw ERR_SOCKET_UNSUPPORTED_FOR_TYPE.
 */
export interface UnixSocket extends EventEmitter {
    readonly type: 'unix_dgram';
    bind(path: string | { path: string }, callback?: () => void): this;
    connect(path: string, callback?: (err?: Error) => void): void;
    disconnect(): void;
    send(msg: BatchMessage | readonly BatchMessage[], path: string, callback?: (error: Error | null, bytes?: number) => void): void;
    send(msg: BatchMessage | readonly BatchMessage[], offset: number, length: number, path: string, callback?: (error: Error | null, bytes?: number) => void): void;
    send(msg: BatchMessage | readonly BatchMessage[], callback?: (error: Error | null, bytes?: number) => void): void;
    send(msg: BatchMessage | readonly BatchMessage[], offset: number, length: number, callback?: (error: Error | null, bytes?: number) => void): void;
    address(): UnixAddressInfo;
    remoteAddress(): UnixAddressInfo;
    close(callback?: () => void): this;
    ref(): this;
    unref(): this;
    setRecvBufferSize(size: number): void;
    setSendBufferSize(size: number): void;
    getRecvBufferSize(): number;
    getSendBufferSize(): number;
    getSendQueueSize(): number;
    getSendQueueCount(): number;
    [Symbol.asyncDispose](): Promise<void>;
    on(event: 'message', listener: (msg: NonSharedBuffer, rinfo: UnixRemoteInfo) => void): this;
    on(event: 'close' | 'connect' | 'listening', listener: () => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    once(event: 'message', listener: (msg: NonSharedBuffer, rinfo: UnixRemoteInfo) => void): this;
    once(event: 'close' | 'connect' | 'listening', listener: () => void): this;
    once(event: 'error', listener: (err: Error) => void): this;
}

export function createSocket(type: 'unix_dgram', callback?: (msg: NonSharedBuffer, rinfo: UnixRemoteInfo) => void): UnixSocket;
export function createSocket(options: UnixSocketOptions, callback?: (msg: NonSharedBuffer, rinfo: UnixRemoteInfo) => void): UnixSocket;
export function createSocket(type: SocketType, callback?: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): Socket;
export function createSocket(options: SocketOptions, callback?: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): Socket;

/** A UDP socket. Create it with `createSocket()`. */
export class Socket extends EventEmitter {
  addMembership(multicastAddress: string, multicastInterface?: string): void;
  address(): AddressInfo;
  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: BindOptions, callback?: () => void): this;
  /**
   * Binds at once to an IP literal and returns the address; `'listening'` follows on the next
   * tick. Only where the running Node's node:dgram has it (24.19+, 26.4+): test before use.
   */
  bindSync?(options?: { port?: number | undefined; address?: string | undefined }): AddressInfo;
  close(callback?: () => void): this;
  connect(port: number, address?: string, callback?: () => void): void;
  connect(port: number, callback: () => void): void;
  /** Connects at once to an IP literal (binding first if needed); as `bindSync`, Node 24.19+, 26.4+. */
  connectSync?(port: number, address?: string): void;
  disconnect(): void;
  dropMembership(multicastAddress: string, multicastInterface?: string): void;
  getRecvBufferSize(): number;
  getSendBufferSize(): number;
  getSendQueueSize(): number;
  getSendQueueCount(): number;
  /**
   * dgram-rs only: sends `messages` as datagrams, in order, in as few syscalls as the kernel
   * allows (runs of equal-size datagrams leave up to 64 per syscall, with UDP segmentation
   * offload). `callback(err, count)` reports how many were accepted.
   */
  sendBatch(messages: readonly BatchMessage[], port: number, address?: string, callback?: (error: Error | null, count: number) => void): void;
  sendBatch(messages: readonly BatchMessage[], port: number, callback?: (error: Error | null, count: number) => void): void;
  /**
   * dgram-rs only: sends consecutive `segmentSize`-byte slices of `buffer` (the last may be
   * shorter) as datagrams, straight from the buffer.
   */
  sendBatch(buffer: NodeJS.ArrayBufferView, segmentSize: number, port: number, address?: string, callback?: (error: Error | null, count: number) => void): void;
  sendBatch(buffer: NodeJS.ArrayBufferView, segmentSize: number, port: number, callback?: (error: Error | null, count: number) => void): void;
  /** dgram-rs only: `sendBatch(buffer, segmentSize)` on a connected socket. */
  sendBatch(buffer: NodeJS.ArrayBufferView, segmentSize: number, callback?: (error: Error | null, count: number) => void): void;
  /** dgram-rs only: `sendBatch` on a connected socket. */
  sendBatch(messages: readonly BatchMessage[], callback?: (error: Error | null, count: number) => void): void;
  ref(): this;
  remoteAddress(): AddressInfo;
  send(
    msg: string | NodeJS.ArrayBufferView | readonly any[],
    port?: number,
    address?: string,
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  send(
    msg: string | NodeJS.ArrayBufferView | readonly any[],
    port?: number,
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  send(
    msg: string | NodeJS.ArrayBufferView | readonly any[],
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  send(
    msg: string | NodeJS.ArrayBufferView,
    offset: number,
    length: number,
    port?: number,
    address?: string,
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  send(
    msg: string | NodeJS.ArrayBufferView,
    offset: number,
    length: number,
    port?: number,
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  send(
    msg: string | NodeJS.ArrayBufferView,
    offset: number,
    length: number,
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  setBroadcast(flag: boolean): void;
  setMulticastInterface(multicastInterface: string): void;
  setMulticastLoopback(flag: boolean): boolean;
  setMulticastTTL(ttl: number): number;
  setRecvBufferSize(size: number): void;
  setSendBufferSize(size: number): void;
  setTTL(ttl: number): number;
  /** dgram-rs only: sends with per-datagram TOS and source address (`send()`'s forms are node:dgram's). */
  sendWithOptions(
    msg: string | NodeJS.ArrayBufferView | readonly any[],
    options: SendOptions,
    callback?: (error: Error | null, bytes: number) => void,
  ): void;
  /** dgram-rs only: the TOS / traffic class of every datagram sent (0..255). */
  setTOS(tos: number): number;
  /** dgram-rs only. */
  getTOS(): number;
  /** dgram-rs only: the DF bit (path-MTU discovery); larger sends fail with `EMSGSIZE`. */
  setDontFragment(flag: boolean): void;
  /** dgram-rs only, connected sockets: the kernel's path MTU to the peer. */
  getPathMTU(): number;
  /** dgram-rs only: received, sent and dropped datagrams (after `close()`, as at closing). */
  getStats(): SocketStats;
  /**
   * dgram-rs only: the datagrams as `[msg, rinfo]` pairs; holds at most `highWaterMark` (plus
   * one read) and pauses reading meanwhile, when every `'message'`/`'messages'` listener of the
   * socket is a full iterator (beside another consumer it keeps what comes instead, so as not to
   * starve it); ends at `close()` (at once on a closed socket), throws the socket's error.
   */
  messages(options?: MessagesOptions): AsyncIterableIterator<[NonSharedBuffer, RemoteInfo]>;
  /** dgram-rs only: `for await (const [msg, rinfo] of socket)`, as `messages()`. */
  [Symbol.asyncIterator](): AsyncIterableIterator<[NonSharedBuffer, RemoteInfo]>;
  unref(): this;
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, multicastInterface?: string): void;
  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, multicastInterface?: string): void;
  /**
   * events.EventEmitter
   * 1. close
   * 2. connect
   * 3. error
   * 4. listening
   * 5. message
   */
  addListener(event: string, listener: (...args: any[]) => void): this;
  addListener(event: 'close', listener: () => void): this;
  addListener(event: 'connect', listener: () => void): this;
  addListener(event: 'error', listener: (err: Error) => void): this;
  addListener(event: 'listening', listener: () => void): this;
  addListener(event: 'message', listener: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches`: what one read gave, from one sender. */
  addListener(event: 'messages', listener: (messages: NonSharedBuffer[], rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches: 'segments'`: a run of equal-size datagrams, `data`'s `segmentSize`-byte slices. */
  addListener(event: 'segments', listener: (data: NonSharedBuffer, segmentSize: number, rinfo: RemoteInfo) => void): this;
  emit(event: string | symbol, ...args: any[]): boolean;
  emit(event: 'close'): boolean;
  emit(event: 'connect'): boolean;
  emit(event: 'error', err: Error): boolean;
  emit(event: 'listening'): boolean;
  emit(event: 'message', msg: NonSharedBuffer, rinfo: RemoteInfo): boolean;
  emit(event: 'messages', messages: NonSharedBuffer[], rinfo: RemoteInfo): boolean;
  emit(event: 'segments', data: NonSharedBuffer, segmentSize: number, rinfo: RemoteInfo): boolean;
  on(event: string, listener: (...args: any[]) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'connect', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'listening', listener: () => void): this;
  on(event: 'message', listener: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches`: what one read gave, from one sender. */
  on(event: 'messages', listener: (messages: NonSharedBuffer[], rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches: 'segments'`: a run of equal-size datagrams, `data`'s `segmentSize`-byte slices. */
  on(event: 'segments', listener: (data: NonSharedBuffer, segmentSize: number, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveErrors`: one ICMP error. */
  on(event: 'icmp', listener: (error: IcmpError) => void): this;
  /** dgram-rs only: the send queue that filled when the socket buffer was full has emptied. */
  on(event: 'drain', listener: () => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  once(event: 'close', listener: () => void): this;
  once(event: 'connect', listener: () => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'listening', listener: () => void): this;
  once(event: 'message', listener: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches`: what one read gave, from one sender. */
  once(event: 'messages', listener: (messages: NonSharedBuffer[], rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches: 'segments'`: a run of equal-size datagrams, `data`'s `segmentSize`-byte slices. */
  once(event: 'segments', listener: (data: NonSharedBuffer, segmentSize: number, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveErrors`: one ICMP error. */
  once(event: 'icmp', listener: (error: IcmpError) => void): this;
  /** dgram-rs only: the send queue that filled when the socket buffer was full has emptied. */
  once(event: 'drain', listener: () => void): this;
  prependListener(event: string, listener: (...args: any[]) => void): this;
  prependListener(event: 'close', listener: () => void): this;
  prependListener(event: 'connect', listener: () => void): this;
  prependListener(event: 'error', listener: (err: Error) => void): this;
  prependListener(event: 'listening', listener: () => void): this;
  prependListener(event: 'message', listener: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches`: what one read gave, from one sender. */
  prependListener(event: 'messages', listener: (messages: NonSharedBuffer[], rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches: 'segments'`: a run of equal-size datagrams, `data`'s `segmentSize`-byte slices. */
  prependListener(event: 'segments', listener: (data: NonSharedBuffer, segmentSize: number, rinfo: RemoteInfo) => void): this;
  prependOnceListener(event: string, listener: (...args: any[]) => void): this;
  prependOnceListener(event: 'close', listener: () => void): this;
  prependOnceListener(event: 'connect', listener: () => void): this;
  prependOnceListener(event: 'error', listener: (err: Error) => void): this;
  prependOnceListener(event: 'listening', listener: () => void): this;
  prependOnceListener(event: 'message', listener: (msg: NonSharedBuffer, rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches`: what one read gave, from one sender. */
  prependOnceListener(event: 'messages', listener: (messages: NonSharedBuffer[], rinfo: RemoteInfo) => void): this;
  /** dgram-rs only, with `receiveBatches: 'segments'`: a run of equal-size datagrams, `data`'s `segmentSize`-byte slices. */
  prependOnceListener(event: 'segments', listener: (data: NonSharedBuffer, segmentSize: number, rinfo: RemoteInfo) => void): this;
  /** Calls `close()` and resolves once the socket has closed. */
  [Symbol.asyncDispose](): Promise<void>;
}
