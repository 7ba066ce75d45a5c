//! The encoder of a delivery: one `onmessage` call's arguments, made the same way by both
//! receive paths (`deliver.rs` for the JavaScript thread's own reads, `background.rs` for the
//! background reader's inbox) and decoded in one place, `lib/handle.js`:
//!
//! `onmessage(buf, address, port[, sizes][, localAddress, interfaceIndex, tos, ttl, timestamp,
//! truncated])`
//!
//! - `buf`: one datagram, as an ArrayBuffer of its own that `lib/staging.js` views as a Buffer
//!   or, when small, as a number naming its bytes in the staging area (`staging.rs`); in batch
//!   mode (`receiveBatches`), a batch's bytes, which
//!   `lib/batch.js`'s `splitBatch` cuts by `sizes`.
//! - `address`, `port`: the sender (a Unix sender: its name and port 0), made again only when it
//!   changes from one call to the next in the same handle scope.
//! - `sizes`: batch mode only (`undefined` in its place when receive information follows).
//! - the last six: the receive information (`receiveInfo`), when the read asked for it; a batch
//!   reports its first datagram's.

use napi::sys::napi_value;

use super::control::InfoValues;
use super::staging;
use crate::sys::addr::Addr;
use crate::sys::control::RecvInfo;
use crate::sys::socket::{format_ip, Family};
use crate::uv::{CallScope, RawEnv};

/// `onmessage`'s arguments at most: `buf, address, port, sizes` and the six of the receive
/// information.
pub(super) const ARGS: usize = 10;

/// One call's arguments, and how many of them are passed.
pub(super) type Call = ([napi_value; ARGS], usize);

/// Encodes the calls of one handle scope: the sender's and the local address's strings are made
/// once per run of calls that share them.
#[derive(Default)]
pub(super) struct Encoder<'a> {
    sender: Sender<'a>,
    local: InfoValues,
}

impl<'a> Encoder<'a> {
    /// One datagram's `buf`: staged in slot `slot` of the staging area when it is small enough
    /// and the slot free (a number), else an ArrayBuffer holding a copy of its bytes.
    pub(super) fn datagram(
        scope: &CallScope,
        env: RawEnv,
        slot: usize,
        bytes: &[u8],
    ) -> Option<napi_value> {
        match staging::stage(env, slot, bytes) {
            Some(code) => scope.int(code),
            None => scope.arraybuffer_copy(bytes),
        }
    }

    /// An encoder that already holds `from`'s address and port, made by an earlier call in the
    /// same handle scope (the background path's turn makes one encoder per datagram).
    pub(super) fn knowing(from: Addr<'a>, address: napi_value, port: napi_value) -> Self {
        Encoder {
            sender: Sender(Some((from, address, port))),
            local: InfoValues::default(),
        }
    }

    /// The last sender's address and port as made in this scope, for [`Encoder::knowing`].
    pub(super) fn sender_values(&self) -> Option<(napi_value, napi_value)> {
        self.sender.0.map(|(_, address, port)| (address, port))
    }

    /// The arguments of the call that delivers `buf` (and, in batch mode, its `sizes`) from
    /// `from`, with the receive information `info` when the read asked for it.
    pub(super) fn call(
        &mut self,
        scope: &CallScope,
        family: Family,
        buf: napi_value,
        sizes: Option<napi_value>,
        from: Addr<'a>,
        info: Option<&RecvInfo>,
    ) -> Option<Call> {
        let (address, port) = self.sender.values(scope, from)?;
        let mut args = [buf; ARGS];
        args[1] = address;
        args[2] = port;
        let mut argc = 3;
        if let Some(sizes) = sizes {
            args[3] = sizes;
            argc = 4;
        }
        if let Some(info) = info {
            if sizes.is_none() {
                args[3] = scope.undefined()?;
            }
            args[4..].copy_from_slice(&self.local.values(scope, family, info)?);
            argc = ARGS;
        }
        Some((args, argc))
    }
}

/// The last sender's address and port as JavaScript values, made again only when it changes. A
/// Unix sender is its name (empty when unnamed; lossy UTF-8) and port 0.
#[derive(Default)]
struct Sender<'a>(Option<(Addr<'a>, napi_value, napi_value)>);

impl<'a> Sender<'a> {
    fn values(&mut self, scope: &CallScope, from: Addr<'a>) -> Option<(napi_value, napi_value)> {
        match self.0 {
            Some((last, address, port)) if last == from => Some((address, port)),
            _ => {
                let (address, port) = match from {
                    Addr::Ip(ip) => (scope.string(&format_ip(&ip))?, ip.port()),
                    Addr::Unix(name) => (scope.string(&String::from_utf8_lossy(name))?, 0),
                };
                let port = scope.int(i32::from(port))?;
                self.0 = Some((from, address, port));
                Some((address, port))
            }
        }
    }
}
