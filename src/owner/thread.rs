//! One JS thread's native state (the main thread's, or a worker's), in one place, torn down by
//! one environment cleanup hook.
//!
//! What a thread holds, whoever asks for it first:
//!
//! - its handles by number, UDP and Unix alike: each owner from `udpCreate`/`unixCreate` to
//!   `close()` (the numbering: `handle/registry.rs`), and the functions
//!   every UDP handle reports to;
//! - its reactor: the epoll set its receiving sockets are watched in (`reactor.rs`), made by
//!   the first socket that receives;
//! - its spare read buffers (`deliver.rs`);
//! - its staging area, and how deeply deliveries are nested (`staging.rs`).
//!
//! The cleanup hook is registered the first time one of them is made for an environment. At the
//! environment's teardown (a worker's end, or the main thread's exit) it closes, in this order:
//! every socket still open (each lets go of its descriptor, its watch and its JavaScript
//! references while the environment still lives), then the reactor (its poll, prepare and idle
//! handles and its timer, and whatever it still watched), then the functions, the read buffers
//! and the staging area. Sockets go first: closing one takes its watch out of the reactor, which
//! must still be there.

use crate::reactor::IdMap;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use napi::sys;

use super::{Functions, Owner};
use crate::reactor::Reactor;
use crate::sys::mmsg::Reader;
use crate::uv::{CleanupHook, RawEnv, Teardown};

/// A thread's staging area (see `staging.rs`): the array's bytes, and the reference that keeps
/// it alive, on the environment it belongs to.
#[derive(Clone, Copy)]
pub(crate) struct Area {
    pub(crate) env: sys::napi_env,
    pub(crate) bytes: *mut u8,
    pub(crate) array: sys::napi_ref,
}

/// One JS thread's native state (see the module's doc).
#[derive(Default)]
pub(crate) struct Thread {
    /// The open handles by number.
    pub(crate) owners: RefCell<IdMap<u32, Rc<Owner>>>,
    /// The number the next handle is offered (see `handle::registry::register`).
    pub(crate) next_id: Cell<u32>,
    /// The functions every UDP handle of the thread reports to.
    pub(crate) functions: RefCell<Option<Rc<Functions>>>,
    /// The thread's reactor, once a socket receives.
    reactor: RefCell<Option<Rc<Reactor>>>,
    /// Spare read buffers (`deliver.rs`).
    pub(crate) readers: RefCell<Vec<Reader>>,
    /// The staging area, once registered (`staging.rs`).
    pub(crate) area: Cell<Option<Area>>,
    /// How many deliveries are in progress (more than one: nested).
    pub(crate) depth: Cell<usize>,
    /// The environment cleanup hook, registered with the first thing that needs it.
    hook: RefCell<Option<CleanupHook<Thread>>>,
}

thread_local! {
    /// This thread's state.
    static THREAD: Rc<Thread> = Rc::new(Thread::default());
}

/// Runs `f` with this thread's state; `None` once the thread is exiting (its state is gone).
pub(crate) fn with<R>(f: impl FnOnce(&Rc<Thread>) -> R) -> Option<R> {
    THREAD.try_with(f).ok()
}

impl Thread {
    /// Registers the cleanup hook with `env`, once.
    pub(crate) fn hook_into(self: &Rc<Self>, env: RawEnv) {
        if let Ok(mut hook) = self.hook.try_borrow_mut() {
            if hook.is_none() {
                *hook = CleanupHook::add(env, Rc::clone(self));
            }
        }
    }

    /// The thread's reactor for `env`, made (with the cleanup hook) on first use.
    ///
    /// # Errors
    /// The reactor cannot be made (no loop, no memory, no epoll set), or is being made.
    pub(crate) fn reactor(self: &Rc<Self>, env: RawEnv) -> std::io::Result<Rc<Reactor>> {
        let mut slot = self
            .reactor
            .try_borrow_mut()
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EBUSY))?;
        if let Some(reactor) = slot.as_ref().filter(|r| r.env().raw() == env.raw()) {
            return Ok(Rc::clone(reactor));
        }
        let reactor = Reactor::new(env)?;
        *slot = Some(Rc::clone(&reactor));
        drop(slot);
        self.hook_into(env);
        Ok(reactor)
    }
}

impl Teardown for Thread {
    fn teardown(&self) {
        if let Some(hook) = self.hook.try_borrow_mut().ok().and_then(|mut h| h.take()) {
            hook.forget_after_run();
        }
        // The sockets first, while the reactor that watches them still stands.
        let owners: Vec<Rc<Owner>> = match self.owners.try_borrow_mut() {
            Ok(mut owners) => owners.drain().map(|(_, owner)| owner).collect(),
            Err(_) => Vec::new(),
        };
        for owner in owners {
            owner.close();
        }
        // Then the reactor: its handles on the loop, and anything it still watched.
        let reactor = self
            .reactor
            .try_borrow_mut()
            .ok()
            .and_then(|mut r| r.take());
        if let Some(reactor) = reactor {
            reactor.teardown();
        }
        // Then what only JavaScript's side needed. The staging array's reference is the
        // environment's to free, as it ends.
        if let Ok(mut functions) = self.functions.try_borrow_mut() {
            functions.take();
        }
        if let Ok(mut readers) = self.readers.try_borrow_mut() {
            readers.clear();
        }
        self.area.set(None);
    }
}
