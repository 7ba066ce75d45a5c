'use strict';

// Loads the addon that `npm install` built in this package: `napi build --platform` names it
// dgram-rs.<platform>-<arch>[-<abi>].node in the package root.
//
// Why not napi-rs's generated loader: it searches prebuilt packages for every platform (there are
// none: the addon is built on install) and reads /usr/bin/ldd to tell musl from glibc. That cost
// about 100 KB of V8's young generation at startup, which alone was enough for V8 to double the
// young generation of the benchmark's receiver (and its peak RSS by some 8 MB).

const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const prefix = `dgram-rs.${process.platform}-${process.arch}`;
const file = fs.readdirSync(root).find((f) => f.startsWith(prefix) && f.endsWith('.node'));
if (file === undefined) {
  throw new Error(`dgram-rs: no native addon for ${process.platform}-${process.arch} in ${root}; ` +
    'run `npm install` (or `npm run build`) there to build it');
}

const binding = require(path.join(root, file));

// The two calls made once per datagram sent are raw Node-API callbacks (src/fast_calls.rs),
// exported beside the class: they become its methods here.
binding.UdpHandle.prototype.send = binding.udpSend;
binding.UdpHandle.prototype.sendLater = binding.udpSendLater;

module.exports = binding;
