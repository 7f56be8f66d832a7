//! A module's state in the running kernel, read from /sys/module (the context's sysfs)
//! and /proc/modules as kmod reads them: initstate, size, reference count, holders and
//! section addresses.

use std::ffi::{c_char, c_int, c_long, c_ulong, c_void};
use std::path::PathBuf;
use std::ptr::null_mut;

use crate::ctx::LOG_ERR;
use crate::ffi::{c_string, guard, io_errno, neg, strerror};
use crate::klog;
use crate::list::{self, kmod_list};
use crate::module::{ctx_of, from_name, is_builtin, module_list, Module};
use rprobe_load::host::SysfsStateError;
use rprobe_load::InitState;

/// KMOD_MODULE_BUILTIN, LIVE, COMING, GOING.
const BUILTIN: c_int = 0;
const LIVE: c_int = 1;
const COMING: c_int = 2;
const GOING: c_int = 3;

/// /sys/module/NAME of a module (under the context's sysfs).
///
/// # Safety
/// `m` is a live module.
unsafe fn sys_dir(m: *const Module) -> (PathBuf, String) {
    // SAFETY: per the contract.
    let (c, name) = unsafe { (ctx_of(m), (*m).name.to_string_lossy().into_owned()) };
    (c.inner.host().module_dir(&name), name)
}

/// kmod_module_get_initstate's rule: BUILTIN for modules.builtin's modules, else
/// /sys/module/NAME/initstate; COMING when the directory exists without the file; a
/// negative errno otherwise.
///
/// # Safety
/// `m` is a live module.
pub unsafe fn initstate(m: *mut Module) -> c_int {
    // SAFETY: per the contract.
    if unsafe { is_builtin(m) } {
        return BUILTIN;
    }
    // SAFETY: per the contract.
    let (c, name) = unsafe { (ctx_of(m), (*m).name.to_string_lossy().into_owned()) };
    match c.inner.host().read_initstate(&name) {
        Ok(InitState::Live) => LIVE,
        Ok(InitState::Coming) => COMING,
        Ok(InitState::Going) => GOING,
        Ok(InitState::Builtin) => BUILTIN,
        Err(SysfsStateError::Unknown { file, text }) => {
            klog!(
                c,
                LOG_ERR,
                "kmod_module_get_initstate",
                "unknown {}: '{}'\n",
                file.display(),
                text
            );
            -libc::EINVAL
        }
        Err(SysfsStateError::Absent(e)) => neg(io_errno(&e)),
    }
}

/// kmod_module_get_initstate.
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_initstate(m: *const Module) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: live module.
        unsafe { initstate(m as *mut Module) }
    })
}

/// kmod_module_initstate_str: "builtin", "live", "coming", "going" or NULL.
#[no_mangle]
pub extern "C" fn kmod_module_initstate_str(state: c_int) -> *const c_char {
    match state {
        BUILTIN => c"builtin".as_ptr(),
        LIVE => c"live".as_ptr(),
        COMING => c"coming".as_ptr(),
        GOING => c"going".as_ptr(),
        _ => std::ptr::null(),
    }
}

/// A number in a sysfs file, as kmod's read_str_long/ulong read it.
fn read_number(path: &std::path::Path, radix: u32) -> std::io::Result<Option<u64>> {
    let b = std::fs::read_to_string(path)?;
    let t = b.trim();
    let t = if radix == 16 {
        t.trim_start_matches("0x")
    } else {
        t
    };
    Ok(u64::from_str_radix(t, radix).ok())
}

/// kmod_module_get_size: /sys/module/NAME/coresize, else the size /proc/modules lists; a
/// negative errno when the module is not loaded (rprobe_load's `HostPaths::module_size`).
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_size(m: *const Module) -> c_long {
    guard(-libc::EINVAL as c_long, || {
        if m.is_null() {
            return -libc::ENOENT as c_long;
        }
        // SAFETY: live module.
        let (c, name) = unsafe { (ctx_of(m), (*m).name.to_string_lossy().into_owned()) };
        let mut log = |func: &str, msg: String| klog!(c, LOG_ERR, func, "{msg}\n");
        match c.inner.host().module_size(&name, &mut log) {
            Ok(n) => n as c_long,
            Err(e) => -(e as c_long),
        }
    })
}

/// kmod_module_get_refcnt: /sys/module/NAME/refcnt, or a negative errno
/// (rprobe_load's `HostPaths::module_refcnt`).
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_refcnt(m: *const Module) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() {
            return -libc::ENOENT;
        }
        // SAFETY: live module.
        let (c, name) = unsafe { (ctx_of(m), (*m).name.to_string_lossy().into_owned()) };
        let mut log = |func: &str, msg: String| klog!(c, LOG_ERR, func, "{msg}\n");
        match c.inner.host().module_refcnt(&name, &mut log) {
            Ok(n) => n as c_int,
            Err(e) => -(e as c_int),
        }
    })
}

/// The entry names of a sysfs directory, in readdir order; an ERR line and `None` when it
/// cannot be opened.
///
/// # Safety
/// `m` is a live module.
unsafe fn dir_entries(m: *const Module, sub: &str, func: &str) -> Option<(PathBuf, Vec<String>)> {
    // SAFETY: per the contract.
    let (dir, _) = unsafe { sys_dir(m) };
    let dir = dir.join(sub);
    // SAFETY: per the contract.
    let c = unsafe { ctx_of(m) };
    match std::fs::read_dir(&dir) {
        Ok(rd) => Some((
            dir,
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        )),
        Err(e) => {
            klog!(
                c,
                LOG_ERR,
                func,
                "could not open '{}': {}\n",
                dir.display(),
                strerror(io_errno(&e))
            );
            None
        }
    }
}

/// kmod_module_get_holders: the modules /sys/module/NAME/holders lists (NULL when none
/// or unreadable).
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_holders(m: *const Module) -> *mut kmod_list {
    guard(null_mut(), || {
        if m.is_null() {
            return null_mut();
        }
        // SAFETY: live module.
        let Some((_, names)) = (unsafe { dir_entries(m, "holders", "kmod_module_get_holders") })
        else {
            return null_mut();
        };
        // SAFETY: live module and context.
        let ctx = unsafe { (*m).ctx };
        // SAFETY: live context.
        module_list(names.iter().map(|n| unsafe { from_name(ctx, n) }).collect())
    })
}

/// A section entry, as C's `struct kmod_module_section { unsigned long address; char
/// name[]; }`, allocated with malloc.
fn section_entry(address: c_ulong, name: &str) -> *mut c_void {
    let n = c_string(name);
    let bytes = n.as_bytes_with_nul();
    let size = std::mem::size_of::<c_ulong>() + bytes.len();
    // SAFETY: a fresh allocation of `size` bytes, filled in full below.
    unsafe {
        let p = libc::malloc(size) as *mut u8;
        if p.is_null() {
            return null_mut();
        }
        std::ptr::write_unaligned(p as *mut c_ulong, address);
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            p.add(std::mem::size_of::<c_ulong>()),
            bytes.len(),
        );
        p as *mut c_void
    }
}

/// kmod_module_get_sections: the module's sections and their addresses (NULL when not
/// loaded).
///
/// # Safety
/// `m` is NULL or a live module.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_sections(m: *const Module) -> *mut kmod_list {
    guard(null_mut(), || {
        if m.is_null() {
            return null_mut();
        }
        // SAFETY: live module.
        let Some((dir, names)) =
            (unsafe { dir_entries(m, "sections", "kmod_module_get_sections") })
        else {
            return null_mut();
        };
        // SAFETY: live module.
        let c = unsafe { ctx_of(m) };
        let mut entries = Vec::new();
        for n in names {
            match read_number(&dir.join(&n), 16) {
                Ok(Some(a)) => entries.push(section_entry(a as c_ulong, &n)),
                _ => {
                    klog!(
                        c,
                        LOG_ERR,
                        "kmod_module_get_sections",
                        "could not read long from '{}/{n}'\n",
                        dir.display()
                    );
                    for e in entries {
                        // SAFETY: malloc'd above.
                        unsafe { libc::free(e) };
                    }
                    return null_mut();
                }
            }
        }
        list::from_iter(entries)
    })
}

/// kmod_module_section_get_name.
///
/// # Safety
/// `entry` is NULL or a node of a section list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_section_get_name(entry: *const kmod_list) -> *const c_char {
    if entry.is_null() {
        return std::ptr::null();
    }
    // SAFETY: a section entry: the name follows the address.
    unsafe { ((*entry).data as *const u8).add(std::mem::size_of::<c_ulong>()) as *const c_char }
}

/// kmod_module_section_get_address: the address, or (unsigned long)-1 for NULL.
///
/// # Safety
/// `entry` is NULL or a node of a section list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_section_get_address(entry: *const kmod_list) -> c_ulong {
    if entry.is_null() {
        return c_ulong::MAX;
    }
    // SAFETY: a section entry starts with its address.
    unsafe { std::ptr::read_unaligned((*entry).data as *const c_ulong) }
}

/// Frees a list whose entries were malloc'd (sections, info, versions, symbols).
///
/// # Safety
/// `l` is NULL or such a list.
pub unsafe fn free_malloc_list(l: *mut kmod_list) {
    // SAFETY: per the contract.
    unsafe { list::release(l, |d| libc::free(d)) }
}

/// kmod_module_section_free_list.
///
/// # Safety
/// `l` is NULL or a section list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_section_free_list(l: *mut kmod_list) {
    // SAFETY: per the contract.
    guard((), || unsafe { free_malloc_list(l) })
}
