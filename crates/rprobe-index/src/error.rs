//! The one error type of rprobe-index, and the words kmod uses for an errno.

use std::path::PathBuf;

use nix::errno::Errno;

/// Every failure of rprobe-index: reading configuration, the module directory and the
/// modules.* indexes, and building an index. Each variant names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An index file whose content is broken.
    #[error("{path}: corrupt index: {reason}")]
    BadIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key or value that kmod's index format cannot hold: it is 7-bit ASCII without NUL
    /// (kmod's depmod stops with "only 7-bit ASCII is supported").
    #[error("index key {key:?}: bad character 0x{byte:02x} in its {part} - only 7-bit ASCII is supported")]
    BadIndexKey {
        /// The key being inserted (lossless: the offending byte is in `key` or the value).
        key: String,
        /// "key" or "value": where the bad byte is.
        part: &'static str,
        /// The first byte that is not 7-bit ASCII, or 0 for NUL.
        byte: u8,
    },
    /// RPROBE_KMOD names a kmod generation rprobe does not reproduce.
    #[error("RPROBE_KMOD={value:?}: unknown kmod version (rprobe behaves as kmod 30 or 34: set RPROBE_KMOD=30 or RPROBE_KMOD=34, or unset it)")]
    UnknownGeneration {
        /// The value found.
        value: String,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The errno kmod reports for this failure: the I/O error's own code (EIO when it has
    /// none), EINVAL for anything else (a broken index, a key the format cannot hold).
    pub fn errno(&self) -> Errno {
        match self {
            Error::Io { source, .. } => source.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
            _ => Errno::EINVAL,
        }
    }
}

/// glibc's strerror text for an errno ("No such file or directory"), as kmod prints it:
/// the one place an errno becomes words.
pub fn errno_text(errno: Errno) -> String {
    errno.desc().to_string()
}

/// glibc's strerror text for an I/O error's errno, or the error's own text when it has
/// none.
pub fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// Result with rprobe-index's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
