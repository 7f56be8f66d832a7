//! The kernel as module tools see it: the [`Kernel`] trait, its load flags, a module's
//! [`InitState`] (with kmod's built-in-first rule) and rprobe-load's [`Error`].

use std::path::{Path, PathBuf};

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
    Read(#[from] rprobe_modfile::Error),
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
    /// The errno of a kernel refusal (EEXIST, ENOENT, EBUSY, ...), or the one libkmod
    /// returns for a module file it cannot read (EINVAL for most), when it is one.
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            Error::Read(e) => Some(e.errno()),
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
