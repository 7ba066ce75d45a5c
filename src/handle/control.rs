//! `UdpHandle`'s methods for the opt-in metadata options and send control (see
//! `sys/control.rs`): each answers 0 (or a value) or a negative errno.

use napi::bindgen_prelude::Function;
use napi::{Env, Result};
use napi_derive::napi;

use super::UdpHandle;

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
}
