//! rprobe-initramfs: reproducible initramfs images. [`cpio`] writes and reads the newc
//! format the kernel unpacks (entries sorted, parents first, owner 0, fixed times, inode
//! numbers in order); [`Compress`] wraps an archive in zstd, gzip or xz; [`build`] puts a
//! module closure, its indexes and firmware into an archive; [`write_image`] writes it.
//!
//! ```
//! use rprobe_initramfs::cpio::{Archive, Entry};
//! let mut a = Archive::new(0);
//! a.add(Entry::file("etc/hello", b"hi\n".to_vec(), 0o644));
//! let bytes = a.to_bytes().expect("in memory");
//! assert!(bytes.starts_with(b"070701"));
//! ```

pub mod build;
pub mod cpio;
pub mod image;

pub use image::{write_image, WriteOptions};

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
    /// Reading an index or kmod's configuration failed.
    #[error(transparent)]
    Index(#[from] rprobe_index::Error),
    /// Reading a module file, or decompressing an image, failed.
    #[error(transparent)]
    Module(#[from] rprobe_modfile::Error),
    /// depmod could not index the tree (an unreadable symbol file, an index it could not
    /// write).
    #[error(transparent)]
    DepmodRun(#[from] rprobe_depmod::Error),
    /// depmod refused the tree (a dependency cycle, an unreadable module directory): its
    /// messages.
    #[error("depmod failed: {}", .0.join("; "))]
    Depmod(Vec<String>),
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

    /// The compression levels this format accepts, and its default (None for `none`).
    pub fn levels(self) -> Option<(std::ops::RangeInclusive<u32>, u32)> {
        match self {
            Compress::None => None,
            Compress::Zstd => Some((1..=19, 19)),
            Compress::Gzip => Some((1..=9, 9)),
            Compress::Xz => Some((0..=9, 6)),
        }
    }

    /// A writer compressing into `w` at `level` (None: the format's default; the caller
    /// checks it against [`Compress::levels`]). The same input gives the same output on
    /// any machine. End it with [`Encoder::finish`].
    pub fn encoder<W: Write>(self, w: W, level: Option<u32>) -> std::io::Result<Encoder<W>> {
        let level = level.or(self.levels().map(|(_, d)| d)).unwrap_or(0);
        Ok(match self {
            Compress::None => Encoder::None(w),
            Compress::Zstd => {
                // zstd's multi-threaded output does not depend on the number of workers
                // (any count >= 1 gives the same bytes), so using every core keeps images
                // reproducible across machines.
                let workers = std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1);
                let mut e = zstd::stream::Encoder::new(w, level as i32)?;
                e.multithread(workers.max(1))?;
                e.include_checksum(true)?;
                Encoder::Zstd(e)
            }
            Compress::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(w, flate2::Compression::new(level)),
            ),
            Compress::Xz => {
                let stream = liblzma::stream::Stream::new_easy_encoder(
                    level,
                    liblzma::stream::Check::Crc32,
                )?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(w, stream))
            }
        })
    }

    /// Compresses bytes at the default level (see [`Compress::encoder`]).
    pub fn apply(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut e = self.encoder(Vec::new(), None)?;
        e.write_all(data)?;
        e.finish()
    }
}

/// A compressing writer (see [`Compress::encoder`]).
pub enum Encoder<W: Write> {
    /// No compression.
    None(W),
    /// zstd.
    Zstd(zstd::stream::Encoder<'static, W>),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// xz.
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Ends the compressed stream and returns the inner writer.
    pub fn finish(self) -> std::io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
        }
    }
}
