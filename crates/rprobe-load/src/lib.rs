//! rprobe-load: putting modules into a kernel and taking them out. The [`Kernel`] trait has
//! two implementations: [`LinuxKernel`] (finit_module / init_module / delete_module through
//! nix, state from /sys/module and /proc/modules) and [`SimKernel`] (a simulation for tests
//! and dry runs that checks symbols are resolved in load order and keeps refcounts).
//!
//! ```
//! use rprobe_load::{Kernel, SimKernel, InitState};
//! let k = SimKernel::default();
//! assert_eq!(k.initstate("dummy"), None::<InitState>);
//! ```

pub mod host;
pub mod parallel;
pub mod probe;

pub use host::HostPaths;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rprobe_index::decompress::{self, Compression};

/// The one error type of rprobe-load.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused, with errno.
    #[error("{op} {name}: {errno}")]
    Kernel {
        /// init_module, finit_module or delete_module.
        op: &'static str,
        /// The module.
        name: String,
        /// What the kernel said.
        errno: nix::errno::Errno,
    },
    /// Reading the module file failed.
    #[error(transparent)]
    Read(#[from] rprobe_index::Error),
    /// Reading kernel state failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The simulated kernel lacks a symbol the module needs.
    #[error("{name}: Unknown symbol {symbol} (err -2)")]
    UnknownSymbol {
        /// The module.
        name: String,
        /// The symbol.
        symbol: String,
    },
}

impl Error {
    /// The errno of a kernel refusal (EEXIST, ENOENT, EBUSY, ...), when it is one.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::UnknownSymbol { .. } => Some(nix::errno::Errno::ENOENT),
            _ => None,
        }
    }
}

/// Result with rprobe-load's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A module's state in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitState {
    /// Loaded and initialised.
    Live,
    /// Initialising.
    Coming,
    /// Being removed.
    Going,
    /// Built into the kernel image.
    Builtin,
}

impl InitState {
    /// kmod_module_get_initstate's order, the one rule for "built in or loaded": a module
    /// the tree's modules.builtin lists (`builtin`) is built in, whatever the kernel says;
    /// otherwise the kernel's word (`kernel`, asked only then), None when it lacks the module.
    pub fn of(builtin: bool, kernel: impl FnOnce() -> Option<InitState>) -> Option<InitState> {
        if builtin {
            Some(InitState::Builtin)
        } else {
            kernel()
        }
    }

    /// kmod's "already in the kernel" for loading: live or built in. A "coming" module is
    /// not: kmod tries it.
    pub fn counts_as_loaded(state: Option<InitState>) -> bool {
        matches!(state, Some(InitState::Live | InitState::Builtin))
    }
}

/// glibc's own init_module(2) and delete_module(2) functions, called as libkmod calls them
/// (nix goes through syscall(2) instead), so that LD_PRELOAD tools replacing these
/// functions (kmod's testsuite fakes) see rprobe's loads and removals. finit_module has no
/// glibc function: it goes through syscall(2), as libkmod's does.
mod glibc {
    use std::ffi::CStr;

    extern "C" {
        fn init_module(
            image: *const std::ffi::c_void,
            len: std::ffi::c_ulong,
            params: *const std::ffi::c_char,
        ) -> std::ffi::c_int;
        fn delete_module(name: *const std::ffi::c_char, flags: std::ffi::c_uint)
            -> std::ffi::c_int;
    }

    /// init_module(image, params): the module image in memory.
    pub(super) fn load(image: &[u8], params: &CStr) -> nix::Result<()> {
        #[expect(unsafe_code, reason = "the pointers are a live slice and a C string")]
        let r = unsafe {
            init_module(
                image.as_ptr().cast(),
                image.len() as std::ffi::c_ulong,
                params.as_ptr(),
            )
        };
        nix::errno::Errno::result(r).map(drop)
    }

    /// delete_module(name, flags).
    pub(super) fn remove(name: &CStr, flags: nix::kmod::DeleteModuleFlags) -> nix::Result<()> {
        #[expect(unsafe_code, reason = "the pointer is a live C string")]
        let r = unsafe { delete_module(name.as_ptr(), flags.bits() as std::ffi::c_uint) };
        nix::errno::Errno::result(r).map(drop)
    }
}

/// finit_module's flag asking the kernel to decompress the file itself (linux/module.h).
const MODULE_INIT_COMPRESSED_FILE: u32 = 4;

/// Load flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadFlags {
    /// Ignore symbol versions (--force-modversion).
    pub ignore_modversions: bool,
    /// Ignore the version magic (--force-vermagic).
    pub ignore_vermagic: bool,
    /// Never hand a compressed file to the kernel: decompress in user space.
    pub userspace_decompress: bool,
}

/// What module tools need from a kernel.
pub trait Kernel {
    /// The state of a module, None when it is not in the kernel.
    fn initstate(&self, name: &str) -> Option<InitState>;
    /// How many users a loaded module has.
    fn refcnt(&self, name: &str) -> Option<u32>;
    /// The modules holding a module.
    fn holders(&self, name: &str) -> Vec<String>;
    /// Loads a module file with parameters.
    fn load(&mut self, name: &str, path: &Path, params: &str, flags: LoadFlags) -> Result<()>;
    /// Removes a module.
    fn remove(&mut self, name: &str, force: bool) -> Result<()>;
}

/// The running Linux kernel, its state read through [`HostPaths`].
#[derive(Clone, Debug, Default)]
pub struct LinuxKernel {
    /// Where the kernel's state is read (sysfs for module states, refcounts, holders).
    pub host: HostPaths,
}

impl LinuxKernel {
    /// The kernel whose state is read through `host`.
    pub fn new(host: HostPaths) -> LinuxKernel {
        LinuxKernel { host }
    }

    /// The codecs the kernel decompresses itself (/sys/module/compression).
    pub fn kernel_compression(&self) -> Option<String> {
        std::fs::read_to_string(self.host.sysfs.join("module/compression"))
            .ok()
            .map(|s| s.trim().to_string())
    }
}

impl Kernel for LinuxKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        self.host.initstate(name, false)
    }

    fn refcnt(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.host.module_dir(name).join("refcnt"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    fn holders(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.host.module_dir(name).join("holders"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    fn load(&mut self, name: &str, path: &Path, params: &str, flags: LoadFlags) -> Result<()> {
        use glibc::load as init_module;
        use nix::kmod::{finit_module, ModuleInitFlags};
        let params_c = std::ffi::CString::new(params.replace('\0', "")).unwrap_or_default();
        let mut f = ModuleInitFlags::empty();
        if flags.ignore_modversions {
            f |= ModuleInitFlags::MODULE_INIT_IGNORE_MODVERSIONS;
        }
        if flags.ignore_vermagic {
            f |= ModuleInitFlags::MODULE_INIT_IGNORE_VERMAGIC;
        }
        let file = std::fs::File::open(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        let mut head = [0u8; 6];
        let n = std::io::Read::read(&mut &file, &mut head).unwrap_or(0);
        let codec = Compression::detect(&head[..n]);
        let kernel_does = self.kernel_compression().is_some_and(|c| c == codec.name());
        let kerr = |op, errno| Error::Kernel {
            op,
            name: name.to_string(),
            errno,
        };
        if codec == Compression::None || (kernel_does && !flags.userspace_decompress) {
            // The kernel decompresses (nix has no name for this flag yet).
            if codec != Compression::None {
                f |= ModuleInitFlags::from_bits_retain(MODULE_INIT_COMPRESSED_FILE);
            }
            let file = std::fs::File::open(path).map_err(|e| Error::Io {
                path: path.into(),
                source: e,
            })?;
            match finit_module(&file, &params_c, f) {
                Ok(()) => return Ok(()),
                // No finit_module: the bytes go through init_module, decompressed here
                // (kmod 34 falls back on ENOSYS alone; any other error is the kernel's
                // answer, e.g. EINVAL for a codec setting it cannot decode).
                Err(nix::errno::Errno::ENOSYS) => {}
                Err(e) => return Err(kerr("finit_module", e)),
            }
        }
        let image = decompress::open(path)?;
        if flags.ignore_modversions || flags.ignore_vermagic {
            // As kmod: strip what the force flags ignore, then init_module.
            let mut owned = image.bytes.to_vec();
            rprobe_index::elf::strip_for_force(
                path,
                &mut owned,
                flags.ignore_modversions,
                flags.ignore_vermagic,
            )?;
            return init_module(&owned, &params_c).map_err(|e| kerr("init_module", e));
        }
        init_module(&image.bytes, &params_c).map_err(|e| kerr("init_module", e))
    }

    fn remove(&mut self, name: &str, force: bool) -> Result<()> {
        use glibc::remove as delete_module;
        use nix::kmod::DeleteModuleFlags;
        let mut f = DeleteModuleFlags::O_NONBLOCK;
        if force {
            f |= DeleteModuleFlags::O_TRUNC;
        }
        let c = std::ffi::CString::new(name).unwrap_or_default();
        delete_module(&c, f).map_err(|errno| Error::Kernel {
            op: "delete_module",
            name: name.into(),
            errno,
        })
    }
}

/// A simulated kernel: loading checks every needed symbol is exported by the kernel's own
/// symbols or a module already loaded; refcounts and holders follow; every call is recorded.
#[derive(Clone, Debug, Default)]
pub struct SimKernel {
    /// Symbols the kernel image itself exports.
    pub kernel_symbols: BTreeSet<String>,
    /// Loaded modules: name -> (exports, modules it uses).
    pub loaded: BTreeMap<String, (Vec<String>, Vec<String>)>,
    /// Built-in module names.
    pub builtin: BTreeSet<String>,
    /// Every call, in order: "load NAME PARAMS" or "remove NAME".
    pub calls: Vec<String>,
}

impl SimKernel {
    /// Resolves a module's needed symbols against the loaded modules (and the kernel's):
    /// its exports and the modules it would use, or the error the kernel would give.
    pub(crate) fn link(&self, name: &str, path: &Path) -> Result<(Vec<String>, Vec<String>)> {
        if self.loaded.contains_key(name) {
            return Err(Error::Kernel {
                op: "init_module",
                name: name.into(),
                errno: nix::errno::Errno::EEXIST,
            });
        }
        let rec = rprobe_index::record::read_module(path)?;
        let mut uses = BTreeSet::new();
        for imp in &rec.imports {
            if imp.weak || self.kernel_symbols.contains(&imp.name) || imp.name == "module_layout" {
                continue;
            }
            match self
                .loaded
                .iter()
                .find(|(_, (ex, _))| ex.contains(&imp.name))
            {
                Some((owner, _)) => {
                    uses.insert(owner.clone());
                }
                None => {
                    return Err(Error::UnknownSymbol {
                        name: name.into(),
                        symbol: imp.name.clone(),
                    });
                }
            }
        }
        let exports = rec.exports.into_iter().map(|e| e.name).collect();
        Ok((exports, uses.into_iter().collect()))
    }
}

impl Kernel for SimKernel {
    fn initstate(&self, name: &str) -> Option<InitState> {
        if self.builtin.contains(name) {
            Some(InitState::Builtin)
        } else if self.loaded.contains_key(name) {
            Some(InitState::Live)
        } else {
            None
        }
    }

    fn refcnt(&self, name: &str) -> Option<u32> {
        self.loaded.get(name)?;
        Some(self.holders(name).len() as u32)
    }

    fn holders(&self, name: &str) -> Vec<String> {
        self.loaded
            .iter()
            .filter(|(_, (_, uses))| uses.iter().any(|u| u == name))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn load(&mut self, name: &str, path: &Path, params: &str, _flags: LoadFlags) -> Result<()> {
        self.calls
            .push(format!("load {name} {params}").trim_end().to_string());
        let (exports, uses) = self.link(name, path)?;
        self.loaded.insert(name.to_string(), (exports, uses));
        Ok(())
    }

    fn remove(&mut self, name: &str, _force: bool) -> Result<()> {
        self.calls.push(format!("remove {name}"));
        if !self.loaded.contains_key(name) {
            return Err(Error::Kernel {
                op: "delete_module",
                name: name.into(),
                errno: nix::errno::Errno::ENOENT,
            });
        }
        if !self.holders(name).is_empty() {
            return Err(Error::Kernel {
                op: "delete_module",
                name: name.into(),
                errno: nix::errno::Errno::EAGAIN,
            });
        }
        self.loaded.remove(name);
        Ok(())
    }
}

/// One line of /proc/modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcModule {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Use count.
    pub refcnt: i64,
    /// Modules using it ("-" when none).
    pub used_by: Vec<String>,
}

/// Parses /proc/modules text.
pub fn parse_proc_modules(text: &str) -> Vec<ProcModule> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_string();
            let size = w.next()?.parse().ok()?;
            let refcnt = w.next()?.parse().ok()?;
            let users = w.next().unwrap_or("-");
            let used_by = users
                .split(',')
                .filter(|s| !s.is_empty() && *s != "-")
                .map(str::to_string)
                .collect();
            Some(ProcModule {
                name,
                size,
                refcnt,
                used_by,
            })
        })
        .collect()
}

/// One row of lsmod's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsmodRow {
    /// The module name.
    pub name: String,
    /// Its size in bytes (a negative errno when it could not be read, as kmod shows it).
    pub size: i64,
    /// Its use count (a negative errno when it could not be read).
    pub refcnt: i64,
    /// The modules holding it.
    pub holders: Vec<String>,
}

/// lsmod's rows as kmod's lsmod finds them: the modules of /proc/modules in its order;
/// size from SYS/module/NAME/coresize (else /proc/modules), the use count from
/// SYS/module/NAME/refcnt and the holders from SYS/module/NAME/holders in directory order
/// (libkmod's kmod_module_get_size, _get_refcnt, _get_holders). A value that cannot be read
/// is given as kmod shows it, a negative errno; a holders directory that cannot be opened is
/// reported through `error` and gives none.
pub fn lsmod_rows_sysfs(
    proc_modules: &str,
    sys: &Path,
    error: &mut dyn FnMut(String),
) -> Vec<LsmodRow> {
    fn neg_errno(e: &std::io::Error) -> i64 {
        -i64::from(e.raw_os_error().unwrap_or(nix::errno::Errno::EIO as i32))
    }
    let mut rows = Vec::new();
    for m in parse_proc_modules(proc_modules) {
        let dir = sys.join("module").join(&m.name);
        let size: i64 = match std::fs::metadata(&dir) {
            Err(e) => neg_errno(&e),
            Ok(_) => match std::fs::read_to_string(dir.join("coresize")) {
                Ok(t) => t.trim().parse().unwrap_or(-22),
                Err(_) => i64::try_from(m.size).unwrap_or(i64::MAX),
            },
        };
        let refcnt: i64 = match std::fs::read_to_string(dir.join("refcnt")) {
            Ok(t) => t.trim().parse().unwrap_or(-22),
            Err(e) => neg_errno(&e),
        };
        let holders_dir = dir.join("holders");
        let holders = match std::fs::read_dir(&holders_dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) => {
                let why = rprobe_index::error::io_text(&e);
                error(format!("could not open '{}': {why}", holders_dir.display()));
                Vec::new()
            }
        };
        rows.push(LsmodRow {
            name: m.name,
            size,
            refcnt,
            holders,
        });
    }
    rows
}

/// lsmod's rows from /proc/modules text alone (its size, use count and users columns).
pub fn lsmod_rows(proc_modules: &str) -> Vec<LsmodRow> {
    parse_proc_modules(proc_modules)
        .into_iter()
        .map(|m| LsmodRow {
            name: m.name,
            size: i64::try_from(m.size).unwrap_or(i64::MAX),
            refcnt: m.refcnt,
            holders: m.used_by,
        })
        .collect()
}

/// lsmod's table for some rows, in kmod's format.
pub fn lsmod_format(rows: &[LsmodRow]) -> String {
    let mut o = String::from("Module                  Size  Used by\n");
    for m in rows {
        o.push_str(&format!("{:<19} {:>8}  {}", m.name, m.size, m.refcnt));
        let mut first = true;
        for u in &m.holders {
            o.push_str(if first { " " } else { "," });
            o.push_str(u);
            first = false;
        }
        o.push('\n');
    }
    o
}

/// lsmod's output as kmod's lsmod makes it, from [`lsmod_rows_sysfs`].
pub fn lsmod_text_sysfs(proc_modules: &str, sys: &Path, error: &mut dyn FnMut(String)) -> String {
    lsmod_format(&lsmod_rows_sysfs(proc_modules, sys, error))
}

/// lsmod's output for /proc/modules text, as kmod's lsmod prints it.
pub fn lsmod_text(proc_modules: &str) -> String {
    lsmod_format(&lsmod_rows(proc_modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsmod_format() {
        let t = lsmod_text("ext4 1019904 1 - Live 0x0\njbd2 192512 1 ext4, Live 0x0\nmbcache 16384 1 ext4,jbd2, Live 0x0\n");
        assert_eq!(
            t,
            "Module                  Size  Used by\next4                 1019904  1\njbd2                  192512  1 ext4\nmbcache                16384  1 ext4,jbd2\n"
        );
    }
}
