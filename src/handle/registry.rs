//! Handles by id, for the raw calls of `fast_calls.rs` (made once per datagram sent, and once
//! per socket for its lifecycle).
//!
//! Finding a handle from `this` takes `napi_unwrap` and napi-rs's type-tag check, two
//! private-property lookups that cost about a fifth of a callback-paced sender's CPU. Instead,
//! `lib/native.js` gives each handle a number when it makes it, and passes that number; here it
//! is a hash lookup. A wrong number can only name another live handle of the same thread, or
//! none: never memory that is not an owner.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use crate::owner::Owner;

thread_local! {
    /// The owners of this thread's live handles, by id.
    static OWNERS: RefCell<HashMap<u32, Weak<Owner>>> = RefCell::new(HashMap::new());
}

/// Files `owner` under `id`; false when a live handle has it already.
pub fn register(id: u32, owner: &Rc<Owner>) -> bool {
    OWNERS.with(|owners| {
        let Ok(mut owners) = owners.try_borrow_mut() else {
            return false;
        };
        if owners.get(&id).is_some_and(|o| o.strong_count() > 0) {
            return false;
        }
        owners.insert(id, Rc::downgrade(owner));
        true
    })
}

/// Forgets `id`, if `owner` is what it names.
pub fn unregister(id: u32, owner: &Rc<Owner>) {
    // At thread exit the map may be gone already: nothing left to forget then.
    let _ = OWNERS.try_with(|owners| {
        if let Ok(mut owners) = owners.try_borrow_mut() {
            if owners
                .get(&id)
                .is_some_and(|o| std::ptr::eq(o.as_ptr(), Rc::as_ptr(owner)))
            {
                owners.remove(&id);
            }
        }
    });
}

/// The owner of the handle `id`, if it is alive.
pub fn find(id: u32) -> Option<Rc<Owner>> {
    OWNERS.with(|owners| owners.try_borrow().ok()?.get(&id)?.upgrade())
}
