//! `UdpHandle`'s methods for the opt-in metadata options and send control (see
//! `sys/control.rs`): each answers 0 (or a value) or a negative errno.

use std::io::IoSlice;

use napi::bindgen_prelude::{BufferSlice, Function};
use napi::{Env, Result};
use napi_derive::napi;

use super::UdpHandle;
use crate::sys::control::SendControl;
use crate::sys::error;
use crate::sys::socket;

#[napi]
impl UdpHandle {
    /// `receiveInfo`: `onmessage` gets each datagram's destination address, interface index,
    /// TOS, TTL, receive time and truncation as six more arguments. Returns 0 or a negative
    /// errno.
    #[napi]
    pub fn set_receive_info(&self) -> i32 {
        self.core.set_receive_info()
    }

    /// `maxMessageSize`: bytes read of each datagram (1..=65536). Returns 0 or a negative errno.
    #[napi]
    pub fn set_max_message_size(&self, size: u32) -> i32 {
        self.core.set_max_message_size(size)
    }

    /// `receiveErrors`: ICMP errors go to `onicmp(errno, origin, type, code, offender, address,
    /// port)`. Returns 0 or a negative errno.
    ///
    /// # Errors
    /// The function cannot be referenced.
    #[napi]
    pub fn set_receive_errors(&self, env: Env, onicmp: Function<'_>) -> Result<i32> {
        self.core.set_receive_errors(&env, &onicmp)
    }

    /// `IP_TOS` / `IPV6_TCLASS` (0..=255).
    #[napi(js_name = "setTOS")]
    pub fn set_tos(&self, tos: i32) -> i32 {
        self.core.set_tos(tos)
    }

    /// The TOS byte / traffic class, or a negative errno.
    #[napi(js_name = "getTOS")]
    pub fn get_tos(&self) -> i64 {
        self.core.tos()
    }

    /// Don't-fragment (`IP_MTU_DISCOVER` / `IPV6_MTU_DISCOVER`: `DO` or `DONT`).
    #[napi]
    pub fn set_dont_fragment(&self, on: bool) -> i32 {
        self.core.set_dont_fragment(on)
    }

    /// The path MTU to the connected peer (`IP_MTU` / `IPV6_MTU`), or a negative errno.
    #[napi(js_name = "getPathMTU")]
    pub fn get_path_mtu(&self) -> i64 {
        self.core.path_mtu()
    }

    /// Sends one datagram made of `list` to `ip:port` (or the connected peer when `ip` is null)
    /// for request `id`, with per-send control: `tos` (0..=255; -1 for none) and `source` (an IP
    /// literal of the socket's family). Returns bytes + 1 when sent, 0 when queued (completed by
    /// `onsend`), or a negative errno (`EINVAL` for a bad `tos` or `source`).
    #[napi]
    pub fn send_with_control(
        &self,
        list: Vec<BufferSlice<'_>>,
        port: u32,
        ip: Option<String>,
        id: u32,
        tos: i32,
        source: Option<String>,
    ) -> i64 {
        let tos = match tos {
            -1 => None,
            t => match u8::try_from(t) {
                Ok(t) => Some(t),
                Err(_) => return i64::from(error::EINVAL),
            },
        };
        let source = match source.as_deref() {
            None => None,
            Some(s) => match socket::parse_addr(self.core.family(), s, 0) {
                Ok(addr) => Some(addr.ip()),
                Err(e) => return i64::from(error::errno(&e)),
            },
        };
        let to = match self.destination(port, ip.as_deref()) {
            Ok(to) => to,
            Err(errno) => return i64::from(errno),
        };
        let parts: Vec<IoSlice<'_>> = list.iter().map(|b| IoSlice::new(b)).collect();
        self.core
            .send_with_control(&parts, to, id, SendControl { tos, source })
    }
}
