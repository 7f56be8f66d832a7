//! `struct kmod_ctx`: a reference-counted [`Context`] plus what the C interface keeps
//! beside it: the log function and its priority, the user data, the module pool (one
//! object per name, or per name and alias, as kmod's hash) and the directory name as a C
//! string.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::PathBuf;
use std::ptr::null_mut;

use rprobe_context::{Cmdline, Context, HostPaths, Options, Resources};
use rprobe_index::generation::Generation;

use crate::ffi::{c_string, guard, neg, text};
use crate::module::Module;

/// kmod's log function type; the last argument is a `va_list`, which only C touches.
pub type LogFn = unsafe extern "C" fn(
    data: *mut c_void,
    priority: c_int,
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    format: *const c_char,
    args: *mut c_void,
);

extern "C" {
    fn rprobe_libkmod_log(
        f: LogFn,
        data: *mut c_void,
        priority: c_int,
        file: *const c_char,
        line: c_int,
        func: *const c_char,
        msg: *const c_char,
    );
    /// kmod 30's (`kmod30` non-zero) or kmod 34's stderr log function.
    fn rprobe_libkmod_stderr_logger(kmod30: c_int) -> LogFn;
    fn rprobe_libkmod_stderr() -> *mut c_void;
    /// glibc's getenv that ignores the environment of set-id programs, as kmod reads
    /// KMOD_LOG.
    fn secure_getenv(name: *const c_char) -> *mut c_char;
}

/// syslog priorities, as kmod's messages use them.
pub const LOG_ERR: c_int = 3;
/// syslog's LOG_INFO.
pub const LOG_INFO: c_int = 6;
/// syslog's LOG_DEBUG.
pub const LOG_DEBUG: c_int = 7;

/// The library context (`struct kmod_ctx`).
pub struct Ctx {
    refcount: c_int,
    /// The context every lookup reads.
    pub inner: Context,
    log_fn: Option<LogFn>,
    log_data: *mut c_void,
    log_priority: c_int,
    userdata: *const c_void,
    dirname: CString,
    /// The module objects alive, by kmod's hash key (`name`, or `name\alias`).
    pub pool: HashMap<String, *mut Module>,
}

/// Logs through the context's function when `prio` is within its priority, as kmod's
/// ERR/INFO/DBG macros (the message is formatted only when it passes).
#[macro_export]
macro_rules! klog {
    ($ctx:expr, $prio:expr, $func:expr, $($arg:tt)*) => {{
        let c: &$crate::ctx::Ctx = $ctx;
        if c.logs($prio) {
            c.log($prio, file!(), line!(), $func, &format!($($arg)*));
        }
    }};
}

impl Ctx {
    /// True when a message at `prio` would be passed to the log function.
    pub fn logs(&self, prio: c_int) -> bool {
        self.log_fn.is_some() && self.log_priority >= prio
    }

    /// Passes a message (ending in a newline, as kmod's do) to the log function, with
    /// `func` as the reporting function's name (kmod's) and `file` and `line` where it
    /// was raised (ours).
    pub fn log(&self, prio: c_int, file: &str, line: u32, func: &str, msg: &str) {
        let Some(f) = self.log_fn else { return };
        let func = c_string(func);
        let file = c_string(file);
        let msg = c_string(msg);
        // SAFETY: `f` and `log_data` were given together by kmod_set_log_fn (or are the
        // default pair); the strings live across the call.
        unsafe {
            rprobe_libkmod_log(
                f,
                self.log_data,
                prio,
                file.as_ptr(),
                line as c_int,
                func.as_ptr(),
                msg.as_ptr(),
            )
        }
    }

    /// Which kmod the library behaves as.
    pub fn generation(&self) -> Generation {
        self.inner.generation()
    }

    /// The module directory as kmod_get_dirname returns it.
    pub fn dirname(&self) -> &CString {
        &self.dirname
    }
}

/// KMOD_LOG's value as a priority: a number, or `err`, `info`, `debug` (0 otherwise).
fn log_priority(s: &str) -> c_int {
    let t = s.trim_start();
    let digits: String = t
        .char_indices()
        .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
        .map(|(_, c)| c)
        .collect();
    let rest = &t[digits.len()..];
    if rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return digits.parse().unwrap_or(0);
    }
    if s.starts_with("err") {
        3
    } else if s.starts_with("info") {
        6
    } else if s.starts_with("debug") {
        7
    } else {
        0
    }
}

/// Borrows a context argument.
///
/// # Safety
/// `ctx` is NULL or a context from [`kmod_new`] still referenced.
pub unsafe fn ctx_ref<'a>(ctx: *const Ctx) -> Option<&'a Ctx> {
    // SAFETY: per the caller.
    unsafe { ctx.as_ref() }
}

/// Borrows a context argument mutably.
///
/// # Safety
/// As [`ctx_ref`], and no other borrow of it is alive.
pub unsafe fn ctx_mut<'a>(ctx: *mut Ctx) -> Option<&'a mut Ctx> {
    // SAFETY: per the caller.
    unsafe { ctx.as_mut() }
}

/// kmod_new: a context on `dirname` (NULL: the running kernel's module directory) and
/// `config_paths` (a NULL-terminated array; NULL: the default directories), or NULL.
///
/// # Safety
/// `dirname` is NULL or a C string; `config_paths` is NULL or a NULL-terminated array of
/// C strings.
#[no_mangle]
pub unsafe extern "C" fn kmod_new(
    dirname: *const c_char,
    config_paths: *const *const c_char,
) -> *mut Ctx {
    guard(null_mut(), || {
        // SAFETY: per the function's contract.
        let dir = unsafe { text(dirname) };
        let mut paths = None;
        if !config_paths.is_null() {
            let mut v = Vec::new();
            let mut i = 0;
            // SAFETY: a NULL-terminated array of C strings, per the contract.
            while let Some(p) = unsafe { text(*config_paths.add(i)) } {
                v.push(PathBuf::from(p));
                i += 1;
            }
            paths = Some(v);
        }
        new_ctx(dir, paths).unwrap_or(null_mut())
    })
}

fn new_ctx(dirname: Option<String>, config_paths: Option<Vec<PathBuf>>) -> Option<*mut Ctx> {
    // SAFETY: returns the process's stderr FILE pointer.
    let stderr = unsafe { rprobe_libkmod_stderr() };
    let generation = Generation::from_env();
    // SAFETY: returns one of the shim's two log functions.
    let default_log = unsafe {
        rprobe_libkmod_stderr_logger(matches!(generation, Ok(Generation::Kmod30)).into())
    };
    let module_dir = match dirname {
        Some(d) => rprobe_index::moddir::absolute(std::path::Path::new(&d))
            .to_string_lossy()
            .into_owned(),
        None => rprobe_index::moddir::tool_module_dir(None, None),
    };
    let mut ctx = Ctx {
        refcount: 1,
        inner: Context::new(Options {
            generation: *generation.as_ref().unwrap_or(&Generation::Kmod34),
            module_dir: PathBuf::from(&module_dir),
            config_paths,
            cmdline: Cmdline::Host,
            host: HostPaths::from_env(),
        }),
        log_fn: Some(default_log),
        log_data: stderr,
        log_priority: LOG_ERR,
        userdata: std::ptr::null(),
        dirname: c_string(&module_dir),
        pool: HashMap::new(),
    };
    // SAFETY: secure_getenv with a static C string.
    let env = unsafe { secure_getenv(c"KMOD_LOG".as_ptr()) };
    // SAFETY: NULL or a C string from the environment.
    if let Some(v) = unsafe { text(env) } {
        ctx.log_priority = log_priority(&v);
    }
    if let Err(e) = generation {
        klog!(&ctx, LOG_ERR, "kmod_new", "{e}\n");
        return None;
    }
    for note in &ctx.inner.config().notes {
        klog!(&ctx, LOG_ERR, note.function, "{}\n", note.text);
    }
    let p = Box::into_raw(Box::new(ctx));
    // SAFETY: just made.
    let c = unsafe { &*p };
    klog!(c, LOG_INFO, "kmod_new", "ctx {p:p} created\n");
    klog!(
        c,
        LOG_DEBUG,
        "kmod_new",
        "log_priority={}\n",
        c.log_priority
    );
    Some(p)
}

/// kmod_ref: one more reference; the context.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_ref(ctx: *mut Ctx) -> *mut Ctx {
    guard(null_mut(), || {
        // SAFETY: per the contract.
        if let Some(c) = unsafe { ctx_mut(ctx) } {
            c.refcount += 1;
        }
        ctx
    })
}

/// kmod_unref: one reference less; NULL once the context is freed, else the context.
///
/// # Safety
/// `ctx` is NULL or a live context; after a NULL return it must not be used.
#[no_mangle]
pub unsafe extern "C" fn kmod_unref(ctx: *mut Ctx) -> *mut Ctx {
    guard(null_mut(), || {
        // SAFETY: per the contract.
        let Some(c) = (unsafe { ctx_mut(ctx) }) else {
            return null_mut();
        };
        c.refcount -= 1;
        if c.refcount > 0 {
            return ctx;
        }
        klog!(c, LOG_INFO, "kmod_unref", "context {ctx:p} released\n");
        // SAFETY: the last reference: made by Box in kmod_new.
        drop(unsafe { Box::from_raw(ctx) });
        null_mut()
    })
}

/// kmod_set_log_fn: the function (NULL: none) that receives messages, with `data`.
///
/// # Safety
/// `ctx` is NULL or a live context; `log_fn` is NULL or a function of kmod's log type.
#[no_mangle]
pub unsafe extern "C" fn kmod_set_log_fn(
    ctx: *mut Ctx,
    log_fn: Option<LogFn>,
    data: *const c_void,
) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(c) = unsafe { ctx_mut(ctx) } {
            c.log_fn = log_fn;
            c.log_data = data as *mut c_void;
            let f = log_fn.map_or(null_mut(), |f| f as *mut c_void);
            klog!(
                c,
                LOG_INFO,
                "kmod_set_log_fn",
                "custom logging function {f:p} registered\n"
            );
        }
    })
}

/// kmod_get_log_priority: the most verbose priority passed to the log function.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_get_log_priority(ctx: *const Ctx) -> c_int {
    // SAFETY: per the contract.
    guard(-1, || {
        unsafe { ctx_ref(ctx) }.map_or(-1, |c| c.log_priority)
    })
}

/// kmod_set_log_priority.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_set_log_priority(ctx: *mut Ctx, priority: c_int) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(c) = unsafe { ctx_mut(ctx) } {
            c.log_priority = priority;
        }
    })
}

/// kmod_get_userdata.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_get_userdata(ctx: *const Ctx) -> *mut c_void {
    // SAFETY: per the contract.
    guard(null_mut(), || {
        unsafe { ctx_ref(ctx) }.map_or(null_mut(), |c| c.userdata as *mut c_void)
    })
}

/// kmod_set_userdata.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_set_userdata(ctx: *mut Ctx, userdata: *const c_void) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(c) = unsafe { ctx_mut(ctx) } {
            c.userdata = userdata;
        }
    })
}

/// kmod_get_dirname: the module directory (absolute), valid while the context lives.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_get_dirname(ctx: *const Ctx) -> *const c_char {
    // SAFETY: per the contract.
    guard(std::ptr::null(), || {
        unsafe { ctx_ref(ctx) }.map_or(std::ptr::null(), |c| c.dirname.as_ptr())
    })
}

/// kmod_load_resources: opens the indexes for the context's life (and validation); a
/// negative errno when a required one cannot be opened (nothing stays loaded).
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_load_resources(ctx: *mut Ctx) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let Some(c) = (unsafe { ctx_mut(ctx) }) else {
            return -libc::ENOENT;
        };
        match c.inner.load_resources() {
            Ok(()) => 0,
            Err(e) => neg(e.errno() as i32),
        }
    })
}

/// kmod_unload_resources.
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_unload_resources(ctx: *mut Ctx) {
    guard((), || {
        // SAFETY: per the contract.
        if let Some(c) = unsafe { ctx_mut(ctx) } {
            c.inner.unload_resources();
        }
    })
}

/// kmod_validate_resources: KMOD_RESOURCES_OK (0), MUST_RELOAD (1) or MUST_RECREATE (2).
///
/// # Safety
/// `ctx` is NULL or a live context.
#[no_mangle]
pub unsafe extern "C" fn kmod_validate_resources(ctx: *mut Ctx) -> c_int {
    guard(2, || {
        // SAFETY: per the contract.
        let Some(c) = (unsafe { ctx_ref(ctx) }) else {
            return 2;
        };
        match c.inner.validate() {
            Resources::Ok => 0,
            Resources::MustReload => 1,
            Resources::MustRecreate => 2,
        }
    })
}

/// The index files of enum kmod_index, in its order, and whether kmod_dump_index prefixes
/// their lines with "alias ".
const DUMP_INDEXES: [(&str, bool); 5] = [
    ("modules.dep.bin", false),
    ("modules.alias.bin", true),
    ("modules.symbols.bin", true),
    ("modules.builtin.alias.bin", false),
    ("modules.builtin.bin", false),
];

/// kmod_dump_index: writes an index's entries to `fd`, one `KEY VALUE` line per value
/// (`alias KEY VALUE` for the alias and symbol indexes).
///
/// # Safety
/// `ctx` is NULL or a live context; `fd` is a descriptor open for writing.
#[no_mangle]
pub unsafe extern "C" fn kmod_dump_index(ctx: *mut Ctx, kind: c_int, fd: c_int) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let Some(c) = (unsafe { ctx_ref(ctx) }) else {
            return -libc::ENOSYS;
        };
        let Some((file, prefix)) = usize::try_from(kind).ok().and_then(|k| DUMP_INDEXES.get(k))
        else {
            return -libc::ENOENT;
        };
        let Ok(entries) = c.inner.dump_index(file) else {
            return -libc::ENOSYS;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if *prefix {
                out.extend_from_slice(b"alias ");
            }
            out.extend_from_slice(k.as_bytes());
            out.push(b' ');
            out.extend_from_slice(v.as_bytes());
            out.push(b'\n');
        }
        let mut rest = &out[..];
        while !rest.is_empty() {
            // SAFETY: writes from a live buffer to the caller's descriptor.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            rest = &rest[n as usize..];
        }
        0
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn kmod_log_values() {
        assert_eq!(super::log_priority("7"), 7);
        assert_eq!(super::log_priority("3 "), 3);
        assert_eq!(super::log_priority("debug"), 7);
        assert_eq!(super::log_priority("info"), 6);
        assert_eq!(super::log_priority("err"), 3);
        assert_eq!(super::log_priority("bogus"), 0);
    }
}
