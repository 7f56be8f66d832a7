//! The one error type of rprobe-index.

use std::path::PathBuf;

/// Every failure of rprobe-index. Each variant names the file it is about.
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
    /// The file is empty.
    #[error("{path}: empty file, not a kernel module")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A compressed stream that does not decode (truncated or corrupt).
    #[error("{path}: corrupt or truncated {codec} stream: {message}")]
    Decompress {
        /// The file.
        path: PathBuf,
        /// gzip, xz or zstd.
        codec: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// Decompression stopped at the size cap.
    #[error("{path}: decompressed size exceeds the limit of {limit} bytes (not a module, or a decompression bomb)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in bytes.
        limit: u64,
    },
    /// A compressed file larger than the decompression cap: refused before reading it.
    #[error("{path}: compressed file of {size} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size on disk.
        size: u64,
        /// The cap in bytes.
        limit: u64,
    },
    /// Not an ELF file, or an ELF file whose structure is broken.
    #[error("{path}: not a valid kernel module: {reason}")]
    BadElf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
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
    /// A zstd module whose frame does not declare its decompressed size, read as kmod 34
    /// reads it (one shot, sized by that field).
    #[error("{path}: zstd frame without its decompressed size (kmod 34: Failed to determine decompression size)")]
    UnsizedZstd {
        /// The module file.
        path: PathBuf,
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

    /// An [`Error::BadElf`] for `path`.
    pub fn bad_elf(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::BadElf {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The errno kmod would report for this failure (ENOEXEC for a file that is not a
    /// module, ENOENT for a missing file, the I/O error's own code otherwise).
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(5),
            Error::TooLarge { .. } | Error::InputTooLarge { .. } => 27, // EFBIG
            Error::UnsizedZstd { .. } => 22,                            // EINVAL, as kmod 34
            _ => 8,                                                     // ENOEXEC
        }
    }
}

/// glibc's strerror text for an errno ("No such file or directory"), as kmod prints it.
pub fn errno_text(errno: i32) -> String {
    nix::errno::Errno::from_raw(errno).desc().to_string()
}

/// glibc's strerror text for an I/O error's errno, or the error's own text when it has
/// none.
pub fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(n),
        None => e.to_string(),
    }
}

/// Result with rprobe-index's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
