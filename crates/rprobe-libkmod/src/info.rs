//! What a module file says: kmod_module_get_info (.modinfo, or modules.builtin.modinfo
//! for built-in modules, then the signature), versions (__versions), exported symbols and
//! dependency symbols. Entries keep C's layouts (`{char *key; char value[]}`,
//! `{uint64_t crc; char symbol[]}`, `{uint64_t crc; uint8_t bind; char symbol[]}`), which
//! dracut-install relies on (it reads dependency symbols with the symbol accessor).

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;
use std::ptr::null_mut;

use rprobe_modfile::decompress;
use rprobe_modfile::elf::ElfModule;
use rprobe_modfile::record::{self, ReadOptions};

use crate::ffi::{c_string, guard, neg};
use crate::list::{self, kmod_list};
use crate::module::{ctx_of, is_builtin, path_of, Module};
use crate::sys::free_malloc_list;

/// malloc'd bytes: `head`, then `tail` (NUL-terminated by the caller).
fn entry(head: &[u8], tail: &[u8]) -> *mut c_void {
    // SAFETY: a fresh allocation filled in full.
    unsafe {
        let p = libc::malloc(head.len() + tail.len()) as *mut u8;
        if p.is_null() {
            return null_mut();
        }
        std::ptr::copy_nonoverlapping(head.as_ptr(), p, head.len());
        std::ptr::copy_nonoverlapping(tail.as_ptr(), p.add(head.len()), tail.len());
        p as *mut c_void
    }
}

/// An info entry: `char *key` pointing past the value, the value, then the key.
fn info_entry(key: &str, value: &str) -> *mut c_void {
    let ptr = std::mem::size_of::<*mut c_char>();
    let v = c_string(value);
    let k = c_string(key);
    let mut tail = v.as_bytes_with_nul().to_vec();
    tail.extend_from_slice(k.as_bytes_with_nul());
    let p = entry(&[0u8; 8][..ptr], &tail);
    if !p.is_null() {
        // SAFETY: the key starts after the pointer and the value.
        unsafe {
            let key_at = (p as *mut u8).add(ptr + v.as_bytes_with_nul().len());
            std::ptr::write_unaligned(p as *mut *mut u8, key_at);
        }
    }
    p
}

/// A `{uint64_t crc; [uint8_t bind;] char symbol[]}` entry.
fn crc_entry(crc: u64, bind: Option<u8>, symbol: &str) -> *mut c_void {
    let mut head = crc.to_ne_bytes().to_vec();
    head.extend(bind);
    entry(&head, c_string(symbol).as_bytes_with_nul())
}

/// Stores `entries` into `*out`; their count.
///
/// # Safety
/// `out` is writable.
unsafe fn emit(out: *mut *mut kmod_list, entries: Vec<*mut c_void>) -> c_int {
    if entries.iter().any(|e| e.is_null()) {
        for e in entries {
            // SAFETY: malloc'd (or NULL).
            unsafe { libc::free(e) };
        }
        return -libc::ENOMEM;
    }
    let n = entries.len() as c_int;
    // SAFETY: per the contract.
    unsafe { *out = list::from_iter(entries) };
    n
}

/// The module's ELF image, or a negative errno.
///
/// # Safety
/// `m` is a live module.
unsafe fn image(m: *mut Module) -> Result<(String, decompress::ModuleFile), c_int> {
    // SAFETY: per the contract.
    let Some(path) = (unsafe { path_of(m) }) else {
        return Err(-libc::ENOENT);
    };
    decompress::open(Path::new(&path))
        .map(|f| (path, f))
        .map_err(|e| neg(e.errno() as i32))
}

/// kmod_module_get_info: `*list` receives the key/value pairs; their count, or a
/// negative errno.
///
/// # Safety
/// `m` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_info(m: *const Module, out: *mut *mut kmod_list) -> c_int {
    guard(-libc::EINVAL, || {
        if m.is_null() || out.is_null() {
            return -libc::ENOENT;
        }
        let m = m as *mut Module;
        // SAFETY: live module, writable out pointer.
        unsafe {
            let c = ctx_of(m);
            let missing = c.generation().missing_section_errno() as i32;
            let pairs = if is_builtin(m) {
                let name = (*m).name.to_string_lossy().into_owned();
                match c.inner.dir().builtin_modinfo(&name) {
                    Ok(Some(p)) => p,
                    Ok(None) => Vec::new(),
                    Err(e) => return neg(e.errno() as i32),
                }
            } else {
                let Some(path) = path_of(m) else {
                    return -libc::ENOENT;
                };
                let opts = ReadOptions {
                    symbols: false,
                    signature: true,
                    modinfo_keys: None,
                    zstd_needs_size: c.generation().zstd_needs_declared_size(),
                };
                match record::read_module_with(Path::new(&path), opts) {
                    Ok(rec) if !rec.has_modinfo => return neg(missing),
                    Ok(rec) => rec.info_with_signature(),
                    Err(e) => return neg(e.errno() as i32),
                }
            };
            emit(out, pairs.iter().map(|(k, v)| info_entry(k, v)).collect())
        }
    })
}

/// kmod_module_info_get_key.
///
/// # Safety
/// `entry` is NULL or a node of an info list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_info_get_key(entry: *const kmod_list) -> *const c_char {
    if entry.is_null() {
        return std::ptr::null();
    }
    // SAFETY: an info entry starts with its key pointer.
    unsafe { std::ptr::read_unaligned((*entry).data as *const *const c_char) }
}

/// kmod_module_info_get_value.
///
/// # Safety
/// `entry` is NULL or a node of an info list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_info_get_value(entry: *const kmod_list) -> *const c_char {
    if entry.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the value follows the key pointer.
    unsafe {
        ((*entry).data as *const u8).add(std::mem::size_of::<*const c_char>()) as *const c_char
    }
}

/// kmod_module_info_free_list.
///
/// # Safety
/// `l` is NULL or an info list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_info_free_list(l: *mut kmod_list) {
    // SAFETY: per the contract.
    guard((), || unsafe { free_malloc_list(l) })
}

/// Parses the module's ELF image and hands it to `f`.
///
/// # Safety
/// `m` is a live module.
unsafe fn with_elf(
    m: *mut Module,
    f: impl FnOnce(&ElfModule) -> Result<Vec<*mut c_void>, c_int>,
) -> Result<Vec<*mut c_void>, c_int> {
    // SAFETY: per the contract.
    let (path, file) = unsafe { image(m) }?;
    let p = Path::new(&path);
    let elf = ElfModule::parse(p, &file.bytes).map_err(|e| neg(e.errno() as i32))?;
    f(&elf)
}

/// A list made from the module's ELF image by `f` (given the generation's missing-section
/// errno) into `*out`: its length, or a negative errno (-ENOENT for NULL arguments).
///
/// # Safety
/// `m` NULL or live; `out` NULL or writable.
unsafe fn elf_list(
    m: *const Module,
    out: *mut *mut kmod_list,
    f: impl FnOnce(&ElfModule, i32) -> Result<Vec<*mut c_void>, c_int>,
) -> c_int {
    if m.is_null() || out.is_null() {
        return -libc::ENOENT;
    }
    let m = m as *mut Module;
    // SAFETY: live module.
    let missing = unsafe { ctx_of(m) }.generation().missing_section_errno() as i32;
    // SAFETY: live module.
    match unsafe { with_elf(m, |elf| f(elf, missing)) } {
        // SAFETY: writable.
        Ok(v) => unsafe { emit(out, v) },
        Err(e) => e,
    }
}

/// kmod_module_get_versions: (crc, symbol) of __versions; the count or a negative errno.
///
/// # Safety
/// `m` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_versions(
    m: *const Module,
    out: *mut *mut kmod_list,
) -> c_int {
    // SAFETY: per the contract.
    guard(-libc::EINVAL, || unsafe {
        elf_list(m, out, |elf, missing| match elf.modversions() {
            Ok(Some(v)) => Ok(v.iter().map(|(crc, s)| crc_entry(*crc, None, s)).collect()),
            Ok(None) => Err(neg(missing)),
            Err(e) => Err(neg(e.errno() as i32)),
        })
    })
}

/// kmod_module_get_symbols: the exported symbols with their CRCs.
///
/// # Safety
/// `m` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_symbols(
    m: *const Module,
    out: *mut *mut kmod_list,
) -> c_int {
    // SAFETY: per the contract.
    guard(-libc::EINVAL, || unsafe {
        elf_list(m, out, |elf, missing| match elf.exports() {
            // Without __crc_ symbols kmod reads __ksymtab_strings, and its absence is an
            // error (the missing-section errno of the generation).
            Ok(v) if v.is_empty() && matches!(elf.section("__ksymtab_strings"), Ok(None)) => {
                Err(neg(missing))
            }
            Ok(v) => Ok(v.iter().map(|e| crc_entry(e.crc, None, &e.name)).collect()),
            Err(e) => Err(neg(e.errno() as i32)),
        })
    })
}

/// kmod_module_get_dependency_symbols: the undefined symbols with their CRCs and binding
/// ('W' weak, 'U' otherwise).
///
/// # Safety
/// `m` NULL or live; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_get_dependency_symbols(
    m: *const Module,
    out: *mut *mut kmod_list,
) -> c_int {
    // SAFETY: per the contract.
    guard(-libc::EINVAL, || unsafe {
        elf_list(m, out, |elf, _| match elf.imports() {
            Ok(v) => Ok(v
                .iter()
                .map(|i| crc_entry(i.crc, Some(if i.weak { b'W' } else { b'U' }), &i.name))
                .collect()),
            Err(e) => Err(neg(e.errno() as i32)),
        })
    })
}

/// The symbol of a `{crc; symbol}` entry (also what kmod returns for a dependency-symbol
/// entry given to the symbol accessor: the bind byte, then the name).
///
/// # Safety
/// `entry` is NULL or a node of a versions, symbols or dependency-symbols list.
unsafe fn symbol_at(entry: *const kmod_list, offset: usize) -> *const c_char {
    if entry.is_null() {
        return std::ptr::null();
    }
    // SAFETY: per the contract.
    unsafe { ((*entry).data as *const u8).add(offset) as *const c_char }
}

/// The CRC of an entry, 0 for NULL.
///
/// # Safety
/// As [`symbol_at`].
unsafe fn crc_at(entry: *const kmod_list) -> u64 {
    if entry.is_null() {
        return 0;
    }
    // SAFETY: every such entry starts with its CRC.
    unsafe { std::ptr::read_unaligned((*entry).data as *const u64) }
}

/// The three accessors of a `{uint64_t crc; char symbol[]}` list: its symbol, its CRC and
/// the list's release.
macro_rules! crc_list {
    ($symbol:ident, $crc:ident, $free:ident, $what:literal) => {
        #[doc = concat!(stringify!($symbol), ": the symbol of a ", $what, " entry.")]
        ///
        /// # Safety
        /// As [`symbol_at`].
        #[no_mangle]
        pub unsafe extern "C" fn $symbol(entry: *const kmod_list) -> *const c_char {
            // SAFETY: per the contract.
            unsafe { symbol_at(entry, 8) }
        }

        #[doc = concat!(stringify!($crc), ": the CRC of a ", $what, " entry.")]
        ///
        /// # Safety
        /// As [`symbol_at`].
        #[no_mangle]
        pub unsafe extern "C" fn $crc(entry: *const kmod_list) -> u64 {
            // SAFETY: per the contract.
            unsafe { crc_at(entry) }
        }

        #[doc = concat!(stringify!($free), ": frees a ", $what, " list.")]
        ///
        /// # Safety
        #[doc = concat!("`l` is NULL or a ", $what, " list.")]
        #[no_mangle]
        pub unsafe extern "C" fn $free(l: *mut kmod_list) {
            // SAFETY: per the contract.
            guard((), || unsafe { free_malloc_list(l) })
        }
    };
}

crc_list!(
    kmod_module_version_get_symbol,
    kmod_module_version_get_crc,
    kmod_module_versions_free_list,
    "versions"
);
crc_list!(
    kmod_module_symbol_get_symbol,
    kmod_module_symbol_get_crc,
    kmod_module_symbols_free_list,
    "symbols"
);

/// kmod_module_dependency_symbol_get_symbol.
///
/// # Safety
/// As [`symbol_at`].
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbol_get_symbol(
    entry: *const kmod_list,
) -> *const c_char {
    // SAFETY: per the contract.
    unsafe { symbol_at(entry, 9) }
}

/// kmod_module_dependency_symbol_get_crc.
///
/// # Safety
/// As [`symbol_at`].
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbol_get_crc(entry: *const kmod_list) -> u64 {
    // SAFETY: per the contract.
    unsafe { crc_at(entry) }
}

/// kmod_module_dependency_symbol_get_bind: the binding character, 0 for NULL.
///
/// # Safety
/// As [`symbol_at`].
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbol_get_bind(entry: *const kmod_list) -> c_int {
    if entry.is_null() {
        return 0;
    }
    // SAFETY: the bind byte follows the CRC.
    unsafe { *((*entry).data as *const u8).add(8) as c_int }
}

/// kmod_module_dependency_symbols_free_list.
///
/// # Safety
/// `l` is NULL or a dependency-symbols list.
#[no_mangle]
pub unsafe extern "C" fn kmod_module_dependency_symbols_free_list(l: *mut kmod_list) {
    // SAFETY: per the contract.
    guard((), || unsafe { free_malloc_list(l) })
}
