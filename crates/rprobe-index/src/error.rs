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
    // --- module reader variants (decompress, elf, signature) go here ---

    // --- index and depmod variants go here ---
}

/// Result with rprobe-index's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
