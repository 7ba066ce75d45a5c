'use strict'

// Node's permission model for the network. Under `--permission` without `--allow-net` (Node 25
// added the network scope; 26 also has process.permission.drop('net')), node:dgram's C++ UDP
// handle refuses the network: bind() returns an ERR_ACCESS_DENIED error where it returns an errno
// (the socket emits 'error', "bind ERR_ACCESS_DENIED Access to this API has been restricted. Use
// --allow-net to manage permissions."), and connect() and every send() throw it; from Node 26.8,
// open(fd) (bind({ fd })) and recvStart() (a socket received from another process) throw it too.
// An addon is not asked: a program allowed addons would get the network it was denied. So the
// native handle makes the same checks, in the same methods, with the same error (checked against
// official builds 25.0, 25.9, 26.0 to 26.12).
//
// Node 20-24 have the model (20: --experimental-permission) but no network scope: has('net') is
// false there and node:dgram denies nothing, so neither does dgram-rs. Without the model,
// process.permission is undefined, and the handle class is left as it is (no cost per send).

const permission = process.permission
const netScoped = permission !== undefined &&
  process.allowedNodeEnvironmentFlags.has('--allow-net')

const [major, minor] = process.versions.node.split('.').map(Number)
const THROWING = ['connect', 'send', 'sendLater', 'sendBatch', 'sendWithControl']
if (major > 26 || (major === 26 && minor >= 8)) THROWING.push('open', 'recvStart')

const MESSAGE = 'Access to this API has been restricted. Use --allow-net to manage permissions.'

// The error Node's THROW_ERR_ACCESS_DENIED makes: a plain Error with code, permission and
// resource (the address for bind, '' elsewhere), in that order.
function accessDenied (resource, caller) {
  const err = new Error(MESSAGE)
  err.code = 'ERR_ACCESS_DENIED'
  err.permission = 'Net'
  err.resource = resource
  Error.captureStackTrace(err, caller)
  return err
}

// Whether the network is denied now: checked at every call, as Node does, because
// process.permission.drop('net') can take it away while sockets are open.
function netDenied () {
  return !permission.has('net')
}

// UdpHandle, with Node's checks where the permission model scopes the network; unchanged
// elsewhere.
function guardNet (UdpHandle) {
  if (!netScoped) return UdpHandle
  const proto = UdpHandle.prototype
  const { bind } = proto
  proto.bind = function guardedBind (ip, port, flags) {
    if (netDenied()) return accessDenied(ip, guardedBind)
    return Reflect.apply(bind, this, [ip, port, flags])
  }
  for (const name of THROWING) {
    const original = proto[name]
    proto[name] = function guarded (...args) {
      if (netDenied()) throw accessDenied('', guarded)
      return Reflect.apply(original, this, args)
    }
  }
  return UdpHandle
}

// UnixHandle ('unix_dgram' sockets), with the checks Node's own Unix sockets have where the model
// scopes the network: from Node 25, net's listen() and connect() on a path are refused
// (ERR_ACCESS_DENIED, the path as its resource). node:dgram has no Unix sockets to compare with;
// bind, connect and every send throw the same error here. The class is the addon's own, shared
// by every copy of the package in the thread: guarded once.
const kGuarded = Symbol.for('dgram-rs.netGuarded')

function guardUnix (UnixHandle) {
  if (!netScoped || UnixHandle.prototype[kGuarded]) return UnixHandle
  const proto = UnixHandle.prototype
  proto[kGuarded] = true
  // The argument naming the peer: bind(name), connect(name), send(data, name, id),
  // trySend(data, name); a connected socket's sends name none.
  for (const [name, at] of [['bind', 0], ['connect', 0], ['send', 1], ['trySend', 1]]) {
    const original = proto[name]
    proto[name] = function guarded (...args) {
      if (netDenied()) throw accessDenied(args[at] == null ? '' : `${args[at]}`, guarded)
      return Reflect.apply(original, this, args)
    }
  }
  return UnixHandle
}

// Whether err is the permission model's error, not an errno (as Node's isPermissionModelError).
function isPermissionModelError (err) {
  return typeof err === 'object' && err !== null && err.code === 'ERR_ACCESS_DENIED'
}

module.exports = { guardNet, guardUnix, isPermissionModelError }
