//! `struct kmod_module`: module objects, the context's pool, lookups in kmod's order,
//! dependencies and the configuration as it applies to one module.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::Path;
use std::ptr::null_mut;

use rprobe_index::index::DepInfo;

use crate::ctx::{ctx_mut, Ctx, LOG_ERR};
use crate::ffi::{c_string, guard, io_errno, neg, strerror, text};
use crate::klog;
use crate::list::{self, kmod_list};

/// A module object (`struct kmod_module`). It holds a reference on its context.
pub struct Module {
    /// The context (referenced).
    pub ctx: *mut Ctx,
    refcount: c_int,
    hashkey: String,
    /// The module name ('_' form).
    pub name: CString,
    /// The alias it was created from (only then).
    pub alias: Option<CString>,
    path: Option<CString>,
    dep_init: bool,
    deps: *mut kmod_list,
    options: Option<Option<CString>>,
    install: Option<Option<CString>>,
    remove: Option<Option<CString>>,
    builtin: Option<bool>,
    /// Probe-list marks (kmod_module_get_probe_list).
    pub visited: bool,
    /// Its install command and softdeps are ignored in this probe.
    pub ignorecmd: bool,
    /// The requested module or one of its hard dependencies in this probe.
    pub required: bool,
}

/// Borrows a module argument.
///
/// # Safety
/// `m` is NULL or a live module.
pub unsafe fn module_ref<'a>(m: *const Module) -> Option<&'a Module> {
    // SAFETY: per the caller.
    unsafe { m.as_ref() }
}

/// The context of a live module.
///
/// # Safety
/// `m` is a live module (which keeps its context alive).
pub unsafe fn ctx_of<'a>(m: *const Module) -> &'a mut Ctx {
    // SAFETY: a module references its context for its whole life.
    unsafe { &mut *(*m).ctx }
}

/// The module for `key` from the pool (with a reference added), or a new one.
///
/// # Safety
/// `ctx` is a live context.
unsafe fn new_module(ctx: *mut Ctx, key: &str, name: &str, alias: Option<&str>) -> *mut Module {
    // SAFETY: per the contract.
    let c = unsafe { &mut *ctx };
    if let Some(&m) = c.pool.get(key) {
        // SAFETY: pool entries are live modules.
        unsafe { (*m).refcount += 1 };
        return m;
    }
    // SAFETY: live context.
    unsafe { crate::ctx::kmod_ref(ctx) };
    let m = Box::into_raw(Box::new(Module {
        ctx,
        refcount: 1,
        hashkey: key.to_string(),
        name: c_string(name),
        alias: alias.map(c_string),
        path: None,
        dep_init: false,
        deps: null_mut(),
        options: None,
        install: None,
        remove: None,
        builtin: None,
        visited: false,
        ignorecmd: false,
        required: false,
    }));
    c.pool.insert(key.to_string(), m);
    m
}

/// A module by name (normalised: '-' to '_', cut at the first '.').
///
/// # Safety
/// `ctx` is a live context.
pub unsafe fn from_name(ctx: *mut Ctx, name: &str) -> *mut Module {
    let n = rprobe_index::name::modname_normalize(name);
    // SAFETY: per the contract.
    unsafe { new_module(ctx, &n, &n, None) }
}

/// A module found through `alias` (kmod's `name\alias` objects).
///
/// # Safety
/// `ctx` is a live context.
unsafe fn from_alias(ctx: *mut Ctx, alias: &str, name: &str) -> *mut Module {
    let key = format!("{name}\\{alias}");
    // SAFETY: per the contract.
    unsafe { new_module(ctx, &key, name, Some(alias)) }
}

/// kmod_module_new_from_path's rule: the module named after the file, which must exist;
/// `-EEXIST` when the name is known with another path.
///
/// # Safety
/// `ctx` is a live context.
pub unsafe fn from_path(ctx: *mut Ctx, path: &str) -> Result<*mut Module, c_int> {
    let abs = rprobe_index::moddir::absolute(Path::new(path))
        .to_string_lossy()
        .into_owned();
    if let Err(e) = rprobe_index::fsx::stat(Path::new(&abs)) {
        return Err(neg(io_errno(&e)));
    }
    let name = rprobe_index::name::modname_from_path(Path::new(path));
    if name.is_empty() {
        return Err(-libc::ENOENT);
    }
    // SAFETY: per the contract.
    let m = unsafe { new_module(ctx, &name, &name, None) };
    // SAFETY: just made or taken from the pool.
    let mm = unsafe { &mut *m };
    match &mm.path {
        None => mm.path = Some(c_string(&abs)),
        Some(p) if p.to_bytes() == abs.as_bytes() => {}
        Some(p) => {
            let old = p.to_string_lossy().into_owned();
            // SAFETY: our reference.
            unsafe { unref(m) };
            // SAFETY: live context.
            let c = unsafe { &*ctx };
            klog!(c, LOG_ERR, "kmod_module_new_from_path",
                "kmod_module '{name}' already exists with different path: new-path='{abs}' old-path='{old}'\n");
            return Err(-libc::EEXIST);
        }
    }
    mm.builtin = Some(false);
    Ok(m)
}

/// Drops one reference; frees the module (and its reference on the context) at zero.
///
/// # Safety
/// `m` is NULL or a live module.
pub unsafe fn unref(m: *mut Module) -> *mut Module {
    if m.is_null() {
        return null_mut();
    }
    // SAFETY: per the contract.
    let mm = unsafe { &mut *m };
    mm.refcount -= 1;
    if mm.refcount > 0 {
        return m;
    }
    // SAFETY: a live module's context is live.
    let c = unsafe { &mut *mm.ctx };
    c.pool.remove(&mm.hashkey);
    // SAFETY: the module's own list of referenced modules.
    unsafe { unref_list(mm.deps) };
    let ctx = mm.ctx;
    // SAFETY: made by Box in new_module; this was the last reference.
    drop(unsafe { Box::from_raw(m) });
    // SAFETY: the reference new_module took.
    unsafe { crate::ctx::kmod_unref(ctx) };
    null_mut()
}

/// Frees a list of modules, dropping each one's reference.
///
/// # Safety
/// `l` is NULL or a list of live modules.
pub unsafe fn unref_list(l: *mut kmod_list) {
    // SAFETY: per the contract; each entry is a module.
    unsafe {
        list::release(l, |d| {
            unref(d as *mut Module);
        })
    };
}

/// A list of modules (their references move into the list).
pub fn module_list(mods: Vec<*mut Module>) -> *mut kmod_list {
    list::from_iter(mods.into_iter().map(|m| m as *mut c_void))
}

/// The modules of a list (no reference taken).
///
/// # Safety
/// `l` is NULL or a list of live modules.
pub unsafe fn modules_of(l: *const kmod_list) -> Vec<*mut Module> {
    // SAFETY: per the contract.
    unsafe { list::entries(l) }
        .into_iter()
        .map(|d| d as *mut Module)
        .collect()
}

/// Sets a module's path and dependencies from its modules.dep entry (kmod's
/// kmod_module_parse_depline): the dependencies in load order, each created from its
/// path. A dependency whose file is missing leaves the module without dependencies and
/// uninitialised, as kmod.
///
/// # Safety
/// `m` is a live module.
unsafe fn set_deps(m: *mut Module, info: &DepInfo) {
    // SAFETY: per the contract.
    let mm = unsafe { &mut *m };
    if mm.dep_init {
        return;
    }
    mm.dep_init = true;
    if mm.path.is_none() {
        mm.path = Some(c_string(&info.path.to_string_lossy()));
    }
    let ctx = mm.ctx;
    let mut deps = Vec::with_capacity(info.deps.len());
    for (_, p) in &info.deps {
        let p = p.to_string_lossy();
        // SAFETY: a live module's context.
        match unsafe { from_path(ctx, &p) } {
            Ok(d) => deps.push(d),
            Err(e) => {
                // SAFETY: live context.
                let c = unsafe { &*ctx };
                klog!(
                    c,
                    LOG_ERR,
                    "kmod_module_parse_depline",
                    "ctx={ctx:p} path={p} error={}\n",
                    strerror(-e)
                );
                for d in deps {
                    // SAFETY: references taken above.
                    unsafe { unref(d) };
                }
                // SAFETY: per the contract.
                unsafe { (*m).dep_init = false };
                return;
            }
        }
    }
    deps.reverse();
    // SAFETY: per the contract.
    unsafe { (*m).deps = module_list(deps) };
}

/// The modules.dep entry of `name`, or `None` (an unreadable index logs and counts as
/// none).
fn dep_entry(c: &Ctx, name: &str) -> Option<std::sync::Arc<DepInfo>> {
    match c.inner.dir().dep_info(name) {
        Ok(e) => e,
        Err(e) => {
            klog!(c, LOG_ERR, "kmod_search_moddep", "{e}\n");
            None
        }
    }
}

/// Loads a module's dependencies (and path) on first use.
///
/// # Safety
/// `m` is a live module.
pub unsafe fn init_deps(m: *mut Module) {
    // SAFETY: per the contract.
    let mm = unsafe { &*m };
    if mm.dep_init {
        return;
    }
    // SAFETY: a live module's context.
    let c = unsafe { ctx_of(m) };
    let name = mm.name.to_string_lossy().into_owned();
    if let Some(e) = dep_entry(c, &name) {
        // SAFETY: per the contract.
        unsafe { set_deps(m, &e) };
    }
}

/// kmod_module_get_path's rule: the file, from modules.dep when not known yet.
///
/// # Safety
/// `m` is a live module.
pub unsafe fn path_of(m: *mut Module) -> Option<String> {
    // SAFETY: per the contract.
    unsafe {
        if (*m).path.is_none() && !(*m).dep_init {
            init_deps(m);
        }
        (*m).path.as_ref().map(|p| p.to_string_lossy().into_owned())
    }
}

/// Whether modules.builtin lists the module (looked up once).
///
/// # Safety
/// `m` is a live module.
pub unsafe fn is_builtin(m: *mut Module) -> bool {
    // SAFETY: per the contract.
    let mm = unsafe { &mut *m };
    if mm.builtin.is_none() {
        // SAFETY: a live module's context.
        let c = unsafe { ctx_of(m) };
        let name = mm.name.to_string_lossy();
        mm.builtin = Some(c.inner.dir().builtin(&name).unwrap_or(false));
    }
    mm.builtin == Some(true)
}

/// Whether the configuration blacklists the module (by name, not pattern).
///
/// # Safety
/// `m` is a live module.
pub unsafe fn is_blacklisted(m: *const Module) -> bool {
    // SAFETY: per the contract.
    let c = unsafe { ctx_of(m) };
    // SAFETY: per the contract.
    let name = unsafe { (*m).name.to_string_lossy() };
    c.inner.config().is_blacklisted(&name)
}

type Found = Result<Vec<*mut Module>, c_int>;

/// Index results, with an unreadable index logged and counted as nothing found.
fn index_result<T: Default>(c: &Ctx, r: rprobe_index::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        klog!(c, LOG_ERR, "kmod_module_new_from_lookup", "{e}\n");
        T::default()
    })
}

/// kmod's lookups, each a step of its order.
#[derive(Clone, Copy)]
enum Source {
    Config,
    ModDep,
    Symbols,
    Commands,
    Aliases,
    Builtin,
    KernelBuiltinAlias,
}

/// One lookup step.
///
/// # Safety
/// `ctx` is a live context.
unsafe fn lookup_in(ctx: *mut Ctx, src: Source, name: &str) -> Found {
    // SAFETY: per the contract.
    let c = unsafe { &*ctx };
    let dir = c.inner.dir();
    let mut out = Vec::new();
    match src {
        Source::Config => {
            for (pat, target) in &c.inner.config().aliases {
                if rprobe_resolve::config::fnmatch(pat, name) {
                    // SAFETY: live context.
                    out.push(unsafe { from_alias(ctx, pat, target) });
                }
            }
        }
        Source::ModDep => {
            if name.contains(':') {
                return Ok(out);
            }
            if let Some(e) = dep_entry(c, name) {
                // SAFETY: live context; the module made from it.
                unsafe {
                    let m = from_name(ctx, name);
                    set_deps(m, &e);
                    out.push(m);
                }
            }
        }
        Source::Symbols => {
            if !name.starts_with("symbol:") {
                return Ok(out);
            }
            for real in index_result(c, dir.symbol(name)) {
                // SAFETY: live context.
                out.push(unsafe { from_alias(ctx, name, &real) });
            }
        }
        Source::Commands => {
            let config = c.inner.config();
            let (cmd, install) = match config.install.iter().find(|(m, _)| m == name) {
                Some((_, cmd)) => (Some(cmd.clone()), true),
                None => (
                    config
                        .remove
                        .iter()
                        .find(|(m, _)| m == name)
                        .map(|(_, c)| c.clone()),
                    false,
                ),
            };
            if let Some(cmd) = cmd {
                // SAFETY: live context; the module just made.
                unsafe {
                    let m = from_name(ctx, name);
                    if install {
                        (*m).install = Some(Some(c_string(&cmd)));
                    } else {
                        (*m).remove = Some(Some(c_string(&cmd)));
                    }
                    out.push(m);
                }
            }
        }
        Source::Aliases => {
            for real in index_result(c, dir.alias(name)) {
                // SAFETY: live context.
                out.push(unsafe { from_alias(ctx, name, &real) });
            }
        }
        Source::Builtin => {
            if index_result(c, dir.builtin(name)) {
                // SAFETY: live context; the module just made.
                unsafe {
                    let m = from_name(ctx, name);
                    (*m).builtin = Some(true);
                    out.push(m);
                }
            }
        }
        Source::KernelBuiltinAlias => {
            for real in index_result(c, dir.builtin_alias(name)) {
                // SAFETY: live context; the module just made.
                unsafe {
                    let m = from_alias(ctx, name, &real);
                    (*m).builtin = Some(true);
                    out.push(m);
                }
            }
        }
    }
    Ok(out)
}

/// Runs lookups in order; the first that finds something wins.
///
/// # Safety
/// `ctx` is a live context.
unsafe fn lookup_order(ctx: *mut Ctx, order: &[Source], name: &str) -> Found {
    for &s in order {
        // SAFETY: per the contract.
        let found = unsafe { lookup_in(ctx, s, name) }?;
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// kmod_module_new_from_lookup's rule: modules for a name, alias or `symbol:NAME`, in
/// kmod's order (configuration aliases, modules.dep, symbols, install and remove
/// commands, modules.alias, modules.builtin, modules.builtin.alias).
///
/// # Safety
/// `ctx` is a live context.
pub unsafe fn lookup(ctx: *mut Ctx, given: &str) -> Found {
    let Some(alias) = rprobe_index::name::alias_normalize(given) else {
        return Err(-libc::EINVAL);
    };
    const ORDER: [Source; 7] = [
        Source::Config,
        Source::ModDep,
        Source::Symbols,
        Source::Commands,
        Source::Aliases,
        Source::Builtin,
        Source::KernelBuiltinAlias,
    ];
    // SAFETY: per the contract.
    unsafe { lookup_order(ctx, &ORDER, &alias) }
}

/// kmod_module_new_from_name: the module object for a name (the same object, with a
/// reference added, for a name already known).
///
/// # Safety
/// `ctx` is NULL or a live context; `name` NULL or a C string; `mod_` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_name(
    ctx: *mut Ctx,
    name: *const c_char,
    mod_: *mut *mut Module,
) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let Some(n) = (unsafe { text(name) }) else {
            return -libc::ENOENT;
        };
        if ctx.is_null() || mod_.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: live context; writable out pointer.
        unsafe { *mod_ = from_name(ctx, &n) };
        0
    })
}

/// kmod_module_new_from_path.
///
/// # Safety
/// As [`kmod_module_new_from_name`].
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_path(
    ctx: *mut Ctx,
    path: *const c_char,
    mod_: *mut *mut Module,
) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let Some(p) = (unsafe { text(path) }) else {
            return -libc::ENOENT;
        };
        if ctx.is_null() || mod_.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: live context.
        match unsafe { from_path(ctx, &p) } {
            Ok(m) => {
                // SAFETY: writable out pointer.
                unsafe { *mod_ = m };
                0
            }
            Err(e) => e,
        }
    })
}

/// kmod_module_new_from_lookup: `*list` (which must be NULL) receives the modules found,
/// NULL when none.
///
/// # Safety
/// `ctx` NULL or live; `given` NULL or a C string; `list` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_lookup(
    ctx: *mut Ctx,
    given: *const c_char,
    list: *mut *mut kmod_list,
) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let (Some(c), Some(g)) = (unsafe { ctx_mut(ctx) }, unsafe { text(given) }) else {
            return -libc::ENOENT;
        };
        // SAFETY: `list` is NULL or writable.
        if list.is_null() || !unsafe { *list }.is_null() {
            klog!(
                c,
                LOG_ERR,
                "kmod_module_new_from_lookup",
                "An empty list is needed to create lookup\n"
            );
            return -libc::ENOSYS;
        }
        // SAFETY: live context.
        match unsafe { lookup(ctx, &g) } {
            Ok(found) => {
                // SAFETY: writable.
                unsafe { *list = module_list(found) };
                0
            }
            Err(e) => e,
        }
    })
}

/// kmod_module_new_from_name_lookup: the module of a name (modules.dep, modules.builtin,
/// modules.builtin.alias only); 0 and `*mod_` untouched when not found.
///
/// # Safety
/// As [`kmod_module_new_from_name`].
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_name_lookup(
    ctx: *mut Ctx,
    modname: *const c_char,
    mod_: *mut *mut Module,
) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let Some(n) = (unsafe { text(modname) }) else {
            return -libc::ENOENT;
        };
        if ctx.is_null() || mod_.is_null() {
            return -libc::ENOENT;
        }
        let n = rprobe_index::name::modname_normalize(&n);
        const ORDER: [Source; 3] = [Source::ModDep, Source::Builtin, Source::KernelBuiltinAlias];
        // SAFETY: live context.
        match unsafe { lookup_order(ctx, &ORDER, &n) } {
            Ok(found) => {
                let mut it = found.into_iter();
                if let Some(first) = it.next() {
                    // SAFETY: writable; the other references dropped.
                    unsafe {
                        *mod_ = first;
                        for m in it {
                            unref(m);
                        }
                    }
                }
                0
            }
            Err(e) => e,
        }
    })
}

/// kmod_module_new_from_loaded: the modules /proc/modules lists.
///
/// # Safety
/// `ctx` NULL or live; `list` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_new_from_loaded(
    ctx: *mut Ctx,
    list: *mut *mut kmod_list,
) -> c_int {
    guard(-libc::EINVAL, || {
        // SAFETY: per the contract.
        let Some(c) = (unsafe { ctx_mut(ctx) }) else {
            return -libc::ENOENT;
        };
        if list.is_null() {
            return -libc::ENOENT;
        }
        let path = c.inner.host().proc_modules.clone();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) => {
                let errno = io_errno(&e);
                klog!(
                    c,
                    LOG_ERR,
                    "kmod_module_new_from_loaded",
                    "could not open /proc/modules: {}\n",
                    strerror(errno)
                );
                return neg(errno);
            }
        };
        let mut mods = Vec::new();
        for line in text.split(|&b| b == b'\n') {
            let name = line
                .split(|&b| b == b' ' || b == b'\t')
                .next()
                .unwrap_or_default();
            if name.is_empty() {
                continue;
            }
            // SAFETY: live context.
            mods.push(unsafe { from_name(ctx, &String::from_utf8_lossy(name)) });
        }
        // SAFETY: writable.
        unsafe { *list = module_list(mods) };
        0
    })
}

/// kmod_module_ref.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_ref(m: *mut Module) -> *mut Module {
    guard(null_mut(), || {
        if !m.is_null() {
            // SAFETY: live module.
            unsafe { (*m).refcount += 1 };
        }
        m
    })
}

/// kmod_module_unref: NULL once freed, else the module.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_unref(m: *mut Module) -> *mut Module {
    // SAFETY: per the contract.
    guard(null_mut(), || unsafe { unref(m) })
}

/// kmod_module_unref_list: frees a module list and drops each module's reference; 0.
///
/// # Safety
/// `l` is NULL or a list of live modules.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_unref_list(l: *mut kmod_list) -> c_int {
    guard(0, || {
        // SAFETY: per the contract.
        unsafe { unref_list(l) };
        0
    })
}

/// kmod_module_get_module: the entry's module, with a new reference.
///
/// # Safety
/// `entry` is NULL or a node of a module list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_module(entry: *const kmod_list) -> *mut Module {
    guard(null_mut(), || {
        if entry.is_null() {
            return null_mut();
        }
        // SAFETY: a node of a module list.
        unsafe { kmod_module_ref((*entry).data as *mut Module) }
    })
}

/// kmod_module_get_name.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_name(m: *const Module) -> *const c_char {
    // SAFETY: per the contract.
    guard(std::ptr::null(), || {
        unsafe { module_ref(m) }.map_or(std::ptr::null(), |m| m.name.as_ptr())
    })
}

/// kmod_module_get_path: the module's file, from modules.dep when needed; NULL when
/// unknown.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_path(m: *const Module) -> *const c_char {
    guard(std::ptr::null(), || {
        if m.is_null() {
            return std::ptr::null();
        }
        let m = m as *mut Module;
        // SAFETY: live module.
        unsafe {
            path_of(m);
            (*m).path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr())
        }
    })
}

/// kmod_module_get_dependencies: a new list of the module's hard dependencies, in load
/// order, each with a reference.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_dependencies(m: *const Module) -> *mut kmod_list {
    guard(null_mut(), || {
        if m.is_null() {
            return null_mut();
        }
        // SAFETY: live module; its dependency list holds live modules.
        unsafe {
            let m = m as *mut Module;
            init_deps(m);
            let deps = modules_of((*m).deps);
            for &d in &deps {
                (*d).refcount += 1;
            }
            module_list(deps)
        }
    })
}

/// The modules `names` look up to, concatenated (kmod's lookup_dep: a failing name is
/// logged and skipped).
///
/// # Safety
/// `ctx` is a live context.
unsafe fn lookup_names(ctx: *mut Ctx, names: &[String]) -> Vec<*mut Module> {
    let mut out = Vec::new();
    for n in names {
        // SAFETY: per the contract.
        match unsafe { lookup(ctx, n) } {
            Ok(found) => out.extend(found),
            Err(_) => {
                // SAFETY: live context.
                let c = unsafe { &*ctx };
                klog!(
                    c,
                    LOG_ERR,
                    "lookup_dep",
                    "failed to lookup dependency '{n}', continuing anyway.\n"
                );
            }
        }
    }
    out
}

/// The module's soft dependencies (the first softdep line whose pattern matches), looked
/// up: (pre, post), each module referenced.
///
/// # Safety
/// `m` is a live module.
pub unsafe fn softdeps(m: *const Module) -> (Vec<*mut Module>, Vec<*mut Module>) {
    // SAFETY: per the contract.
    let (ctx, name) = unsafe { ((*m).ctx, (*m).name.to_string_lossy().into_owned()) };
    // SAFETY: live context.
    let sd = unsafe { &*ctx }.inner.config().softdep_for(&name).cloned();
    match sd {
        // SAFETY: live context.
        Some(sd) => unsafe { (lookup_names(ctx, &sd.pre), lookup_names(ctx, &sd.post)) },
        None => (Vec::new(), Vec::new()),
    }
}

/// kmod_module_get_softdeps.
///
/// # Safety
/// `m` NULL or live; `pre` and `post` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_softdeps(
    m: *const Module,
    pre: *mut *mut kmod_list,
    post: *mut *mut kmod_list,
) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() || pre.is_null() || post.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: per the contract.
        unsafe {
            let (a, b) = softdeps(m);
            *pre = module_list(a);
            *post = module_list(b);
        }
        0
    })
}

/// kmod_module_get_weakdeps (kmod 33 and later).
///
/// # Safety
/// `m` NULL or live; `weak` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_weakdeps(
    m: *const Module,
    weak: *mut *mut kmod_list,
) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() || weak.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: per the contract.
        unsafe {
            let ctx = (*m).ctx;
            let name = (*m).name.to_string_lossy().into_owned();
            let names = (*ctx).inner.config().weakdeps_for(&name).to_vec();
            *weak = if names.is_empty() {
                null_mut()
            } else {
                module_list(lookup_names(ctx, &names))
            };
        }
        0
    })
}

/// kmod_module_get_options: the configured options for the module's name or the alias
/// it was found by, joined by spaces; NULL when none.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_options(m: *const Module) -> *const c_char {
    guard(std::ptr::null(), || {
        if m.is_null() {
            return std::ptr::null();
        }
        // SAFETY: live module.
        unsafe { options(m as *mut Module) }.map_or(std::ptr::null(), |o| o.as_ptr())
    })
}

/// The module's configured options (for its name or the alias it was found by, joined
/// by spaces), looked up once.
///
/// # Safety
/// `m` is a live module.
pub unsafe fn options<'a>(m: *mut Module) -> Option<&'a CString> {
    // SAFETY: per the contract.
    unsafe {
        if (*m).options.is_none() {
            let name = (*m).name.to_string_lossy().into_owned();
            let alias = (*m)
                .alias
                .as_ref()
                .map(|a| a.to_string_lossy().into_owned());
            let o = ctx_of(m)
                .inner
                .config()
                .options_for(&name, alias.as_deref());
            (*m).options = Some(o.map(|o| c_string(&o)));
        }
        (*m).options.as_ref().and_then(|o| o.as_ref())
    }
}

/// Which configured command of a module.
#[derive(Clone, Copy)]
pub enum Command {
    /// `install`.
    Install,
    /// `remove`.
    Remove,
}

/// The module's install or remove command (the first whose pattern matches, unless a
/// lookup set it).
///
/// # Safety
/// `m` is a live module.
pub unsafe fn command(m: *mut Module, which: Command) -> Option<String> {
    // SAFETY: per the contract.
    unsafe {
        let name = (*m).name.to_string_lossy().into_owned();
        let config = ctx_of(m).inner.config();
        let slot = match which {
            Command::Install => &mut (*m).install,
            Command::Remove => &mut (*m).remove,
        };
        if slot.is_none() {
            let found = match which {
                Command::Install => config.install_for(&name),
                Command::Remove => config.remove_for(&name),
            };
            *slot = Some(found.map(c_string));
        }
        slot.as_ref()
            .and_then(|c| c.as_ref())
            .map(|c| c.to_string_lossy().into_owned())
    }
}

unsafe fn command_ptr(m: *const Module, which: Command) -> *const c_char {
    if m.is_null() {
        return std::ptr::null();
    }
    let m = m as *mut Module;
    // SAFETY: live module.
    unsafe {
        command(m, which);
        let slot = match which {
            Command::Install => &(*m).install,
            Command::Remove => &(*m).remove,
        };
        slot.as_ref()
            .and_then(|c| c.as_ref())
            .map_or(std::ptr::null(), |c| c.as_ptr())
    }
}

/// kmod_module_get_install_commands.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_install_commands(m: *const Module) -> *const c_char {
    // SAFETY: per the contract.
    guard(std::ptr::null(), || unsafe {
        command_ptr(m, Command::Install)
    })
}

/// kmod_module_get_remove_commands.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_remove_commands(m: *const Module) -> *const c_char {
    // SAFETY: per the contract.
    guard(std::ptr::null(), || unsafe {
        command_ptr(m, Command::Remove)
    })
}

/// KMOD_FILTER_BLACKLIST.
pub const FILTER_BLACKLIST: c_int = 1;
/// KMOD_FILTER_BUILTIN.
pub const FILTER_BUILTIN: c_int = 2;

/// kmod_module_apply_filter: `*output` receives the modules of `input` that pass the
/// filters (blacklisted, built in), each with a new reference.
///
/// # Safety
/// `ctx` NULL or live; `input` NULL or a module list; `output` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_apply_filter(
    ctx: *const Ctx,
    filter: c_int,
    input: *const kmod_list,
    output: *mut *mut kmod_list,
) -> c_int {
    guard(-libc::EINVAL, || {
        if ctx.is_null() || output.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: per the contract.
        unsafe {
            let mut keep = Vec::new();
            for m in modules_of(input) {
                if filter & FILTER_BLACKLIST != 0 && is_blacklisted(m) {
                    continue;
                }
                if filter & FILTER_BUILTIN != 0 && is_builtin(m) {
                    continue;
                }
                (*m).refcount += 1;
                keep.push(m);
            }
            *output = module_list(keep);
        }
        0
    })
}

/// kmod_module_get_filtered_blacklist: kmod_module_apply_filter with the blacklist.
///
/// # Safety
/// As [`kmod_module_apply_filter`].
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_filtered_blacklist(
    ctx: *const Ctx,
    input: *const kmod_list,
    output: *mut *mut kmod_list,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { kmod_module_apply_filter(ctx, FILTER_BLACKLIST, input, output) }
}

impl Module {
    /// Adds a reference.
    pub fn refcount_up(&mut self) {
        self.refcount += 1;
    }

    /// The module's hard dependencies (its own list; no reference taken).
    pub fn deps_list(&self) -> *mut kmod_list {
        self.deps
    }
}
