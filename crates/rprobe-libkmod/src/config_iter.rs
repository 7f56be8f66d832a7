//! kmod_config_iter: the configuration's blacklist, install and remove commands, aliases,
//! options, softdeps and weakdeps, as `modprobe -c` walks them. An iterator holds a copy
//! of its entries; kmod_config_iter_next starts over after it has reported the end, as
//! kmod's does.

use std::ffi::{c_char, CString};
use std::ptr::null_mut;

use crate::ctx::{ctx_ref, Ctx};
use crate::ffi::{c_string, guard};

/// A configuration iterator (`struct kmod_config_iter`).
pub struct kmod_config_iter {
    entries: Vec<(CString, Option<CString>)>,
    curr: Option<usize>,
}

/// Which part of the configuration.
#[derive(Clone, Copy)]
enum Kind {
    Blacklist,
    Install,
    Remove,
    Alias,
    Option,
    Softdep,
    Weakdep,
}

fn pairs(v: &[(String, String)]) -> Vec<(CString, Option<CString>)> {
    v.iter()
        .map(|(k, x)| (c_string(k), Some(c_string(x))))
        .collect()
}

/// A new iterator of `kind`, or NULL for a NULL context.
///
/// # Safety
/// `ctx` is NULL or a live context.
unsafe fn iter(ctx: *const Ctx, kind: Kind) -> *mut kmod_config_iter {
    // SAFETY: per the contract.
    let Some(c) = (unsafe { ctx_ref(ctx) }) else {
        return null_mut();
    };
    let config = c.inner.config();
    let entries = match kind {
        Kind::Blacklist => config
            .blacklist
            .iter()
            .map(|b| (c_string(b), None))
            .collect(),
        Kind::Install => pairs(&config.install),
        Kind::Remove => pairs(&config.remove),
        Kind::Alias => pairs(&config.aliases),
        Kind::Option => pairs(&config.options),
        Kind::Softdep => config
            .softdeps
            .iter()
            .map(|s| (c_string(&s.name), Some(c_string(&s.plain()))))
            .collect(),
        Kind::Weakdep => config
            .weakdeps
            .iter()
            .map(|(m, w)| (c_string(m), Some(c_string(&w.join(" ")))))
            .collect(),
    };
    Box::into_raw(Box::new(kmod_config_iter {
        entries,
        curr: None,
    }))
}

macro_rules! getter {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `ctx` is NULL or a live context.
        #[no_mangle]
        pub unsafe extern "C" fn $name(ctx: *const Ctx) -> *mut kmod_config_iter {
            // SAFETY: per the contract.
            guard(null_mut(), || unsafe { iter(ctx, $kind) })
        }
    };
}

getter!(
    /// kmod_config_get_blacklists: keys are module names, values NULL.
    kmod_config_get_blacklists,
    Kind::Blacklist
);
getter!(
    /// kmod_config_get_install_commands.
    kmod_config_get_install_commands,
    Kind::Install
);
getter!(
    /// kmod_config_get_remove_commands.
    kmod_config_get_remove_commands,
    Kind::Remove
);
getter!(
    /// kmod_config_get_aliases.
    kmod_config_get_aliases,
    Kind::Alias
);
getter!(
    /// kmod_config_get_options.
    kmod_config_get_options,
    Kind::Option
);
getter!(
    /// kmod_config_get_softdeps.
    kmod_config_get_softdeps,
    Kind::Softdep
);
getter!(
    /// kmod_config_get_weakdeps (kmod 33 and later).
    kmod_config_get_weakdeps,
    Kind::Weakdep
);

/// kmod_config_iter_get_key: the current entry's key, NULL before the first
/// kmod_config_iter_next or after the end.
///
/// # Safety
/// `it` is NULL or a live iterator.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_get_key(it: *const kmod_config_iter) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: per the contract.
        let Some(it) = (unsafe { it.as_ref() }) else {
            return std::ptr::null();
        };
        it.curr
            .and_then(|i| it.entries.get(i))
            .map_or(std::ptr::null(), |(k, _)| k.as_ptr())
    })
}

/// kmod_config_iter_get_value: the current entry's value (NULL for blacklist entries).
///
/// # Safety
/// `it` is NULL or a live iterator.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_get_value(it: *const kmod_config_iter) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: per the contract.
        let Some(it) = (unsafe { it.as_ref() }) else {
            return std::ptr::null();
        };
        it.curr
            .and_then(|i| it.entries.get(i))
            .and_then(|(_, v)| v.as_ref())
            .map_or(std::ptr::null(), |v| v.as_ptr())
    })
}

/// kmod_config_iter_next: moves to the next entry; false at the end (the next call starts
/// over).
///
/// # Safety
/// `it` is NULL or a live iterator.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_next(it: *mut kmod_config_iter) -> bool {
    guard(false, || {
        // SAFETY: per the contract.
        let Some(it) = (unsafe { it.as_mut() }) else {
            return false;
        };
        let next = it.curr.map_or(0, |i| i + 1);
        it.curr = (next < it.entries.len()).then_some(next);
        it.curr.is_some()
    })
}

/// kmod_config_iter_free_iter.
///
/// # Safety
/// `it` is NULL or a live iterator, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn kmod_config_iter_free_iter(it: *mut kmod_config_iter) {
    guard((), || {
        if !it.is_null() {
            // SAFETY: made by Box in `iter`.
            drop(unsafe { Box::from_raw(it) });
        }
    })
}
