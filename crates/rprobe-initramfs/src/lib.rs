//! rprobe-initramfs: reproducible initramfs images. [`cpio`] writes and reads the newc
//! format the kernel unpacks (entries sorted, parents first, owner 0, fixed times, inode
//! numbers in order); [`Compress`] wraps an archive in zstd, gzip or xz; [`build`] puts a
//! module closure, its indexes and firmware into an image.
//!
//! ```
//! use rprobe_initramfs::cpio::{Archive, Entry};
//! let mut a = Archive::new(0);
//! a.add(Entry::file("etc/hello", b"hi\n".to_vec(), 0o644));
//! let bytes = a.to_bytes();
//! assert!(bytes.starts_with(b"070701"));
//! ```

pub mod build;
pub mod cpio;

use std::io::Write;
use std::path::PathBuf;

/// The one error type of rprobe-initramfs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An image that is not a cpio archive (after decompression).
    #[error("{path}: not a cpio newc archive: {reason}")]
    BadArchive {
        /// The image.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Module lookups failed.
    #[error(transparent)]
    Resolve(#[from] rprobe_resolve::Error),
    /// Reading modules or writing indexes failed.
    #[error(transparent)]
    Index(#[from] rprobe_index::Error),
    /// A requested module was found nowhere.
    #[error("module {0} not found")]
    NotFound(String),
}

/// Result with rprobe-initramfs's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an image is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    /// Plain cpio.
    None,
    /// zstd level 19, multi-threaded (the output does not depend on the thread count).
    Zstd,
    /// gzip without a file name or time stamp.
    Gzip,
    /// xz with the CRC32 check, as the kernel wants.
    Xz,
}

impl Compress {
    /// Parses a --compress value.
    pub fn parse(s: &str) -> Option<Compress> {
        Some(match s {
            "none" => Compress::None,
            "zstd" => Compress::Zstd,
            "gzip" => Compress::Gzip,
            "xz" => Compress::Xz,
            _ => return None,
        })
    }

    /// Compresses bytes; the same input gives the same output on any machine.
    pub fn apply(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        Ok(match self {
            Compress::None => data.to_vec(),
            Compress::Zstd => {
                // zstd's multi-threaded output does not depend on the number of workers
                // (any count >= 1 gives the same bytes), so using every core keeps images
                // reproducible across machines.
                let workers = std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1);
                let mut e = zstd::stream::Encoder::new(Vec::new(), 19)?;
                e.multithread(workers.max(1))?;
                e.include_checksum(true)?;
                e.write_all(data)?;
                e.finish()?
            }
            Compress::Gzip => {
                let mut e = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), flate2::Compression::best());
                e.write_all(data)?;
                e.finish()?
            }
            Compress::Xz => {
                let stream =
                    liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc32)?;
                let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
                e.write_all(data)?;
                e.finish()?
            }
        })
    }
}
