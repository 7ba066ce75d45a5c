'use strict';

// dgram-rs: a drop-in replacement for node:dgram. The public surface is
// exactly node:dgram's (see lib/socket.js for the Socket class).

const { deprecate } = require('util');
const { createSocket, Socket } = require('./lib/socket');
const { _createSocketHandle } = require('./lib/handle');

module.exports = {
  _createSocketHandle: deprecate(
    _createSocketHandle,
    'dgram._createSocketHandle() is deprecated',
    'DEP0112',
  ),
  createSocket,
  Socket,
};
