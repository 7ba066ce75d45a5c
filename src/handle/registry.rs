//! Handles by number. A UDP handle is, to the addon, the number it was given when it was made
//! (`udpCreate` returns it to `lib/native.js`): every call names its handle by that number, and finds the owner here with a hash
//! lookup.
//!
//! Why not a native class: napi-rs's class machinery cost a socket per query more than its
//! socket did. Making an instance wrapped it (`napi_wrap`), tagged its type and filed a
//! reference to it in napi-rs's own map, and each method call unwrapped `this`, checked the tag
//! and recorded the borrow in a mutex-guarded map (about 0.7 µs a call here). A wrong number can
//! only name another live handle of the same thread, or none: never memory that is not an owner.
//!
//! An owner stays filed from `udpCreate` until `close()`, as Node's `UDPWrap` lives until its
//! handle closes: a handle dropped without `close()` keeps its socket, as with node:dgram.
//! (Forgetting it when JavaScript collects the object would take a `FinalizationRegistry`,
//! whose entries kept every handle alive through V8's young-generation collections: a socket
//! per query then took 15 % more time and 8 MB more memory.) Environment teardown (a worker's
//! end, or the main thread's exit) closes whatever is still filed, through one cleanup hook per
//! thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::owner::{Functions, Owner};
use crate::uv::{CleanupHook, RawEnv, Teardown};

/// One thread's handles.
struct Registry {
    owners: RefCell<HashMap<u32, Rc<Owner>>>,
    /// The number the next handle is offered (see [`register`]).
    next_id: Cell<u32>,
    /// The functions every UDP handle of the thread reports to (see [`set_functions`]).
    functions: RefCell<Option<Rc<Functions>>>,
    /// The environment cleanup hook, registered with the first handle.
    hook: RefCell<Option<CleanupHook<Registry>>>,
}

thread_local! {
    /// This thread's handles.
    static REGISTRY: Rc<Registry> = Rc::new(Registry {
        owners: RefCell::new(HashMap::new()),
        next_id: Cell::new(1),
        functions: RefCell::new(None),
        hook: RefCell::new(None),
    });
}

/// Files `owner` under a number no live handle of the thread has, and returns it; `None` only
/// while the registry is being torn down.
///
/// The addon numbers handles, not JavaScript: every copy of the package's JavaScript loaded in
/// one thread (Jest's per-file module registry makes one per test file) shares this registry,
/// and numbers chosen by each copy collided.
pub fn register(env: RawEnv, owner: Rc<Owner>) -> Option<u32> {
    REGISTRY.with(|registry| {
        let mut owners = registry.owners.try_borrow_mut().ok()?;
        // A thread never has 2^32 - 1 handles open (each holds a descriptor), so a free number
        // turns up within as many tries as there are live handles.
        let mut id = registry.next_id.get();
        while id == 0 || owners.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        registry.next_id.set(id.wrapping_add(1));
        owners.insert(id, owner);
        drop(owners);
        registry.hook_into(env);
        Some(id)
    })
}

/// Takes `functions` as what every UDP handle of this thread reports to (`lib/handle.js`
/// hands them over once, when it loads; each handle is its calls' `this`).
pub fn set_functions(env: RawEnv, functions: Functions) {
    REGISTRY.with(|registry| {
        if let Ok(mut slot) = registry.functions.try_borrow_mut() {
            *slot = Some(Rc::new(functions));
        }
        registry.hook_into(env);
    });
}

/// The functions UDP handles report to, once handed over.
pub fn functions() -> Option<Rc<Functions>> {
    REGISTRY.with(|registry| registry.functions.try_borrow().ok()?.clone())
}

impl Registry {
    /// Registers the cleanup hook with `env`, once.
    fn hook_into(self: &Rc<Self>, env: RawEnv) {
        if let Ok(mut hook) = self.hook.try_borrow_mut() {
            if hook.is_none() {
                *hook = CleanupHook::add(env, Rc::clone(self));
            }
        }
    }
}

/// Forgets `id` (its handle has closed), and closes its owner if it is still open.
pub fn forget(id: u32) {
    // At thread exit the registry may be gone already: nothing left to forget then.
    let owner = REGISTRY
        .try_with(|registry| {
            registry
                .owners
                .try_borrow_mut()
                .ok()
                .and_then(|mut owners| owners.remove(&id))
        })
        .ok()
        .flatten();
    if let Some(owner) = owner {
        owner.close();
    }
}

/// The owner of the handle `id`, if there is one.
pub fn find(id: u32) -> Option<Rc<Owner>> {
    REGISTRY.with(|registry| registry.owners.try_borrow().ok()?.get(&id).cloned())
}

impl Teardown for Registry {
    fn teardown(&self) {
        if let Some(hook) = self.hook.try_borrow_mut().ok().and_then(|mut h| h.take()) {
            hook.forget_after_run();
        }
        let owners: Vec<Rc<Owner>> = match self.owners.try_borrow_mut() {
            Ok(mut owners) => owners.drain().map(|(_, owner)| owner).collect(),
            Err(_) => Vec::new(),
        };
        // While the environment still lives: an owner lets go of its JavaScript references.
        for owner in owners {
            owner.close();
        }
        if let Ok(mut functions) = self.functions.try_borrow_mut() {
            functions.take();
        }
    }
}
