//! Handles by number. A handle (UDP or Unix) is, to the addon, the number it was given when it
//! was made (`udpCreate` and `unixCreate` return it to `lib/native.js`): every call names its
//! handle by that number, and finds the owner here with a hash lookup. The table itself is part
//! of the thread's state (`owner::thread`), which one cleanup hook tears down.
//!
//! Why not a native class: napi-rs's class machinery cost a socket per query more than its
//! socket did. Making an instance wrapped it (`napi_wrap`), tagged its type and filed a
//! reference to it in napi-rs's own map, and each method call unwrapped `this`, checked the tag
//! and recorded the borrow in a mutex-guarded map (about 0.7 µs a call here). A wrong number can
//! only name another live handle of the same thread, or none: never memory that is not an owner.
//!
//! An owner stays filed from its creation until `close()`, as Node's `UDPWrap` lives until its
//! handle closes: a handle dropped without `close()` keeps its socket, as with node:dgram.
//! (Forgetting it when JavaScript collects the object would take a `FinalizationRegistry`,
//! whose entries kept every handle alive through V8's young-generation collections: a socket
//! per query then took 15 % more time and 8 MB more memory.) Environment teardown (a worker's
//! end, or the main thread's exit) closes whatever is still filed, through the thread's one
//! cleanup hook.

use std::rc::Rc;

use crate::owner::thread;
use crate::owner::{Functions, Owner};
use crate::uv::RawEnv;

/// Files `owner` under a number no live handle of the thread has, and returns it; `None` only
/// while the thread's state is being torn down.
///
/// The addon numbers handles, not JavaScript: every copy of the package's JavaScript loaded in
/// one thread (Jest's per-file module registry makes one per test file) shares this table, and
/// numbers chosen by each copy collided.
pub fn register(env: RawEnv, owner: Rc<Owner>) -> Option<u32> {
    thread::with(|t| {
        let mut owners = t.owners.try_borrow_mut().ok()?;
        // A thread never has 2^32 - 1 handles open (each holds a descriptor), so a free number
        // turns up within as many tries as there are live handles.
        let mut id = t.next_id.get();
        while id == 0 || owners.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        t.next_id.set(id.wrapping_add(1));
        owners.insert(id, owner);
        drop(owners);
        t.hook_into(env);
        Some(id)
    })
    .flatten()
}

/// Takes `functions` as what every UDP handle of this thread reports to (`lib/handle.js`
/// hands them over once, when it loads; each handle is its calls' `this`).
pub fn set_functions(env: RawEnv, functions: Functions) {
    thread::with(|t| {
        if let Ok(mut slot) = t.functions.try_borrow_mut() {
            *slot = Some(Rc::new(functions));
        }
        t.hook_into(env);
    });
}

/// The functions UDP handles report to, once handed over.
pub fn functions() -> Option<Rc<Functions>> {
    thread::with(|t| t.functions.try_borrow().ok()?.clone()).flatten()
}

/// Forgets `id` (its handle has closed), and closes its owner if it is still open.
pub fn forget(id: u32) {
    // At thread exit the table may be gone already: nothing left to forget then.
    let owner = thread::with(|t| {
        t.owners
            .try_borrow_mut()
            .ok()
            .and_then(|mut owners| owners.remove(&id))
    })
    .flatten();
    if let Some(owner) = owner {
        owner.close();
    }
}

/// The owner of the handle `id`, if there is one.
pub fn find(id: u32) -> Option<Rc<Owner>> {
    thread::with(|t| t.owners.try_borrow().ok()?.get(&id).cloned()).flatten()
}
