//! What every exported function shares: the panic guard, C string conversions and errno
//! values.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, returning `fallback` if it panics: a panic never crosses into C (where it
/// would abort the host process). Every exported function's body runs inside it.
pub fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// A C string argument as text (invalid UTF-8 replaced); `None` for NULL.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string valid for the call.
pub unsafe fn text(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated, per the caller.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A C string for a value handed to C (interior NULs, which no valid input has, are
/// dropped rather than failing).
pub fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// A negative errno value, as libkmod returns failures.
pub fn neg(e: i32) -> i32 {
    -e.abs()
}

/// The errno of an I/O error (EIO when it has none).
pub fn io_errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// strerror's text for an errno, as kmod's messages print it.
pub fn strerror(errno: i32) -> String {
    rprobe_index::error::errno_text(nix::errno::Errno::from_raw(errno))
}
