//! The record cache of an incremental depmod: each module's record (what the indexes need:
//! name, aliases, softdeps, weakdeps, firmware, exports and imports with CRCs) kept with the
//! identity of the file it was read from (device, inode, size, mtime and ctime in
//! nanoseconds). A run reads only the modules whose identity changed and takes the others'
//! records from the cache; dependency computation and every writer then run as in a full
//! run, so the output cannot differ.
//!
//! When nothing changed at all (every module file, the options, the configuration and the
//! package's modules.order/builtin files as last time, and every index still the file the
//! last run wrote), the run replays the last run's messages and leaves the indexes alone.
//!
//! The cache lives outside the module directory, in a cache directory of the system
//! ([`default_dir`]: /var/cache/rprobe/depmod for root), one file per output directory
//! ([`file_for`]), so the module directory holds exactly the files kmod's depmod writes:
//! image builders that run depmod inside the image (Debian's mkinitramfs, dracut) or copy
//! the whole directory take no cache with them, and a read-only /usr with `-o` elsewhere
//! works. Files of output directories that no longer exist are removed when a cache is
//! written ([`prune`]). A cache that cannot be read, fails a checksum, was written by
//! another rprobe version or belongs to another module directory is ignored (and
//! replaced); it is written atomically like the indexes.
//!
//! Layout: magic, format version, then two checksummed parts, each `len (u64 LE), postcard
//! bytes, crc32 (u32 LE)`: the [`Header`] (small: what a skip decision needs) and the
//! records, decoded only when a module's record is taken.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Level;
use rprobe_modfile::record::ModuleRecord;

/// The file name suffix of cache files in the cache directory.
pub const SUFFIX: &str = ".depmod-cache";

/// The environment variable that names the cache directory (instead of [`default_dir`]'s).
pub const ENV_DIR: &str = "RPROBE_DEPMOD_CACHE_DIR";

/// The environment variable that turns the cache off (any value), like `--no-cache`.
pub const ENV_DISABLE: &str = "RPROBE_DEPMOD_NO_CACHE";

const MAGIC: &[u8; 8] = b"RPRBDMC\0";
/// Bumped whenever the layout, the record or the key changes shape or meaning.
const FORMAT_VERSION: u32 = 6;

/// A file's identity: any change to the file changes at least one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The identity of the file at `path` (links followed, as the module is read).
    pub fn of(path: &Path) -> Option<FileKey> {
        rprobe_index::fsx::stat(path)
            .ok()
            .map(|m| FileKey::from_stat(&m))
    }

    /// The identity in what stat(2) said of a file.
    pub fn from_stat(m: &rprobe_index::fsx::Stat) -> FileKey {
        FileKey {
            dev: m.dev,
            ino: m.ino,
            size: m.size,
            mtime: m.mtime,
            ctime: m.ctime,
        }
    }
}

/// What a run was: enough to tell that the next one would do exactly the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// rprobe's version: another version's cache is not trusted.
    pub rprobe: String,
    /// The module directory the records belong to.
    pub moddir: String,
    /// The absolute directory the indexes were written to (what [`file_for`] names the
    /// file after; [`prune`] drops the cache once it is gone).
    pub outdir: String,
    /// A digest of everything else the output depends on (options, configuration, the
    /// package's modules.order and builtin files).
    pub inputs: u64,
    /// Every module file in the order of the records, with its identity.
    pub modules: Vec<(String, FileKey)>,
    /// The index files written, with their identity after writing.
    pub outputs: Vec<(String, FileKey)>,
    /// The messages the run logged after finding the modules, to replay.
    pub messages: Vec<(u8, String)>,
    /// Every directory listed but the module directory, with its identity taken before the
    /// listing.
    pub dirs: Vec<(String, FileKey)>,
    /// The digest of the module directory's own listing (`search::listing_digest`), taken
    /// before the walk; None: the quick answer is not given.
    pub listing: Option<u64>,
    /// Module files found but not read (damaged), with their identity.
    pub others: Vec<(String, FileKey)>,
    /// The messages the run logged while finding the modules, to replay.
    pub early: Vec<(u8, String)>,
}

/// A level as stored.
pub fn level_code(l: Level) -> u8 {
    match l {
        Level::Error => 0,
        Level::Warning => 1,
        Level::Show => 2,
        Level::Fatal => 3,
    }
}

/// A stored level.
pub fn level_of(c: u8) -> Level {
    match c {
        0 => Level::Error,
        1 => Level::Warning,
        3 => Level::Fatal,
        _ => Level::Show,
    }
}

/// The cache directory: `$RPROBE_DEPMOD_CACHE_DIR` when set, else /var/cache/rprobe/depmod
/// for root, else `$XDG_CACHE_HOME/rprobe/depmod` (or `~/.cache/rprobe/depmod`). None when
/// no directory can be named (no home for a user).
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(ENV_DIR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if nix::unistd::geteuid().is_root() {
        return Some(PathBuf::from("/var/cache/rprobe/depmod"));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("rprobe/depmod"))
}

/// The cache file, in cache directory `dir`, of the indexes written to `outdir`: the
/// directory's last component (for people looking) and a hash of its absolute path.
pub fn file_for(dir: &Path, outdir: &Path) -> PathBuf {
    let abs = rprobe_index::moddir::absolute(outdir);
    let bytes = abs.as_os_str().as_encoded_bytes();
    let mut h = crc32fast::Hasher::new();
    h.update(bytes);
    let lo = h.finalize();
    let mut h = crc32fast::Hasher::new_with_initial(lo);
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
    let hi = h.finalize();
    let last: String = abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    dir.join(format!("{last}-{hi:08x}{lo:08x}{SUFFIX}"))
}

/// Removes the cache files in `dir` whose output directory no longer exists (image builders
/// run depmod in temporary directories), and files too damaged to say which it was.
pub fn prune(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !path.to_string_lossy().ends_with(SUFFIX) {
            continue;
        }
        let moddir = std::fs::File::open(&path)
            .ok()
            .and_then(|f| read_header(&mut std::io::BufReader::new(f)))
            .map(|h| h.outdir);
        if moddir.is_none_or(|d| {
            !Path::new(&d).is_absolute() || !rprobe_index::fsx::is_dir(Path::new(&d))
        }) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Reads the magic, format version and header of a cache; None when they do not check out.
fn read_header(r: &mut impl std::io::Read) -> Option<Header> {
    let mut magic = [0u8; 12];
    r.read_exact(&mut magic).ok()?;
    if &magic[..8] != MAGIC || magic[8..] != FORMAT_VERSION.to_le_bytes() {
        return None;
    }
    let head = read_part(r, 1 << 30)?;
    postcard::from_bytes(&head).ok()
}

/// A loaded cache: its header, and its records once asked for.
#[derive(Default)]
pub struct Cache {
    /// The last run's header (empty when there was no usable cache).
    pub header: Header,
    records: Option<Box<dyn std::io::Read>>,
    /// The records part, once read: each record's bytes, decoded only when taken.
    blob: Vec<u8>,
    by_path: HashMap<String, (FileKey, std::ops::Range<usize>)>,
}

/// Reads one `len, bytes, crc` part; None when short, oversized or the checksum fails.
fn read_part(r: &mut impl std::io::Read, max: u64) -> Option<Vec<u8>> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    if len > max {
        return None;
    }
    let mut body = Vec::new();
    r.by_ref().take(len).read_to_end(&mut body).ok()?;
    let mut sum = [0u8; 4];
    r.read_exact(&mut sum).ok()?;
    (body.len() as u64 == len && crc32fast::hash(&body) == u32::from_le_bytes(sum)).then_some(body)
}

impl Cache {
    /// The cache of module directory `moddir` stored at `path`; empty when there is none
    /// or it is not usable. Only the header is read here; the records when first taken.
    pub fn load(path: &Path, moddir: &str) -> Cache {
        std::fs::File::open(path)
            .ok()
            .and_then(|f| Cache::decode(std::io::BufReader::new(f), moddir))
            .unwrap_or_default()
    }

    /// A cache read from `r` (the bytes of a cache file) for module directory `moddir`;
    /// None when they are not a usable cache. Records are read when first taken.
    pub fn decode(mut r: impl std::io::Read + 'static, moddir: &str) -> Option<Cache> {
        let header = read_header(&mut r)?;
        if header.moddir != moddir || header.rprobe != env!("CARGO_PKG_VERSION") {
            return None;
        }
        Some(Cache {
            header,
            records: Some(Box::new(r)),
            blob: Vec::new(),
            by_path: HashMap::new(),
        })
    }

    /// Reads the records part (once): each record is `len (u32 LE), postcard bytes`, in the
    /// order of the header's modules. A part that does not check out gives no records.
    fn records(&mut self) {
        let Some(mut r) = self.records.take() else {
            return;
        };
        let Some(blob) = read_part(&mut r, 1 << 34) else {
            return;
        };
        let mut tail = [0u8; 1];
        if !matches!(r.read(&mut tail), Ok(0)) {
            return;
        }
        let mut ranges = Vec::with_capacity(self.header.modules.len());
        let mut at = 0usize;
        while at < blob.len() {
            let Some(len) = blob.get(at..at + 4) else {
                return;
            };
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(end) = (at + 4).checked_add(len).filter(|&e| e <= blob.len()) else {
                return;
            };
            ranges.push(at + 4..end);
            at = end;
        }
        if ranges.len() != self.header.modules.len() {
            return;
        }
        self.by_path = self
            .header
            .modules
            .iter()
            .cloned()
            .zip(ranges)
            .map(|((p, k), r)| (p, (k, r)))
            .collect();
        self.blob = blob;
    }

    /// Takes the cached record of `path` out when the file still has identity `key`.
    pub fn take(&mut self, path: &str, key: &FileKey) -> Option<ModuleRecord> {
        self.records();
        match self.by_path.get(path) {
            Some((k, range)) if k == key => {
                let rec = postcard::from_bytes(self.blob.get(range.clone())?).ok();
                self.by_path.remove(path);
                rec
            }
            _ => None,
        }
    }

    /// True when the last run had exactly these inputs and module files, and every index
    /// it wrote in `outdir` is still that file: the next run would write the same bytes.
    pub fn unchanged(&self, inputs: u64, modules: &[(String, FileKey)], outdir: &Path) -> bool {
        let h = &self.header;
        !h.outputs.is_empty()
            && h.inputs == inputs
            && h.modules == modules
            && h.outputs
                .iter()
                .all(|(name, key)| FileKey::of(&outdir.join(name)).as_ref() == Some(key))
    }

    /// True when the last run's answer stands without listing the tree again: it recorded
    /// its directories, each still has the identity it had before the last run listed it
    /// (a directory's identity changes whenever an entry is added, removed or renamed), and
    /// the inputs, every module file it found and every index it wrote are unchanged.
    pub fn tree_unchanged(&self, inputs: u64, outdir: &Path, listing: Option<u64>) -> bool {
        use rayon::prelude::*;
        let h = &self.header;
        let same = |(p, k): &(String, FileKey)| FileKey::of(Path::new(p)).as_ref() == Some(k);
        h.listing.is_some()
            && h.inputs == inputs
            && !h.outputs.is_empty()
            && h.outputs
                .iter()
                .all(|(name, key)| FileKey::of(&outdir.join(name)).as_ref() == Some(key))
            && listing == h.listing
            && h.dirs.par_iter().all(same)
            && h.modules.par_iter().chain(h.others.par_iter()).all(same)
    }

    /// Writes a cache: `header` and the records (in the order of `header.modules`),
    /// atomically, encoding straight into the file.
    pub fn store(path: &Path, header: &Header, records: &[&ModuleRecord]) -> std::io::Result<()> {
        let head = postcard::to_allocvec(header).map_err(std::io::Error::other)?;
        // The records part, each record length-prefixed so a run decodes only the records
        // it takes; sized first so nothing is held in memory.
        let mut sizes = Vec::with_capacity(records.len());
        for r in records {
            sizes.push(postcard::experimental::serialized_size(r).map_err(std::io::Error::other)?);
        }
        let len: usize = sizes.iter().map(|n| n + 4).sum();
        crate::atomic::write_with(path, |w| {
            w.write_all(MAGIC)?;
            w.write_all(&FORMAT_VERSION.to_le_bytes())?;
            w.write_all(&(head.len() as u64).to_le_bytes())?;
            w.write_all(&head)?;
            w.write_all(&crc32fast::hash(&head).to_le_bytes())?;
            w.write_all(&(len as u64).to_le_bytes())?;
            let mut c = Crc {
                inner: w,
                hasher: crc32fast::Hasher::new(),
            };
            for (r, n) in records.iter().zip(sizes) {
                c.write_all(&(n as u32).to_le_bytes())?;
                postcard::to_io(r, &mut c).map_err(std::io::Error::other)?;
            }
            let sum = c.hasher.finalize();
            w.write_all(&sum.to_le_bytes())
        })
    }
}

/// A writer that checksums what passes through it.
struct Crc<'a> {
    inner: &'a mut dyn Write,
    hasher: crc32fast::Hasher,
}

impl Write for Crc<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rprobe_modfile::decompress::Compression;

    proptest! {
        /// Arbitrary bytes, alone or after a valid magic and version, are never trusted
        /// by accident and never panic, whatever is asked of them.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), prefixed in any::<bool>()) {
            let mut data = Vec::new();
            if prefixed {
                data.extend_from_slice(MAGIC);
                data.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            }
            data.extend_from_slice(&body);
            if let Some(mut c) = Cache::decode(std::io::Cursor::new(data), "/m") {
                let key = FileKey { dev: 0, ino: 0, size: 0, mtime: (0, 0), ctime: (0, 0) };
                let _ = c.take("/m/a.ko", &key);
                let _ = c.unchanged(0, &[], Path::new("/nonexistent"));
            }
        }
    }

    fn rec(name: &str) -> ModuleRecord {
        ModuleRecord {
            path: format!("/m/{name}.ko").into(),
            name: name.into(),
            compression: Compression::None,
            modinfo: vec![("alias".into(), "fs-x".into())],
            has_modinfo: true,
            exports: Vec::new(),
            imports: Vec::new(),
            signature: None,
            size_declared: true,
        }
    }

    #[test]
    fn one_file_per_output_directory_and_pruning_keeps_only_living_trees() {
        let d = tempfile::tempdir().expect("tempdir");
        let live = d.path().join("lib/modules/6.1.0-1-amd64");
        std::fs::create_dir_all(&live).expect("mkdir");
        let gone = d.path().join("gone/6.1.0-1-amd64");
        let a = file_for(d.path(), &live);
        assert_ne!(
            a,
            file_for(d.path(), &gone),
            "same last component, other paths"
        );
        assert_eq!(a, file_for(d.path(), &live), "stable");
        assert!(a.to_string_lossy().contains("6.1.0-1-amd64-"), "{a:?}");
        let header = |outdir: &Path| Header {
            rprobe: env!("CARGO_PKG_VERSION").into(),
            moddir: "lib/modules/6.1.0-1-amd64".into(),
            outdir: outdir.to_string_lossy().into_owned(),
            ..Header::default()
        };
        Cache::store(&a, &header(&live), &[]).expect("store");
        let b = file_for(d.path(), &gone);
        Cache::store(&b, &header(&gone), &[]).expect("store");
        let junk = d.path().join(format!("junk{SUFFIX}"));
        std::fs::write(&junk, b"not a cache").expect("write");
        let other = d.path().join("notes.txt");
        std::fs::write(&other, b"kept").expect("write");
        prune(d.path());
        assert!(a.exists(), "a living tree's cache is kept");
        assert!(!b.exists(), "a removed tree's cache goes");
        assert!(!junk.exists(), "an unreadable cache goes");
        assert!(other.exists(), "other files are left alone");
    }

    #[test]
    fn round_trip_and_every_kind_of_damage_is_ignored() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("a.ko");
        std::fs::write(&f, b"x").expect("write");
        let key = FileKey::of(&f).expect("key");
        let p = file_for(d.path(), Path::new("/m"));
        let a = rec("a");
        let header = Header {
            rprobe: env!("CARGO_PKG_VERSION").into(),
            moddir: "/m".into(),
            outdir: "/m".into(),
            inputs: 7,
            modules: vec![("/m/a.ko".into(), key)],
            outputs: vec![("a.ko".into(), key)],
            messages: vec![(1, "w".into())],
            ..Header::default()
        };
        Cache::store(&p, &header, &[&a]).expect("store");
        assert!(Cache::load(&p, "/m").unchanged(7, &header.modules, d.path()));
        assert!(!Cache::load(&p, "/m").unchanged(8, &header.modules, d.path()));
        // Another directory's cache, a changed file, damaged bytes: nothing is trusted.
        assert!(Cache::load(&p, "/other").header.modules.is_empty());
        std::fs::write(&f, b"xy").expect("rewrite");
        let mut c = Cache::load(&p, "/m");
        assert_eq!(c.header, header);
        assert!(
            !c.unchanged(7, &header.modules, d.path()),
            "an output changed"
        );
        assert_eq!(c.take("/m/a.ko", &FileKey::of(&f).expect("key")), None);
        assert_eq!(c.take("/m/a.ko", &key), Some(rec("a")));
        let good = std::fs::read(&p).expect("read");
        let usable = |bytes: Vec<u8>| {
            Cache::decode(std::io::Cursor::new(bytes), "/m")
                .is_some_and(|mut c| c.take("/m/a.ko", &key).is_some())
        };
        assert!(usable(good.clone()));
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(!usable(bad), "flip at {i} trusted");
        }
        for n in 0..good.len() {
            assert!(!usable(good[..n].to_vec()), "cut at {n} trusted");
        }
    }
}
