//! The handle's calls for the opt-in metadata options and send control (see
//! `sys/control.rs`): each answers 0 (or a value) or a negative errno.

use std::io::IoSlice;

use napi::bindgen_prelude::{BufferSlice, Function};
use napi::{Env, Result};
use napi_derive::napi;

use super::{destination, owner};
use crate::sys::control::SendControl;
use crate::sys::error;
use crate::sys::socket;

/// `receiveInfo`: `onmessage` gets each datagram's destination address, interface index, TOS,
/// TTL, receive time and truncation as six more arguments. Returns 0 or a negative errno.
#[napi]
pub fn udp_set_receive_info(id: u32) -> Result<i32> {
    Ok(owner(id)?.set_receive_info())
}

/// `maxMessageSize`: bytes read of each datagram (1..=65536). Returns 0 or a negative errno.
#[napi]
pub fn udp_set_max_message_size(id: u32, size: u32) -> Result<i32> {
    Ok(owner(id)?.set_max_message_size(size))
}

/// `receiveErrors`: ICMP errors go to `onicmp(errno, origin, type, code, offender, address,
/// port)`. Returns 0 or a negative errno.
///
/// # Errors
/// No such handle, or the function cannot be referenced.
#[napi]
pub fn udp_set_receive_errors(env: Env, id: u32, onicmp: Function<'_>) -> Result<i32> {
    owner(id)?.set_receive_errors(&env, &onicmp)
}

/// `IP_TOS` / `IPV6_TCLASS` (0..=255).
#[napi(js_name = "udpSetTOS")]
pub fn udp_set_tos(id: u32, tos: i32) -> Result<i32> {
    Ok(owner(id)?.set_tos(tos))
}

/// The TOS byte / traffic class, or a negative errno.
#[napi(js_name = "udpGetTOS")]
pub fn udp_get_tos(id: u32) -> Result<i64> {
    Ok(owner(id)?.tos())
}

/// Don't-fragment (`IP_MTU_DISCOVER` / `IPV6_MTU_DISCOVER`: `DO` or `DONT`).
#[napi]
pub fn udp_set_dont_fragment(id: u32, on: bool) -> Result<i32> {
    Ok(owner(id)?.set_dont_fragment(on))
}

/// The path MTU to the connected peer (`IP_MTU` / `IPV6_MTU`), or a negative errno.
#[napi(js_name = "udpGetPathMTU")]
pub fn udp_get_path_mtu(id: u32) -> Result<i64> {
    Ok(owner(id)?.path_mtu())
}

/// Sends one datagram made of `list` to `ip:port` (or the connected peer when `ip` is null) for
/// request `request`, with per-send control: `tos` (0..=255; -1 for none) and `source` (an IP
/// literal of the socket's family). Returns bytes + 1 when sent, 0 when queued (completed by
/// `onsend`), or a negative errno (`EINVAL` for a bad `tos` or `source`).
#[napi]
pub fn udp_send_with_control(
    id: u32,
    list: Vec<BufferSlice<'_>>,
    port: u32,
    ip: Option<String>,
    request: u32,
    tos: i32,
    source: Option<String>,
) -> Result<i64> {
    let core = owner(id)?;
    let tos = match tos {
        -1 => None,
        t => match u8::try_from(t) {
            Ok(t) => Some(t),
            Err(_) => return Ok(i64::from(error::EINVAL)),
        },
    };
    let source = match source.as_deref() {
        None => None,
        Some(s) => match socket::parse_addr(core.family(), s, 0) {
            Ok(addr) => Some(addr.ip()),
            Err(e) => return Ok(i64::from(error::errno(&e))),
        },
    };
    let to = match destination(&core, port, ip.as_deref()) {
        Ok(to) => to,
        Err(errno) => return Ok(i64::from(errno)),
    };
    let parts: Vec<IoSlice<'_>> = list.iter().map(|b| IoSlice::new(b)).collect();
    Ok(core.send_with_control(&parts, to, request, SendControl { tos, source }))
}
