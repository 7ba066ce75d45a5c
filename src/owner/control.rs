//! The owner's side of the opt-in metadata options: how the socket reads (`receiveInfo`,
//! `maxMessageSize`), the receive information as JavaScript values, and ICMP errors
//! (`receiveErrors`) read from the error queue and reported to `onicmp`, never to `onerror`.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::IpAddr;

use napi::bindgen_prelude::{Function, JsValue};
use napi::sys::napi_value;

use super::Owner;
use crate::sys::control::{self, RecvInfo};
use crate::sys::error;
use crate::sys::mmsg::ReadMode;
use crate::sys::socket::{format_ip, Family};
use crate::uv::{CallScope, JsRef, RawEnv};

/// How many queued errors one wakeup reports at most (the rest wait for the next: the poll
/// reports the socket again while its error queue is not empty).
const ERRORS_PER_WAKEUP: usize = 64;

/// The options' state, one per owner.
#[derive(Default)]
pub(super) struct State {
    /// How the socket reads.
    pub(super) read_mode: Cell<ReadMode>,
    /// `onicmp(...)`, when `receiveErrors` is on (boxed: few sockets ask for it, and every
    /// socket has this slot).
    icmp: RefCell<Option<Box<JsRef>>>,
}

impl Owner {
    /// `receiveInfo`: the kernel attaches each datagram's destination address, interface, TOS,
    /// TTL and receive time, and `onmessage` gets them. Returns 0 or a negative errno.
    pub fn set_receive_info(&self) -> i32 {
        let family = self.family;
        error::status(
            self.with_socket(|s| control::enable_receive_info(s, family))
                .map(|()| {
                    let mode = self.control.read_mode.get();
                    self.control.read_mode.set(ReadMode { info: true, ..mode });
                }),
        )
    }

    /// `maxMessageSize`: read at most `size` bytes of each datagram (a longer one is cut short,
    /// and flagged truncated with `receiveInfo`). Below the full size, receive offload is off
    /// for good (`crate::recv::offload`): a coalesced batch would be cut short too. Returns 0 or
    /// a negative errno.
    pub fn set_max_message_size(&self, size: u32) -> i32 {
        if size == 0 || size as usize > crate::sys::mmsg::SLOT_SIZE {
            return error::EINVAL;
        }
        if let Err(e) = self.with_socket(|_| Ok(())) {
            return error::errno(&e);
        }
        let mode = self.control.read_mode.get();
        self.control.read_mode.set(ReadMode { size, ..mode });
        let status = error::status(self.follow_offload(None));
        if status != 0 {
            self.control.read_mode.set(mode);
        }
        status
    }

    /// `receiveErrors`: ICMP errors queue on the socket (`IP_RECVERR`), each reported to
    /// `onicmp(errno, origin, type, code, offender, address, port)`. Returns 0 or a negative
    /// errno.
    ///
    /// # Errors
    /// The function cannot be referenced.
    pub fn set_receive_errors(&self, env: &napi::Env, onicmp: &Function<'_>) -> napi::Result<i32> {
        // SAFETY: `onicmp` is an argument of the running call, live on this env's thread.
        let Some(function) = (unsafe { JsRef::new(RawEnv::from(env), onicmp.raw()) }) else {
            return Err(napi::Error::from_reason("cannot keep the callback"));
        };
        let family = self.family;
        let status = error::status(self.with_socket(|s| control::enable_receive_errors(s, family)));
        if status == 0 {
            if let Ok(mut slot) = self.control.icmp.try_borrow_mut() {
                *slot = Some(Box::new(function));
            }
            if let Ok(mut engine) = self.sender.try_borrow_mut() {
                engine.set_retry_stale_errors(true);
            }
        }
        Ok(status)
    }

    /// Whether ICMP errors are reported (`receiveErrors`).
    pub(super) fn receives_errors(&self) -> bool {
        self.control
            .icmp
            .try_borrow()
            .map(|f| f.is_some())
            .unwrap_or(false)
    }

    /// Reads the socket's error queue and reports each ICMP error to `onicmp`. Reading the
    /// queue also clears the socket's pending error, so that it fails no later read or send.
    pub(super) fn report_errors(&self) {
        let (Some(fd), Some(callbacks)) = (self.fd(), self.callbacks()) else {
            return;
        };
        for _ in 0..ERRORS_PER_WAKEUP {
            let Some(found) = control::read_error(fd) else {
                return;
            };
            if self.closed.get() {
                return;
            }
            let Some(scope) = CallScope::open(self.env) else {
                return;
            };
            let function = match self.control.icmp.try_borrow() {
                Ok(f) => f.as_ref().and_then(|f| scope.callee(f)),
                Err(_) => None,
            };
            let Some(onicmp) = function else { return };
            let family = self.family;
            let ip = |ip: Option<IpAddr>| match ip {
                Some(ip) => scope.string(&format_ip(&(control::in_family(ip, family), 0).into())),
                None => scope.undefined(),
            };
            let (Some(errno), Some(origin), Some(kind), Some(code), Some(offender)) = (
                scope.int(-found.errno),
                scope.int(i32::from(found.origin)),
                scope.int(i32::from(found.kind)),
                scope.int(i32::from(found.code)),
                ip(found.offender),
            ) else {
                return;
            };
            let (address, port) = match found.destination {
                Some(to) => (ip(Some(to.ip())), scope.int(i32::from(to.port()))),
                None => (scope.undefined(), scope.undefined()),
            };
            let (Some(address), Some(port)) = (address, port) else {
                return;
            };
            scope.call_callee(
                &callbacks.context,
                &onicmp,
                &[errno, origin, kind, code, offender, address, port],
            );
        }
    }
}

/// The receive information as the last six arguments of `onmessage`: `localAddress`,
/// `interfaceIndex`, `tos`, `ttl`, `timestamp` (a bigint) and `truncated`. The local address
/// string is made again only when it changes.
#[derive(Default)]
pub(super) struct InfoValues(Option<(IpAddr, napi_value)>);

impl InfoValues {
    pub(super) fn values(
        &mut self,
        scope: &CallScope,
        family: Family,
        info: &RecvInfo,
    ) -> Option<[napi_value; 6]> {
        let local = match (info.local, self.0) {
            (Some(ip), Some((last, value))) if last == ip => value,
            (Some(ip), _) => {
                let value =
                    scope.string(&format_ip(&(control::in_family(ip, family), 0).into()))?;
                self.0 = Some((ip, value));
                value
            }
            (None, _) => scope.undefined()?,
        };
        let number = |n: Option<u8>| match n {
            Some(n) => scope.int(i32::from(n)),
            None => scope.undefined(),
        };
        Some([
            local,
            scope.uint(info.interface)?,
            number(info.tos)?,
            number(info.ttl)?,
            match info.timestamp {
                Some(t) => scope.bigint_u64(t)?,
                None => scope.undefined()?,
            },
            scope.boolean(info.truncated)?,
        ])
    }
}

impl Owner {
    /// `setTOS`: 0 or a negative errno (`EINVAL` for a value outside 0..=255, before `EBADF`).
    pub fn set_tos(&self, tos: i32) -> i32 {
        let family = self.family;
        match self.socket.try_borrow() {
            Ok(socket) => error::status(control::set_tos(socket.as_ref(), family, tos)),
            Err(_) => error::errno(&io::Error::from_raw_os_error(libc::EBUSY)),
        }
    }

    /// `getTOS`: the TOS byte / traffic class, or a negative errno.
    pub fn tos(&self) -> i64 {
        let family = self.family;
        match self.with_socket(|s| control::tos(s, family)) {
            Ok(tos) => i64::from(tos),
            Err(e) => i64::from(error::errno(&e)),
        }
    }

    /// `setDontFragment`: 0 or a negative errno.
    pub fn set_dont_fragment(&self, on: bool) -> i32 {
        let family = self.family;
        error::status(self.with_socket(|s| control::set_dont_fragment(s, family, on)))
    }

    /// `getPathMTU`: the path MTU to the connected peer, or a negative errno.
    pub fn path_mtu(&self) -> i64 {
        let family = self.family;
        match self.with_socket(|s| control::path_mtu(s, family)) {
            Ok(mtu) => i64::from(mtu),
            Err(e) => i64::from(error::errno(&e)),
        }
    }
}

impl Owner {
    /// Sends one datagram made of `parts` with per-send control messages, as [`Owner::send`]
    /// does (same result encoding).
    pub fn send_with_control(
        &self,
        parts: &[std::io::IoSlice<'_>],
        to: Option<std::net::SocketAddr>,
        id: u32,
        control: control::SendControl,
    ) -> i64 {
        let to = to.map(crate::sys::addr::Addr::Ip);
        self.send_one(crate::send::Datagram::new(parts, to, id).with_control(control))
    }
}
