//! Writing an image file: an existing image first when appending (padded to 4 bytes, where
//! the kernel looks for the next archive), then the archive through its compressor, all
//! streamed into a temporary file beside the output and renamed into place.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cpio::Archive;
use crate::{Compress, Error, Result};

/// How [`write_image`] writes an image.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions<'a> {
    /// An existing image whose bytes come first (a concatenated archive).
    pub append_to: Option<&'a Path>,
    /// The archive's compression.
    pub compress: Compress,
    /// Its level (None: the format's default; see [`Compress::encoder`]).
    pub level: Option<u32>,
    /// Counts the bytes written so far, for a caller showing progress.
    pub written: Option<&'a AtomicU64>,
}

/// Writes `archive` to `output` atomically as `opts` says. Memory holds one file's worth of
/// buffers, never the image. The error names the file at fault: the base image for a read
/// error of it, a module or firmware file that changed, else the output.
pub fn write_image(archive: &Archive, output: &Path, opts: &WriteOptions<'_>) -> Result<()> {
    let mut failure: Option<Error> = None;
    let written = rprobe_depmod::atomic::write_with(output, |w| {
        let mut counted = Counted {
            inner: w,
            n: opts.written,
        };
        let w: &mut dyn Write = &mut counted;
        if let Some(base) = opts.append_to {
            append(base, w, &mut failure)?;
        }
        let mut enc = opts.compress.encoder(w, opts.level)?;
        archive.write_to(&mut enc).map_err(|e| {
            let io = std::io::Error::other(e.to_string());
            remember(&mut failure, e, io)
        })?;
        enc.finish().map(|_| ())
    });
    match (written, failure) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(f)) => Err(f),
        (Err(e), None) => Err(Error::Io {
            path: output.into(),
            source: e,
        }),
    }
}

/// Copies the base image to `w`, then pads to 4 bytes. Read errors name the base image
/// (kept in `failure`); write errors are the output's.
fn append(base: &Path, w: &mut dyn Write, failure: &mut Option<Error>) -> std::io::Result<()> {
    let named = |e: std::io::Error, failure: &mut Option<Error>| {
        let passed = std::io::Error::new(e.kind(), e.to_string());
        let kept = Error::Io {
            path: PathBuf::from(base),
            source: e,
        };
        remember(failure, kept, passed)
    };
    let mut f = std::fs::File::open(base).map_err(|e| named(e, failure))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0u64;
    loop {
        let k = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(named(e, failure)),
        };
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
    w.write_all(&[0u8; 3][..((4 - n % 4) % 4) as usize])
}

/// A writer that publishes how many bytes went through it (for a progress line).
struct Counted<'a> {
    inner: &'a mut dyn Write,
    n: Option<&'a AtomicU64>,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        if let Some(n) = self.n {
            n.fetch_add(k as u64, Ordering::Relaxed);
        }
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Keeps the first failure (naming the file at fault) and passes the I/O error on.
fn remember(slot: &mut Option<Error>, failure: Error, e: std::io::Error) -> std::io::Error {
    slot.get_or_insert(failure);
    e
}
