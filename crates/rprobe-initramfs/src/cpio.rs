//! The cpio "newc" format the kernel unpacks into its root file system: a 110-byte ASCII
//! header (magic 070701 and 13 hex fields), the NUL-terminated name padded to 4 bytes, the
//! data padded to 4 bytes; "TRAILER!!!" ends an archive. Archives may be concatenated.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::Read;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::{Error, Result};

/// One archive entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the image, without a leading '/'.
    pub name: String,
    /// File type and permission bits.
    pub mode: u32,
    /// File content, or the target of a symlink (empty when [`Entry::source`] is set).
    pub data: Vec<u8>,
    /// A regular file's content read from disk only when the archive is written: the file
    /// and the size it had when added (so an image streams, holding no file whole).
    pub source: Option<(PathBuf, u64)>,
}

const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;

impl Entry {
    /// A regular file.
    pub fn file(name: &str, data: Vec<u8>, perm: u32) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode: S_IFREG | (perm & 0o7777),
            data,
            source: None,
        }
    }
    /// A directory.
    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode: S_IFDIR | 0o755,
            data: Vec::new(),
            source: None,
        }
    }
    /// A symbolic link.
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode: S_IFLNK | 0o777,
            data: target.as_bytes().to_vec(),
            source: None,
        }
    }
    /// A regular file whose content is read from `src` (`size` bytes) when the archive is
    /// written.
    pub fn from_file(name: &str, src: &Path, size: u64, perm: u32) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode: S_IFREG | (perm & 0o7777),
            data: Vec::new(),
            source: Some((src.to_path_buf(), size)),
        }
    }
    /// The content's size in bytes.
    pub fn size(&self) -> u64 {
        match &self.source {
            Some((_, n)) => *n,
            None => self.data.len() as u64,
        }
    }
    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == S_IFDIR
    }
}

/// An archive being built: entries by path, written sorted with parent directories made.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
    mtime: u32,
}

impl Archive {
    /// An empty archive whose entries all get `mtime` (SOURCE_DATE_EPOCH or 0).
    pub fn new(mtime: u32) -> Archive {
        Archive {
            entries: BTreeMap::new(),
            mtime,
        }
    }

    /// The mtime from SOURCE_DATE_EPOCH, or 0.
    pub fn source_date_epoch() -> u32 {
        std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Adds (or replaces) an entry, and its parent directories.
    pub fn add(&mut self, e: Entry) {
        let mut p = Path::new(&e.name).parent();
        while let Some(d) = p {
            let s = d.to_string_lossy().into_owned();
            if s.is_empty() {
                break;
            }
            self.entries
                .entry(s.clone())
                .or_insert_with(|| Entry::dir(&s));
            p = d.parent();
        }
        self.entries.insert(e.name.clone(), e);
    }

    /// Adds a file from disk, keeping its permission bits; a regular file's content is
    /// read when the archive is written.
    pub fn add_path(&mut self, src: &Path, dest: &str) -> Result<()> {
        let io = |e| Error::Io {
            path: src.into(),
            source: e,
        };
        let meta = std::fs::symlink_metadata(src).map_err(io)?;
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(src).map_err(io)?;
            self.add(Entry::symlink(dest, &t.to_string_lossy()));
        } else if meta.is_dir() {
            self.add(Entry::dir(dest));
        } else {
            use std::os::unix::fs::PermissionsExt;
            if meta.len() > u64::from(u32::MAX) {
                return Err(Error::BadArchive {
                    path: src.into(),
                    reason: "larger than a newc entry can hold (4 GiB)".into(),
                });
            }
            self.add(Entry::from_file(
                dest,
                src,
                meta.len(),
                meta.permissions().mode(),
            ));
        }
        Ok(())
    }

    /// The entries in archive order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The archive's bytes, in memory (see [`Archive::write_to`], which streams); a file
    /// added from disk that cannot be read is an error naming it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }

    /// Writes the archive: entries sorted by path (so parents come first), inode numbers
    /// 1, 2, 3... in that order, owner 0, one mtime, then the trailer. File contents added
    /// from disk are streamed; one whose size changed since it was added is an error
    /// naming it (the header already promised the old size).
    pub fn write_to(&self, out: &mut dyn Write) -> Result<()> {
        let mut w = Counting { inner: out, n: 0 };
        // One copy buffer for every file streamed from disk.
        let mut buf = vec![0u8; 64 << 10];
        let werr = |e| Error::Io {
            path: PathBuf::from("<image>"),
            source: e,
        };
        for (i, e) in self.entries.values().enumerate() {
            let nlink = if e.is_dir() { 2 } else { 1 };
            let size = e.size();
            let mut h = Vec::with_capacity(128 + e.name.len());
            header(
                &mut h,
                i as u32 + 1,
                e.mode,
                nlink,
                self.mtime,
                &e.name,
                size as usize,
            );
            w.write_all(&h).map_err(werr)?;
            match &e.source {
                None => w.write_all(&e.data).map_err(werr)?,
                Some((src, n)) => copy_exact(src, *n, &mut w, &mut buf)?,
            }
            let pad = (4 - (w.n % 4)) % 4;
            w.write_all(&[0u8; 3][..pad as usize]).map_err(werr)?;
        }
        let mut h = Vec::new();
        header(&mut h, 0, 0, 1, 0, "TRAILER!!!", 0);
        w.write_all(&h).map_err(werr)
    }
}

/// Copies exactly `n` bytes of the file `src` to `w` (the size its header promised): a file
/// that shrank or grew since it was added is an error naming it; read errors name the
/// file, write errors the image.
fn copy_exact(src: &Path, n: u64, w: &mut dyn Write, buf: &mut [u8]) -> Result<()> {
    let io = |err| Error::Io {
        path: src.into(),
        source: err,
    };
    let mut f = std::fs::File::open(src).map_err(io)?;
    let mut left = n;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let k = match f.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        w.write_all(&buf[..k]).map_err(|e| Error::Io {
            path: PathBuf::from("<image>"),
            source: e,
        })?;
        left -= k as u64;
    }
    let grew = f.read(&mut buf[..1]).map_err(io)? != 0;
    if left > 0 || grew {
        return Err(Error::BadArchive {
            path: src.into(),
            reason: format!("changed while the image was written (its size was {n} bytes)"),
        });
    }
    Ok(())
}

/// A writer that counts what passes through it (newc pads to 4 bytes from the start).
struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, mtime: u32, name: &str, size: usize) {
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        mtime,
        size as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// One entry as listed from an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The path.
    pub name: String,
    /// Mode bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// A symbolic link's target (its data; None for other entries).
    pub target: Option<String>,
    /// A device node's major and minor numbers (0 for other entries).
    pub rdev: (u32, u32),
}

/// The default cap on the bytes decoded while listing an image, over all its compressed
/// layers together: far above any real initramfs.
pub const DEFAULT_LIST_LIMIT: u64 = 4 << 30;

/// The most compression layers stacked in one image (compressed data that decodes to
/// compressed data); the kernel itself unpacks one.
pub const MAX_LAYERS: usize = 8;

/// The longest entry name accepted (the kernel's PATH_MAX).
const MAX_NAME: usize = 4096;

/// Decompresses an image (by magic bytes) and lists every entry of every concatenated
/// archive in it; `path` names the image in errors. Streams, with [`DEFAULT_LIST_LIMIT`].
pub fn list(path: &Path, image: &[u8]) -> Result<Vec<Listed>> {
    list_reader(path, image, DEFAULT_LIST_LIMIT)
}

/// Lists the image file at `path` as a stream, with [`DEFAULT_LIST_LIMIT`].
pub fn list_file(path: &Path) -> Result<Vec<Listed>> {
    let f = std::fs::File::open(path).map_err(|e| Error::Io {
        path: path.into(),
        source: e,
    })?;
    list_reader(path, f, DEFAULT_LIST_LIMIT)
}

/// Lists an image read from `image` without holding it: uncompressed archives (zero
/// padding between them) and compressed members (gzip, xz, zstd, by magic bytes; a
/// compressed member runs to the end of its stream, and what it decodes to is listed the
/// same way). File data is skipped, never stored. More than `limit` decoded bytes over
/// all layers together is [`rprobe_modfile::Error::TooLarge`]; `path` names the image in
/// errors.
pub fn list_reader(path: &Path, image: impl Read, limit: u64) -> Result<Vec<Listed>> {
    let budget = Rc::new(Budget {
        used: Cell::new(0),
        limit,
        fault: RefCell::new(None),
    });
    let mut out = Vec::new();
    let r = list_layers(path, Box::new(image), &budget, &mut out);
    match r {
        Ok(()) => Ok(out),
        Err(e) => Err(match budget.fault.borrow_mut().take() {
            Some(Fault::Cap) => rprobe_modfile::Error::TooLarge {
                path: path.into(),
                limit,
            }
            .into(),
            Some(Fault::Codec(codec, message)) => rprobe_modfile::Error::Decompress {
                path: path.into(),
                codec,
                message,
            }
            .into(),
            None => e,
        }),
    }
}

fn list_layers<'a>(
    path: &Path,
    image: Box<dyn Read + 'a>,
    budget: &Rc<Budget>,
    out: &mut Vec<Listed>,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Io {
        path: path.into(),
        source: e,
    };
    let mut s = Stream::new(image);
    let mut layers = 0;
    loop {
        // Skip zero padding between archives.
        loop {
            let buf = s.fill(1).map_err(io)?;
            if buf.is_empty() {
                return Ok(());
            }
            let len = buf.len();
            let z = buf.iter().position(|&b| b != 0).unwrap_or(len);
            s.consume(z);
            if z < len {
                break;
            }
        }
        let head = s.fill(6).map_err(io)?;
        let codec = rprobe_modfile::decompress::Compression::detect(head);
        use rprobe_modfile::decompress::Compression as C;
        let decoder: Box<dyn Read + 'a> = match codec {
            C::None => {
                list_one(path, &mut s, out)?;
                continue;
            }
            C::Gzip => Box::new(flate2::read::MultiGzDecoder::new(s)),
            C::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(s)),
            C::Zstd => Box::new(zstd::stream::read::Decoder::new(s).map_err(|e| {
                Error::Module(rprobe_modfile::Error::Decompress {
                    path: path.into(),
                    codec: codec.name(),
                    message: e.to_string(),
                })
            })?),
        };
        layers += 1;
        if layers > MAX_LAYERS {
            return Err(Error::BadArchive {
                path: path.into(),
                reason: format!("more than {MAX_LAYERS} nested compression layers"),
            });
        }
        s = Stream::new(Box::new(Inflate {
            inner: decoder,
            codec: codec.name(),
            budget: budget.clone(),
        }));
    }
}

/// What stopped a listing inside a decoder, recorded where it happened.
enum Fault {
    /// The decoded bytes passed the cap.
    Cap,
    /// A decoder failed: its codec and message.
    Codec(&'static str, String),
}

/// Decoded bytes so far over every layer, the cap, and the first fault.
struct Budget {
    used: Cell<u64>,
    limit: u64,
    fault: RefCell<Option<Fault>>,
}

/// A decoder's output, counted against the budget.
struct Inflate<'a> {
    inner: Box<dyn Read + 'a>,
    codec: &'static str,
    budget: Rc<Budget>,
}

impl Read for Inflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let used = self.budget.used.get().saturating_add(n as u64);
                self.budget.used.set(used);
                if used > self.budget.limit {
                    self.budget.fault.borrow_mut().get_or_insert(Fault::Cap);
                    return Err(std::io::Error::other("decoded size over the cap"));
                }
                Ok(n)
            }
            Err(e) => {
                self.budget
                    .fault
                    .borrow_mut()
                    .get_or_insert_with(|| Fault::Codec(self.codec, e.to_string()));
                Err(e)
            }
        }
    }
}

/// A reader with a look-ahead buffer big enough for a header and a name.
struct Stream<'a> {
    inner: Box<dyn Read + 'a>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<'a> Stream<'a> {
    fn new(inner: Box<dyn Read + 'a>) -> Stream<'a> {
        Stream {
            inner,
            buf: vec![0; 64 << 10],
            pos: 0,
            end: 0,
        }
    }

    /// At least `n` buffered bytes (`n` <= the buffer), fewer only at the end of input.
    fn fill(&mut self, n: usize) -> std::io::Result<&[u8]> {
        if self.end - self.pos < n {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            while self.end < n {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }

    /// Skips up to `n` bytes; returns how many there were.
    fn skip(&mut self, mut n: u64) -> std::io::Result<u64> {
        let want = n;
        while n > 0 {
            let have = self.fill(1)?.len();
            if have == 0 {
                break;
            }
            let k = (have as u64).min(n) as usize;
            self.consume(k);
            n -= k as u64;
        }
        Ok(want - n)
    }
}

impl Read for Stream<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.end {
            return self.inner.read(out);
        }
        let k = out.len().min(self.end - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// Lists one uncompressed archive from the stream, up to and including its trailer.
fn list_one(path: &Path, s: &mut Stream<'_>, out: &mut Vec<Listed>) -> Result<()> {
    let bad = |r: &str| Error::BadArchive {
        path: path.into(),
        reason: r.into(),
    };
    let io = |e: std::io::Error| Error::Io {
        path: path.into(),
        source: e,
    };
    // Offsets within this archive: names and data are padded to 4 bytes from its start.
    let mut p = 0u64;
    loop {
        let h = s.fill(110).map_err(io)?;
        let h = h.get(..110).ok_or_else(|| bad("truncated header"))?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            return Err(bad("bad magic"));
        }
        let field = |i: usize| -> Result<u32> {
            let f =
                std::str::from_utf8(&h[6 + i * 8..14 + i * 8]).map_err(|_| bad("bad header"))?;
            u32::from_str_radix(f, 16).map_err(|_| bad("bad header field"))
        };
        let mode = field(1)?;
        let uid = field(2)?;
        let gid = field(3)?;
        let nlink = field(4)?;
        let mtime = field(5)?;
        let size = u64::from(field(6)?);
        let rdev = (field(9)?, field(10)?);
        let namesize = field(11)? as usize;
        if namesize > MAX_NAME {
            return Err(bad("name too long"));
        }
        s.consume(110);
        let nb = s.fill(namesize).map_err(io)?;
        let nb = nb.get(..namesize).ok_or_else(|| bad("truncated name"))?;
        let name = String::from_utf8_lossy(nb.strip_suffix(&[0]).unwrap_or(nb)).into_owned();
        s.consume(namesize);
        let name_end = p + 110 + namesize as u64;
        let data_start = (name_end + 3) & !3;
        if s.skip(data_start - name_end).map_err(io)? != data_start - name_end {
            return Err(bad("truncated name"));
        }
        let data_end = data_start + size;
        let end = (data_end + 3) & !3;
        if name == "TRAILER!!!" {
            // Padding after the trailer may be cut short at the end of the image.
            s.skip(end - data_start).map_err(io)?;
            return Ok(());
        }
        let mut target = None;
        if mode & 0o170000 == S_IFLNK && size <= MAX_NAME as u64 {
            let t = s.fill(size as usize).map_err(io)?;
            let t = t
                .get(..size as usize)
                .ok_or_else(|| bad("truncated data"))?;
            target = Some(String::from_utf8_lossy(t).into_owned());
        }
        if s.skip(size).map_err(io)? != size {
            return Err(bad("truncated data"));
        }
        if s.skip(end - data_end).map_err(io)? != end - data_end {
            return Err(bad("truncated data"));
        }
        p = end;
        out.push(Listed {
            name,
            mode,
            size,
            uid,
            gid,
            nlink,
            mtime,
            target,
            rdev,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_file_that_changed_size_after_it_was_added_is_an_error_naming_it() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("m.ko");
        for (first, then) in [
            (&b"12345678"[..], &b"123456789"[..]),
            (b"12345678", b"1234"),
        ] {
            std::fs::write(&f, first).expect("write");
            let mut a = Archive::new(0);
            a.add_path(&f, "m.ko").expect("add");
            std::fs::write(&f, then).expect("rewrite");
            let e = a.to_bytes().expect_err("changed size");
            assert!(
                e.to_string().contains("m.ko") && e.to_string().contains("changed"),
                "{e}"
            );
        }
        std::fs::write(&f, b"12345678").expect("write");
        let mut a = Archive::new(0);
        a.add_path(&f, "m.ko").expect("add");
        let b = a.to_bytes().expect("same size");
        assert!(b.windows(8).any(|w| w == b"12345678"));
    }

    proptest::proptest! {
        /// Damaged images give an error naming the image, never a panic.
        #[test]
        fn damaged_images_never_panic(flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..12),
                                      cut in proptest::prelude::any::<usize>()) {
            let mut a = Archive::new(0);
            a.add(Entry::file("lib/modules/x/a.ko", vec![7; 100], 0o644));
            a.add(Entry::symlink("bin/sh", "busybox"));
            let mut b = a.to_bytes().expect("archive");
            let n = b.len();
            for (i, x) in flips {
                b[i % n] ^= x;
            }
            b.truncate(cut % (n + 1));
            if let Err(e) = list(Path::new("img"), &b) {
                proptest::prop_assert!(e.to_string().contains("img"));
            }
        }
    }

    #[test]
    fn parents_first_and_round_trip() {
        let mut a = Archive::new(0);
        a.add(Entry::file("lib/modules/x/a.ko", vec![1, 2, 3], 0o644));
        a.add(Entry::symlink("bin/sh", "busybox"));
        let b = a.to_bytes().expect("archive");
        let l = list(Path::new("t"), &b).unwrap();
        let names: Vec<&str> = l.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "bin/sh",
                "lib",
                "lib/modules",
                "lib/modules/x",
                "lib/modules/x/a.ko"
            ]
        );
        let mut two = b.clone();
        two.extend(crate::Compress::Zstd.apply(&b).unwrap());
        assert_eq!(list(Path::new("t"), &two).unwrap().len(), 12);
        assert!(list(Path::new("t"), &b[..50]).is_err());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// zstd of `n` zero bytes, made as a stream (nothing of size `n` is held).
    fn zstd_zeros(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        zstd::stream::copy_encode(std::io::repeat(0).take(n), &mut out, 1).unwrap();
        out
    }

    fn peak_rss_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// gzip around zstd around 5 GiB of zeros (a few hundred bytes): listing streams and
    /// stops at the cap without holding the decoded data.
    #[test]
    fn stacked_bomb_stops_at_the_cap_in_constant_memory() {
        let bomb = gzip(&zstd_zeros(5 << 30));
        assert!(bomb.len() < 4096, "{}", bomb.len());
        let before = peak_rss_kib();
        match list(Path::new("bomb.img"), &bomb) {
            Err(Error::Module(rprobe_modfile::Error::TooLarge { path, limit })) => {
                assert_eq!(path, Path::new("bomb.img"));
                assert_eq!(limit, DEFAULT_LIST_LIMIT);
            }
            other => panic!("{other:?}"),
        }
        let grown = peak_rss_kib().saturating_sub(before);
        assert!(grown < 256 << 10, "peak RSS grew by {grown} KiB");
    }

    #[test]
    fn small_cap_and_entry_data_are_skipped_not_stored() {
        // One entry claiming 3 MiB of data: skipped through the stream, counted.
        let mut a = Archive::new(0);
        a.add(Entry::file("big", vec![0; 3 << 20], 0o644));
        let img = gzip(&a.to_bytes().expect("archive"));
        let p = Path::new("i.img");
        assert_eq!(list_reader(p, &img[..], 4 << 20).unwrap().len(), 1);
        assert!(matches!(
            list_reader(p, &img[..], 1 << 20),
            Err(Error::Module(rprobe_modfile::Error::TooLarge { .. }))
        ));
    }

    #[test]
    fn stacked_and_concatenated_members_list_like_before() {
        let mut a = Archive::new(0);
        a.add(Entry::file("lib/modules/x/a.ko", vec![1, 2, 3], 0o644));
        let b = a.to_bytes().expect("archive");
        let mut img = b.clone();
        img.extend([0u8; 8]);
        img.extend(gzip(&crate::Compress::Zstd.apply(&b).unwrap()));
        let l = list(Path::new("s"), &img).unwrap();
        assert_eq!(l.len(), 8);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.img");
        std::fs::write(&f, &img).unwrap();
        assert_eq!(list_file(&f).unwrap(), l);
        // Too many layers.
        let mut deep = b.clone();
        for _ in 0..=MAX_LAYERS {
            deep = gzip(&deep);
        }
        match list(Path::new("deep"), &deep) {
            Err(Error::BadArchive { reason, .. }) => assert!(reason.contains("layers"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // A corrupt compressed member names its codec.
        let mut cut = gzip(&b);
        let n = cut.len();
        cut[n / 2] ^= 0xff;
        cut[n - 6] ^= 0xff;
        assert!(list(Path::new("c"), &cut).is_err());
    }

    #[test]
    fn hostile_headers_are_errors() {
        let p = Path::new("h");
        // A name size of 4 GiB.
        let mut h = b"070701".to_vec();
        for f in [1u32, 0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xFFFF_FFFF, 0] {
            h.extend(format!("{f:08X}").as_bytes());
        }
        assert!(matches!(list(p, &h), Err(Error::BadArchive { .. })));
        // A data size of 4 GiB with no data.
        let mut h = b"070701".to_vec();
        for f in [1u32, 0o100644, 0, 0, 1, 0, 0xFFFF_FFFF, 0, 0, 0, 0, 2, 0] {
            h.extend(format!("{f:08X}").as_bytes());
        }
        h.extend(b"a\0");
        match list(p, &h) {
            Err(Error::BadArchive { reason, .. }) => assert_eq!(reason, "truncated data"),
            other => panic!("{other:?}"),
        }
    }
}
