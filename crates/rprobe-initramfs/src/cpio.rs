//! The cpio "newc" format the kernel unpacks into its root file system: a 110-byte ASCII
//! header (magic 070701 and 13 hex fields), the NUL-terminated name padded to 4 bytes, the
//! data padded to 4 bytes; "TRAILER!!!" ends an archive. Archives may be concatenated.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, Result};

/// One archive entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the image, without a leading '/'.
    pub name: String,
    /// File type and permission bits.
    pub mode: u32,
    /// File content, or the target of a symlink.
    pub data: Vec<u8>,
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
        }
    }
    /// A directory.
    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode: S_IFDIR | 0o755,
            data: Vec::new(),
        }
    }
    /// A symbolic link.
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.trim_start_matches('/').to_string(),
            mode: S_IFLNK | 0o777,
            data: target.as_bytes().to_vec(),
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

    /// Adds a file from disk, keeping its permission bits.
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
            let data = std::fs::read(src).map_err(io)?;
            self.add(Entry::file(dest, data, meta.permissions().mode()));
        }
        Ok(())
    }

    /// The entries in archive order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The archive's bytes: entries sorted by path (so parents come first), inode numbers
    /// 1, 2, 3... in that order, owner 0, one mtime, then the trailer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, e) in self.entries.values().enumerate() {
            let nlink = if e.is_dir() { 2 } else { 1 };
            header(
                &mut out,
                i as u32 + 1,
                e.mode,
                nlink,
                self.mtime,
                &e.name,
                e.data.len(),
            );
            out.extend_from_slice(&e.data);
            pad4(&mut out);
        }
        header(&mut out, 0, 0, 1, 0, "TRAILER!!!", 0);
        out
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
}

/// Decompresses an image (by magic bytes) and lists every entry of every concatenated
/// archive in it; `path` names the image in errors.
pub fn list(path: &Path, image: &[u8]) -> Result<Vec<Listed>> {
    let mut out = Vec::new();
    let mut rest: Vec<u8> = image.to_vec();
    loop {
        // Skip zero padding between archives.
        let start = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
        rest.drain(..start);
        if rest.is_empty() {
            break;
        }
        let codec = rprobe_index::decompress::Compression::detect(&rest);
        if codec != rprobe_index::decompress::Compression::None {
            // A compressed member runs to the end of the image.
            rest = rprobe_index::decompress::decompress(path, codec, &rest, 4 << 30)?;
            continue;
        }
        let used = list_one(path, &rest, &mut out)?;
        rest.drain(..used);
    }
    Ok(out)
}

/// Lists one uncompressed archive; returns the bytes it took.
fn list_one(path: &Path, b: &[u8], out: &mut Vec<Listed>) -> Result<usize> {
    let bad = |r: &str| Error::BadArchive {
        path: path.into(),
        reason: r.into(),
    };
    let mut p = 0usize;
    loop {
        let h = b.get(p..p + 110).ok_or_else(|| bad("truncated header"))?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            return Err(bad("bad magic"));
        }
        let field = |i: usize| -> Result<u32> {
            let s =
                std::str::from_utf8(&h[6 + i * 8..14 + i * 8]).map_err(|_| bad("bad header"))?;
            u32::from_str_radix(s, 16).map_err(|_| bad("bad header field"))
        };
        let mode = field(1)?;
        let size = field(6)? as usize;
        let namesize = field(11)? as usize;
        let name_end = p + 110 + namesize;
        let nb = b
            .get(p + 110..name_end)
            .ok_or_else(|| bad("truncated name"))?;
        let name = String::from_utf8_lossy(nb.strip_suffix(&[0]).unwrap_or(nb)).into_owned();
        let data_start = (name_end + 3) & !3;
        let data_end = data_start
            .checked_add(size)
            .ok_or_else(|| bad("bad size"))?;
        if data_end > b.len() {
            return Err(bad("truncated data"));
        }
        p = (data_end + 3) & !3;
        if name == "TRAILER!!!" {
            return Ok(p.min(b.len()));
        }
        out.push(Listed {
            name,
            mode,
            size: size as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Damaged images give an error naming the image, never a panic.
        #[test]
        fn damaged_images_never_panic(flips in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..12),
                                      cut in proptest::prelude::any::<usize>()) {
            let mut a = Archive::new(0);
            a.add(Entry::file("lib/modules/x/a.ko", vec![7; 100], 0o644));
            a.add(Entry::symlink("bin/sh", "busybox"));
            let mut b = a.to_bytes();
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
        let b = a.to_bytes();
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
}
