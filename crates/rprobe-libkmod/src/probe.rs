//! Loading and removing: kmod_module_insert_module and kmod_module_remove_module through
//! rprobe-load's kernel (finit_module through libc's syscall, init_module and
//! delete_module from libc), and kmod_module_probe_insert_module's sequence over the
//! module objects: the probe list (dependencies, each one's soft dependencies, the
//! module), the blacklist and already-loaded rules, install commands, options.

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::path::Path;

use rprobe_index::generation::Generation;
use rprobe_load::LinuxKernel;
use rprobe_load::{Kernel, LoadFlags};

use crate::ctx::{Ctx, LOG_ERR, LOG_INFO};
use crate::ffi::{c_string, guard, neg, strerror, text};
use crate::klog;
use crate::module::{
    self, ctx_of, init_deps, is_blacklisted, modules_of, path_of, softdeps, unref, Command, Module,
};
use crate::sys::initstate;
use rprobe_resolve::probe_order::{self, ProbeGraph};

/// KMOD_PROBE_* flags.
pub mod flags {
    /// Ignore the module's version magic.
    pub const FORCE_VERMAGIC: u32 = 0x1;
    /// Ignore symbol versions.
    pub const FORCE_MODVERSION: u32 = 0x2;
    /// Do not run install commands.
    pub const IGNORE_COMMAND: u32 = 0x4;
    /// Probe modules already loaded.
    pub const IGNORE_LOADED: u32 = 0x8;
    /// Do nothing but report.
    pub const DRY_RUN: u32 = 0x10;
    /// -EEXIST when the module is loaded.
    pub const FAIL_ON_LOADED: u32 = 0x20;
    /// Filter blacklisted modules out of the whole probe list.
    pub const APPLY_BLACKLIST_ALL: u32 = 0x10000;
    /// Refuse a blacklisted module.
    pub const APPLY_BLACKLIST: u32 = 0x20000;
    /// Refuse a blacklisted module found through an alias.
    pub const APPLY_BLACKLIST_ALIAS_ONLY: u32 = 0x40000;
}

/// KMOD_REMOVE_FORCE (O_TRUNC) and KMOD_REMOVE_NOLOG.
const REMOVE_FORCE: c_uint = libc::O_TRUNC as c_uint;
const REMOVE_NOLOG: c_uint = 1;

/// The run_install callback type.
pub type RunInstall =
    unsafe extern "C" fn(m: *mut Module, cmd: *const c_char, data: *mut c_void) -> c_int;
/// The print_action callback type.
pub type PrintAction = unsafe extern "C" fn(m: *mut Module, install: bool, options: *const c_char);

/// The kernel of a context.
fn kernel(c: &Ctx) -> LinuxKernel {
    LinuxKernel::new(c.inner.host().clone(), c.generation())
}

/// kmod_module_insert_module's rule.
///
/// # Safety
/// `m` is a live module.
unsafe fn insert(m: *mut Module, flags: u32, options: &str) -> c_int {
    // SAFETY: per the contract.
    let c = unsafe { ctx_of(m) };
    // SAFETY: per the contract.
    let name = unsafe { (*m).name.to_string_lossy().into_owned() };
    // SAFETY: per the contract.
    let Some(path) = (unsafe { path_of(m) }) else {
        klog!(
            c,
            LOG_ERR,
            "kmod_module_insert_module",
            "could not find module by name='{name}'\n"
        );
        return -libc::ENOENT;
    };
    let load = LoadFlags {
        ignore_modversions: flags & flags::FORCE_MODVERSION != 0,
        ignore_vermagic: flags & flags::FORCE_VERMAGIC != 0,
        // kmod 30 decompresses in user space; kmod 34 lets the kernel do it when
        // /sys/module/compression names the file's codec.
        userspace_decompress: c.generation() == Generation::Kmod30,
    };
    match kernel(c).load(&name, Path::new(&path), options, load) {
        Ok(()) => 0,
        Err(e) => {
            let errno = match &e {
                rprobe_load::Error::Read(r) => {
                    if let Some((func, line)) = r.library_words() {
                        klog!(c, LOG_ERR, func, "{line}\n");
                    }
                    r.errno() as i32
                }
                rprobe_load::Error::Io { source, .. } => crate::ffi::io_errno(source),
                other => other.errno().map_or(libc::EINVAL, |e| e as i32),
            };
            klog!(
                c,
                LOG_INFO,
                "kmod_module_insert_module",
                "Failed to insert module '{path}': {}\n",
                strerror(errno)
            );
            neg(errno)
        }
    }
}

/// kmod_module_insert_module: loads the module's file with `options`; 0 or a negative
/// errno (-ENOENT without a file).
///
/// # Safety
/// `m` NULL or live; `options` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_insert_module(
    m: *mut Module,
    flags: c_uint,
    options: *const c_char,
) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: per the contract.
        let opts = unsafe { text(options) }.unwrap_or_default();
        // SAFETY: live module.
        unsafe { insert(m, flags, &opts) }
    })
}

/// kmod_module_remove_module: delete_module with O_NONBLOCK (and O_TRUNC for
/// KMOD_REMOVE_FORCE); an ERR line unless KMOD_REMOVE_NOLOG.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_remove_module(m: *mut Module, flags: c_uint) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: live module.
        let (c, name) = unsafe { (ctx_of(m), (*m).name.to_string_lossy().into_owned()) };
        match kernel(c).remove(&name, flags & REMOVE_FORCE != 0) {
            Ok(()) => 0,
            Err(e) => {
                let errno = e.errno().map_or(libc::EINVAL, |e| e as i32);
                if flags & REMOVE_NOLOG == 0 {
                    klog!(
                        c,
                        LOG_ERR,
                        "kmod_module_remove_module",
                        "could not remove '{name}': {}\n",
                        strerror(errno)
                    );
                }
                neg(errno)
            }
        }
    })
}

/// Live or built in (kmod's module_is_inkernel).
///
/// # Safety
/// `m` is a live module.
unsafe fn in_kernel(m: *mut Module) -> bool {
    // SAFETY: per the contract.
    let s = unsafe { initstate(m) };
    s == 1 || s == 0
}

/// A counted reference on a module object (kmod_module_ref / kmod_module_unref), as the
/// probe list and the walk's temporary lists hold them.
struct ModRef(*mut Module);

impl Clone for ModRef {
    fn clone(&self) -> ModRef {
        // SAFETY: `self` holds a reference, so the object is live.
        unsafe { (*self.0).refcount_up() };
        ModRef(self.0)
    }
}

impl Drop for ModRef {
    fn drop(&mut self) {
        // SAFETY: the reference this value holds.
        unsafe { unref(self.0) };
    }
}

/// The library's probe walk (rprobe_resolve's `probe_order`, kmod's order) over module
/// objects: the visited and required marks live on the objects, as in kmod.
struct Objects;

impl ProbeGraph for Objects {
    type Node = ModRef;
    type Error = std::convert::Infallible;

    fn visit(&mut self, node: &ModRef) -> bool {
        // SAFETY: a referenced, live module.
        unsafe {
            if (*node.0).visited {
                return false;
            }
            (*node.0).visited = true;
        }
        true
    }

    fn require(&mut self, node: &ModRef) {
        // SAFETY: a referenced, live module.
        unsafe { (*node.0).required = true };
    }

    fn dependencies(&mut self, node: &ModRef) -> Result<Vec<ModRef>, Self::Error> {
        // SAFETY: a referenced, live module; its dependencies are live modules it holds.
        unsafe {
            init_deps(node.0);
            Ok(modules_of((*node.0).deps_list())
                .into_iter()
                .map(|d| {
                    (*d).refcount_up();
                    ModRef(d)
                })
                .collect())
        }
    }

    fn softdeps(&mut self, node: &ModRef) -> Result<(Vec<ModRef>, Vec<ModRef>), Self::Error> {
        // SAFETY: a referenced, live module; softdeps hands back referenced modules.
        let (pre, post) = unsafe { softdeps(node.0) };
        Ok((
            pre.into_iter().map(ModRef).collect(),
            post.into_iter().map(ModRef).collect(),
        ))
    }

    fn name(&self, _: &ModRef) -> String {
        // The library's list carries no reasons.
        String::new()
    }
}

/// Runs an install command as kmod does without a run_install callback: system(3) with
/// MODPROBE_MODULE set.
///
/// # Safety
/// `m` is a live module.
unsafe fn command_do(m: *mut Module, cmd: &str) -> c_int {
    // SAFETY: per the contract.
    let (c, name) = unsafe { (ctx_of(m), (*m).name.to_string_lossy().into_owned()) };
    let n = c_string(&name);
    let command = c_string(cmd);
    // SAFETY: C strings that live across the calls; setenv/system/unsetenv as kmod calls
    // them.
    let status = unsafe {
        libc::setenv(c"MODPROBE_MODULE".as_ptr(), n.as_ptr(), 1);
        let s = libc::system(command.as_ptr());
        libc::unsetenv(c"MODPROBE_MODULE".as_ptr());
        s
    };
    if status == -1 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL);
        klog!(
            c,
            LOG_ERR,
            "command_do",
            "Could not run install command '{cmd}' for module {name}: {}\n",
            strerror(errno)
        );
        return -libc::EINVAL;
    }
    let code = libc::WEXITSTATUS(status);
    if code != 0 {
        klog!(
            c,
            LOG_ERR,
            "command_do",
            "Error running install command '{cmd}' for module {name}: retcode {code}\n"
        );
        return -libc::EINVAL;
    }
    0
}

/// kmod_module_probe_insert_module: loads a module with its dependencies and soft
/// dependencies, as kmod does (see the crate documentation of the sequence). Returns 0, a
/// negative errno, or the positive blacklist flag that refused the module.
///
/// # Safety
/// `m` NULL or live; `extra_options` NULL or a C string; the callbacks NULL or functions
/// of kmod's types; `data` is passed to `run_install`.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_probe_insert_module(
    m: *mut Module,
    flags: c_uint,
    extra_options: *const c_char,
    run_install: Option<RunInstall>,
    data: *const c_void,
    print_action: Option<PrintAction>,
) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: per the contract.
        let extra = unsafe { text(extra_options) };
        // SAFETY: per the contract.
        unsafe {
            probe(
                m,
                flags,
                extra.as_deref(),
                run_install,
                data as *mut c_void,
                print_action,
            )
        }
    })
}

/// The probe sequence.
///
/// # Safety
/// As [`kmod_module_probe_insert_module`].
unsafe fn probe(
    m: *mut Module,
    flags: u32,
    extra: Option<&str>,
    run_install: Option<RunInstall>,
    data: *mut c_void,
    print_action: Option<PrintAction>,
) -> c_int {
    use flags::*;
    // SAFETY: per the contract, throughout: modules of the list are referenced by it.
    unsafe {
        if flags & IGNORE_LOADED == 0 && in_kernel(m) {
            return if flags & FAIL_ON_LOADED != 0 {
                -libc::EEXIST
            } else {
                0
            };
        }
        if is_blacklisted(m) {
            if (*m).alias.is_some() && flags & APPLY_BLACKLIST_ALIAS_ONLY != 0 {
                return APPLY_BLACKLIST_ALIAS_ONLY as c_int;
            }
            if flags & APPLY_BLACKLIST_ALL != 0 {
                return APPLY_BLACKLIST_ALL as c_int;
            }
            if flags & APPLY_BLACKLIST != 0 {
                return APPLY_BLACKLIST as c_int;
            }
        }
        let c = ctx_of(m);
        for &x in c.pool.values() {
            (*x).visited = false;
            (*x).required = false;
        }
        (*m).refcount_up();
        let asked = ModRef(m);
        let Ok(entries) =
            probe_order::probe_list(&mut Objects, &asked, flags & IGNORE_COMMAND != 0);
        // kmod sets each object's ignorecmd as it lists it, the last listing winning.
        for e in &entries {
            (*e.node.0).ignorecmd = e.ignorecmd;
        }
        let mut list: Vec<ModRef> = entries.into_iter().map(|e| e.node).collect();
        if flags & APPLY_BLACKLIST_ALL != 0 {
            list.retain(|x| !is_blacklisted(x.0));
            if list.is_empty() {
                return APPLY_BLACKLIST_ALL as c_int;
            }
        }
        let mut err = 0;
        let mut i = 0;
        while i < list.len() {
            let x = list[i].0;
            i += 1;
            if flags & IGNORE_LOADED == 0 && in_kernel(x) {
                err = -libc::EEXIST;
            } else {
                let moptions = module::options(x).map(|o| o.to_string_lossy().into_owned());
                let options =
                    concat_options(moptions.as_deref(), if x == m { extra } else { None });
                let opts_c = c_string(options.as_deref().unwrap_or(""));
                let cmd = module::command(x, Command::Install);
                match cmd {
                    Some(cmd) if !(*x).ignorecmd => {
                        if let Some(pa) = print_action {
                            pa(x, true, opts_c.as_ptr());
                        }
                        if flags & DRY_RUN == 0 {
                            let full =
                                cmd.replace("$CMDLINE_OPTS", options.as_deref().unwrap_or(""));
                            err = match run_install {
                                Some(f) => {
                                    let full_c = c_string(&full);
                                    f(x, full_c.as_ptr(), data)
                                }
                                None => command_do(x, &full),
                            };
                        }
                    }
                    _ => {
                        if let Some(pa) = print_action {
                            pa(x, false, opts_c.as_ptr());
                        }
                        if flags & DRY_RUN == 0 {
                            err = insert(x, flags, options.as_deref().unwrap_or(""));
                        }
                    }
                }
            }
            if err == -libc::EEXIST && x == m && flags & FAIL_ON_LOADED != 0 {
                break;
            }
            if err == -libc::EEXIST || !(*x).required {
                err = 0;
            } else if err < 0 {
                break;
            }
        }
        drop(list);
        drop(asked);
        err
    }
}

/// kmod's module_options_concat: configured options, a space, the extra options; `None`
/// when both are empty.
fn concat_options(opt: Option<&str>, extra: Option<&str>) -> Option<String> {
    let (o, x) = (opt.unwrap_or(""), extra.unwrap_or(""));
    if o.is_empty() && x.is_empty() {
        return None;
    }
    Some(match opt {
        Some(o) => format!("{o} {x}"),
        None => x.to_string(),
    })
}
