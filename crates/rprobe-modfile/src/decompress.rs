//! Opening module files: plain ELF is memory-mapped, gzip, xz and zstd are decoded in
//! memory. The codec is chosen by the file's magic bytes, never by its name, and decoding
//! stops at a size cap so a hostile file cannot exhaust memory.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The default cap on a decompressed module: far above the largest real module (a few
/// tens of MiB with debug info).
pub const DEFAULT_MAX_SIZE: u64 = 256 << 20;

/// The environment variable that lowers or raises the cap (bytes), for tests and odd trees.
pub const MAX_SIZE_ENV: &str = "RPROBE_MAX_MODULE_SIZE";

/// How a module file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Compression {
    /// A plain ELF file.
    None,
    /// gzip (.ko.gz).
    Gzip,
    /// xz (.ko.xz).
    Xz,
    /// zstd (.ko.zst).
    Zstd,
}

impl Compression {
    /// Detects the codec from the first bytes of a file.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The codec's name as the kernel's /sys/module/compression spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// The bytes of a module, read or decoded into memory (never mapped: a file truncated
/// under a mapping would end the process with SIGBUS).
#[derive(Debug)]
pub enum ModuleBytes {
    /// Read or decoded into memory.
    Owned(Vec<u8>),
}

impl Deref for ModuleBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ModuleBytes::Owned(v) => v,
        }
    }
}

/// An opened module file: its path, how it was stored and its ELF bytes.
#[derive(Debug)]
pub struct ModuleFile {
    /// The path it was opened from.
    pub path: PathBuf,
    /// How it was stored on disk.
    pub compression: Compression,
    /// The decompressed ELF image.
    pub bytes: ModuleBytes,
    /// False for a zstd file whose first frame does not declare its content size (kmod
    /// 34 refuses those, see [`zstd_size_declared`]); true for every other file.
    pub size_declared: bool,
}

/// Whether a zstd stream starting with `head` (at least its first 5 bytes) declares its
/// decompressed size in the first frame's header: the Frame_Header_Descriptor's
/// Frame_Content_Size flag is set, or its Single_Segment flag (which implies the field).
/// kmod 34 decompresses zstd in one shot sized by that field and refuses a frame without
/// it ("zstd: Failed to determine decompression size"); a streaming `zstd` writes none.
pub fn zstd_size_declared(head: &[u8]) -> bool {
    match head.get(4) {
        Some(&fhd) => fhd & 0xC0 != 0 || fhd & 0x20 != 0,
        None => false,
    }
}

/// The cap in effect: [`MAX_SIZE_ENV`] when set to a number, else [`DEFAULT_MAX_SIZE`].
pub fn max_size() -> u64 {
    std::env::var(MAX_SIZE_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_SIZE)
}

/// How many bytes libkmod reads to tell the codecs apart: a shorter file is refused with
/// EINVAL (kmod_file_open), whatever it holds.
pub const MAGIC_LEN: usize = 6;

/// Reads the first [`MAGIC_LEN`] bytes of `file` (at its current position), as
/// kmod_file_open does before anything else: an empty file is [`Error::Empty`], a shorter
/// one EINVAL too, a failed read its errno. `path` names the file in errors.
pub fn read_magic(path: &Path, file: &mut File) -> Result<[u8; MAGIC_LEN]> {
    let mut head = [0u8; MAGIC_LEN];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    match n {
        0 => Err(Error::Empty { path: path.into() }),
        MAGIC_LEN => Ok(head),
        n => Err(Error::bad_elf(
            path,
            format!("{n} bytes, shorter than any module"),
        )),
    }
}

/// Opens a module file with the cap from [`max_size`].
pub fn open(path: &Path) -> Result<ModuleFile> {
    open_with_limit(path, max_size())
}

/// Opens a module file, decoding it if compressed, refusing more than `limit` bytes.
pub fn open_with_limit(path: &Path, limit: u64) -> Result<ModuleFile> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let head = read_magic(path, &mut file)?;
    let compression = Compression::detect(&head);
    // Read, not mapped: a module truncated under a mapping (a package being replaced) would
    // kill the process with SIGBUS, and unmapping thousands of files from several threads
    // costs more in TLB shootdowns than the copy. A file larger than the cap is refused
    // before reading: a plain module would not fit, and neither would a compressed one's
    // content.
    if size > limit {
        return Err(match compression {
            Compression::None => Error::TooLarge {
                path: path.into(),
                limit,
            },
            _ => Error::InputTooLarge {
                path: path.into(),
                size,
                limit,
            },
        });
    }
    let whole = |file: File| {
        let mut data = Vec::with_capacity(size as usize);
        data.extend_from_slice(&head);
        file.take(limit.saturating_sub(MAGIC_LEN as u64))
            .read_to_end(&mut data)
            .map_err(|e| Error::io(path, e))?;
        Ok::<_, Error>(data)
    };
    let bytes = match compression {
        Compression::None => whole(file)?,
        // Whole, for the one-shot path.
        Compression::Xz => decompress(path, compression, &whole(file)?, limit)?,
        // Decoded as a stream whose input and output both stop at the cap.
        codec => {
            let input = std::io::Cursor::new(head).chain(file.take(limit));
            decode(path, codec, input, 0, limit)?
        }
    };
    Ok(ModuleFile {
        path: path.into(),
        compression,
        bytes: ModuleBytes::Owned(bytes),
        size_declared: compression != Compression::Zstd || zstd_size_declared(&head),
    })
}

/// Decodes `data` (a whole compressed file) with `codec`, refusing more than `limit` bytes.
/// `path` only names the file in errors.
pub fn decompress(path: &Path, codec: Compression, data: &[u8], limit: u64) -> Result<Vec<u8>> {
    if codec == Compression::None {
        if data.len() as u64 > limit {
            return Err(Error::TooLarge {
                path: path.into(),
                limit,
            });
        }
        return Ok(data.to_vec());
    }
    if codec == Compression::Xz {
        match crate::xz::decode(data, limit) {
            Some(crate::xz::Outcome::Decoded(out)) => return Ok(out),
            Some(crate::xz::Outcome::TooLarge) => {
                return Err(Error::TooLarge {
                    path: path.into(),
                    limit,
                })
            }
            Some(crate::xz::Outcome::Corrupt(message)) => {
                return Err(Error::Decompress {
                    path: path.into(),
                    codec: codec.name(),
                    message,
                })
            }
            None => {}
        }
    }
    decode(path, codec, data, data.len(), limit)
}

/// Decodes a compressed stream, growing the output as it comes up to `limit` bytes.
/// `hint` (the input's size, when in memory) only sizes the first allocation, never more
/// than the cap or a few MiB.
fn decode(
    path: &Path,
    codec: Compression,
    input: impl Read,
    hint: usize,
    limit: u64,
) -> Result<Vec<u8>> {
    let bad = |message: String| Error::Decompress {
        path: path.into(),
        codec: codec.name(),
        message,
    };
    let reader: Box<dyn Read + '_> = match codec {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(input)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(input).map_err(|e| bad(e.to_string()))?)
        }
    };
    let first = (hint.saturating_mul(4) as u64).min(limit).min(FIRST_ALLOC);
    let mut out = Vec::with_capacity(first as usize);
    let got = reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    if got as u64 > limit {
        return Err(Error::TooLarge {
            path: path.into(),
            limit,
        });
    }
    if codec == Compression::Xz || codec == Compression::Zstd {
        // Both decoders report a cut stream as a clean end of input; an ELF module is never
        // empty, and the ELF reader checks that its tables fit, but say it here first.
        if out.is_empty() {
            return Err(bad("no data decoded".into()));
        }
    }
    Ok(out)
}

/// The largest first allocation for decoded output; it grows from there as data comes.
const FIRST_ALLOC: u64 = 8 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn zst(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    #[test]
    fn detects_by_magic() {
        assert_eq!(Compression::detect(&gz(b"x")), Compression::Gzip);
        assert_eq!(Compression::detect(&xz(b"x")), Compression::Xz);
        assert_eq!(Compression::detect(&zst(b"x")), Compression::Zstd);
        assert_eq!(Compression::detect(b"\x7fELF"), Compression::None);
    }

    #[test]
    fn round_trips_each_codec() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let p = Path::new("m.ko");
        for (c, enc) in [
            (Compression::Gzip, gz(&data)),
            (Compression::Xz, xz(&data)),
            (Compression::Zstd, zst(&data)),
        ] {
            assert_eq!(decompress(p, c, &enc, 1 << 20).unwrap(), data, "{c:?}");
        }
    }

    #[test]
    fn truncated_streams_are_errors() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 253) as u8).collect();
        let p = Path::new("cut.ko");
        for (c, enc) in [
            (Compression::Gzip, gz(&data)),
            (Compression::Xz, xz(&data)),
            (Compression::Zstd, zst(&data)),
        ] {
            let cut = &enc[..enc.len() / 2];
            match decompress(p, c, cut, 1 << 20) {
                Err(Error::Decompress { path, .. }) => assert_eq!(path, p),
                other => panic!("{c:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn bombs_stop_at_the_cap() {
        let data = vec![0u8; 4 << 20];
        let p = Path::new("bomb.ko.xz");
        for (c, enc) in [
            (Compression::Gzip, gz(&data)),
            (Compression::Xz, xz(&data)),
            (Compression::Zstd, zst(&data)),
        ] {
            match decompress(p, c, &enc, 1 << 20) {
                Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, 1 << 20),
                other => panic!("{c:?}: {other:?}"),
            }
        }
    }

    /// A sparse 1 TiB file that starts like xz: refused by size before any allocation.
    #[test]
    fn huge_sparse_compressed_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sparse.ko.xz");
        let mut f = File::create(&p).unwrap();
        f.write_all(&xz(b"\x7fELF")).unwrap();
        f.set_len(1 << 40).unwrap();
        drop(f);
        match open_with_limit(&p, 1 << 20) {
            Err(e @ Error::InputTooLarge { .. }) => {
                assert!(e.to_string().contains("sparse.ko.xz"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        match open(&p) {
            Err(Error::InputTooLarge { size, .. }) => assert_eq!(size, 1 << 40),
            other => panic!("{other:?}"),
        }
    }

    /// Opening streams from the file: every codec decodes, bombs stop at the cap.
    #[test]
    fn open_streams_each_codec_and_caps_bombs() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 249) as u8).collect();
        let zeros = vec![0u8; 4 << 20];
        for (name, enc, bomb) in [
            ("m.ko.gz", gz(&data), gz(&zeros)),
            ("m.ko.xz", xz(&data), xz(&zeros)),
            ("m.ko.zst", zst(&data), zst(&zeros)),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, &enc).unwrap();
            let m = open_with_limit(&p, 1 << 20).unwrap();
            assert_eq!(&*m.bytes, &data[..], "{name}");
            std::fs::write(&p, &bomb).unwrap();
            match open_with_limit(&p, 1 << 20) {
                Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, 1 << 20),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes, with or without a codec's magic in front, never panic a decoder.
        #[test]
        fn random_bytes_never_panic(magic in 0usize..4,
                                    body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let heads: [&[u8]; 4] = [b"", &[0x1f, 0x8b, 8, 0], b"\xfd7zXZ\0", &[0x28, 0xb5, 0x2f, 0xfd]];
            let mut data = heads[magic].to_vec();
            data.extend_from_slice(&body);
            let codec = Compression::detect(&data);
            let _ = decompress(Path::new("r.ko"), codec, &data, 1 << 20);
            for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
                let _ = decompress(Path::new("r.ko"), c, &body, 1 << 20);
            }
        }
    }

    /// A frame written with its size known declares it; one written as a stream of unknown
    /// length does not; what is not zstd's frame header does not either.
    #[test]
    fn zstd_declared_sizes() {
        let data = vec![7u8; 100_000];
        let mut sized = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        sized.set_pledged_src_size(Some(data.len() as u64)).unwrap();
        sized.write_all(&data).unwrap();
        assert!(zstd_size_declared(&sized.finish().unwrap()));
        let mut streamed = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        streamed.write_all(&data).unwrap();
        let streamed = streamed.finish().unwrap();
        assert!(!zstd_size_declared(&streamed));
        assert!(!zstd_size_declared(&streamed[..4]));
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.ko.zst");
        std::fs::write(&p, &streamed).unwrap();
        let f = open(&p).unwrap();
        assert!(!f.size_declared);
        assert_eq!(&*f.bytes, &data[..]);
    }
}
