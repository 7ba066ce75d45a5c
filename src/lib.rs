//! dgram-rs: node:dgram's UDP socket as a Node.js native addon.
#[napi_derive::napi]
pub fn placeholder() -> u32 {
    0
}
