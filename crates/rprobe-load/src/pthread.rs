//! Threads, a mutex and a condition variable over libc's pthread functions, for the parallel
//! loader. Rust's std waits with syscall(SYS_futex) (its Mutex under contention and on
//! unlock with waiters, its Condvar on every notify, `thread::scope` when the calling thread
//! waits for the others); glibc's pthread functions wait with futex calls of their own that
//! do not go through the exported syscall() function. LD_PRELOAD tools that replace
//! syscall() and refuse the numbers they do not know (kmod's testsuite fake init_module.so,
//! which knows only finit_module and gettid) then see a parallel load make only the module
//! calls, as they see a C program's.
//!
//! Only what the loader needs: no poisoning (a panic is caught where the thread starts and
//! raised again in the thread that started it), no timeouts.
#![expect(
    unsafe_code,
    reason = "calls pthread_create/join and the pthread mutex and condition variable"
)]

use std::any::Any;
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// A pthread mutex, boxed: POSIX does not let an initialised mutex move.
struct RawMutex(Box<UnsafeCell<libc::pthread_mutex_t>>);

impl RawMutex {
    fn new() -> RawMutex {
        RawMutex(Box::new(UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER)))
    }

    fn get(&self) -> *mut libc::pthread_mutex_t {
        self.0.get()
    }
}

impl Drop for RawMutex {
    fn drop(&mut self) {
        // SAFETY: the mutex was initialised by PTHREAD_MUTEX_INITIALIZER and, being dropped,
        // is not borrowed: no guard holds it and no thread waits on it.
        unsafe { libc::pthread_mutex_destroy(self.get()) };
    }
}

/// A mutual exclusion lock around a `T` (a pthread mutex of the default type).
pub(crate) struct Mutex<T> {
    raw: RawMutex,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and a guard exists only while the
// pthread mutex is held, so one thread at a time has it; T moves between threads, hence Send.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as for Send: shared references only lock, and the lock serialises access to T.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// An unlocked mutex around `value`.
    pub(crate) fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::new(),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock; it is released when the guard is dropped.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // SAFETY: the mutex is initialised and lives as long as `self`. A default-type mutex
        // fails only when misused (locked twice by one thread deadlocks instead): the guard
        // below is the only way to unlock it, once.
        let r = unsafe { libc::pthread_mutex_lock(self.raw.get()) };
        debug_assert_eq!(r, 0, "pthread_mutex_lock");
        MutexGuard { mutex: self }
    }

    /// The value, the mutex gone.
    pub(crate) fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

/// The lock held: derefs to the value, unlocks when dropped.
pub(crate) struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock: no other thread reaches the value meanwhile.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only reference
        // through it.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread locked the mutex when it made the guard and has not unlocked it.
        let r = unsafe { libc::pthread_mutex_unlock(self.mutex.raw.get()) };
        debug_assert_eq!(r, 0, "pthread_mutex_unlock");
    }
}

/// A pthread condition variable, used with one [`Mutex`] at a time.
pub(crate) struct Condvar(Box<UnsafeCell<libc::pthread_cond_t>>);

// SAFETY: a pthread condition variable is made to be waited on and signalled from any
// thread; it holds no thread-local state.
unsafe impl Send for Condvar {}
// SAFETY: as for Send.
unsafe impl Sync for Condvar {}

impl Condvar {
    /// A condition variable nobody waits on.
    pub(crate) fn new() -> Condvar {
        Condvar(Box::new(UnsafeCell::new(libc::PTHREAD_COND_INITIALIZER)))
    }

    /// Releases the guard's lock, waits for a notification (or a spurious wake-up: callers
    /// check their condition in a loop) and takes the lock again.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        // SAFETY: both are initialised and outlive the call; the guard proves this thread
        // holds the mutex, as pthread_cond_wait requires, and it holds it again on return.
        let r = unsafe { libc::pthread_cond_wait(self.0.get(), guard.mutex.raw.get()) };
        debug_assert_eq!(r, 0, "pthread_cond_wait");
        guard
    }

    /// Wakes every thread waiting.
    pub(crate) fn notify_all(&self) {
        // SAFETY: the condition variable is initialised and lives as long as `self`.
        let r = unsafe { libc::pthread_cond_broadcast(self.0.get()) };
        debug_assert_eq!(r, 0, "pthread_cond_broadcast");
    }
}

impl Drop for Condvar {
    fn drop(&mut self) {
        // SAFETY: initialised, and being dropped, so no thread waits on it.
        unsafe { libc::pthread_cond_destroy(self.0.get()) };
    }
}

/// What the threads of [`run`] share: the work, and the first panic of a thread.
struct Shared<'a> {
    work: &'a (dyn Fn() + Sync),
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `&Shared` that `run` passed to pthread_create; `run` joins this
    // thread before that borrow ends.
    let shared = unsafe { &*arg.cast::<Shared>() };
    // A panic must not unwind out of a C function: it is kept and raised by `run`.
    if let Err(p) = catch_unwind(AssertUnwindSafe(shared.work)) {
        let mut first = shared.panic.lock();
        if first.is_none() {
            *first = Some(p);
        }
    }
    std::ptr::null_mut()
}

/// Runs `work` on the calling thread and on up to `extra` more threads (pthread_create;
/// fewer when the system makes no more), and returns when all of them have returned. A
/// panic in any of them is raised again here, after every thread has ended (the calling
/// thread's first). Returns how many threads ran `work`, the calling one included.
pub(crate) fn run(extra: usize, work: &(dyn Fn() + Sync)) -> usize {
    let shared = Shared {
        work,
        panic: Mutex::new(None),
    };
    let arg = std::ptr::from_ref(&shared)
        .cast_mut()
        .cast::<libc::c_void>();
    let mut threads: Vec<libc::pthread_t> = Vec::with_capacity(extra);
    for _ in 0..extra {
        let mut t = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
        // SAFETY: `t` is written by pthread_create before it is read (only on success);
        // `start` only reads `shared` through `arg`, and every thread made here is joined
        // below, before `shared` goes out of scope.
        let r = unsafe { libc::pthread_create(t.as_mut_ptr(), std::ptr::null(), start, arg) };
        if r != 0 {
            // The work is shared out among whoever runs it: fewer threads still finish it.
            break;
        }
        // SAFETY: pthread_create succeeded, so it wrote the thread's id.
        threads.push(unsafe { t.assume_init() });
    }
    let ran = threads.len() + 1;
    let mine = catch_unwind(AssertUnwindSafe(work));
    for t in threads {
        // SAFETY: `t` was made joinable by pthread_create above and is joined once.
        let r = unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
        debug_assert_eq!(r, 0, "pthread_join");
    }
    if let Err(p) = mine {
        resume_unwind(p);
    }
    if let Some(p) = shared.panic.into_inner() {
        resume_unwind(p);
    }
    ran
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_a_counter_and_wake_each_other() {
        let m = Mutex::new((0usize, 0usize));
        let cv = Condvar::new();
        let ran = run(3, &|| {
            let mut g = m.lock();
            g.0 += 1;
            cv.notify_all();
            while g.0 < 4 {
                g = cv.wait(g);
            }
            g.1 += 1;
        });
        assert_eq!(ran, 4);
        assert_eq!(m.into_inner(), (4, 4));
    }

    #[test]
    fn a_panic_in_a_thread_is_raised_by_run_after_all_have_ended() {
        let caller = std::thread::current().id();
        let m = Mutex::new(0usize);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run(2, &|| {
                *m.lock() += 1;
                if std::thread::current().id() != caller {
                    // resume_unwind panics without the panic hook's message.
                    resume_unwind(Box::new("a started thread"));
                }
            })
        }));
        let payload = r.err().and_then(|p| p.downcast::<&str>().ok());
        assert_eq!(payload.as_deref(), Some(&"a started thread"));
        assert_eq!(m.into_inner(), 3);
    }
}
