//! The one error type of rprobe-depmod.

use std::path::PathBuf;

/// Every failure that stops a depmod run. A module file that cannot be read does not stop
/// it (kmod's depmod warns and goes on), so rprobe-modfile's errors reach the log, not
/// this type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file depmod reads (Module.symvers, System.map) or writes (an
    /// index, the output directory, standard output).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An index could not be built (a key kmod's format cannot hold), or kmod's rules
    /// refused an input.
    #[error(transparent)]
    Index(#[from] rprobe_index::Error),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with rprobe-depmod's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
