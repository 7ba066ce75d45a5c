'use strict'

// A cluster worker's bind without `exclusive`: node:dgram asks the primary
// process for the shared socket, and so does dgram-rs. The primary's
// node:dgram creates it and sends Node's own UDP handle; the native handle
// adopts that handle's descriptor, and the worker keeps the primary's handle
// until the socket closes (closing it tells the primary). Loaded only in a
// worker that binds so.

const { kStateSymbol } = require('./handle.js')

// Query the primary for the shared socket; `onBound` starts the socket
// listening once the native handle holds its descriptor.
function bindServerHandle (self, options, errCb, onBound) {
  const state = self[kStateSymbol]
  require('cluster')._getServer(self, options, (err, handle) => {
    if (err) {
      // Do not call callback if socket is closed
      if (state.handle) {
        errCb(err)
      }
      return
    }

    if (!state.handle) {
      // Handle has been closed in the mean time.
      return handle.close()
    }

    const openErr = state.handle.open(handle.fd, true)
    if (openErr) {
      handle.close()
      errCb(openErr)
      return
    }
    state.clusterHandle = handle
    closeWithClusterHandle(self, handle)
    onBound(self)
  })
}

// When the worker disconnects, Node's cluster closes each shared handle
// through the socket that owns it (handle[owner_symbol], private to Node), or
// else the handle alone. The handle here is the primary's, not the socket's,
// so its close() closes the socket too: otherwise the socket's duplicate of
// the descriptor kept the worker alive after disconnect.
function closeWithClusterHandle (self, handle) {
  const state = self[kStateSymbol]
  const clusterClose = handle.close
  handle.close = function (...args) {
    handle.close = clusterClose
    if (state.clusterHandle === handle) {
      state.clusterHandle = undefined
      if (state.handle) self.close()
    }
    return clusterClose.apply(handle, args)
  }
}

module.exports = { bindServerHandle }
