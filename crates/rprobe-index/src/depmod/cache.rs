//! The record cache of an incremental depmod: each module's record (what the indexes need:
//! name, aliases, softdeps, weakdeps, firmware, exports and imports with CRCs) kept with the
//! identity of the file it was read from (device, inode, size, mtime and ctime in
//! nanoseconds). A run reads only the modules whose identity changed and takes the others'
//! records from the cache; dependency computation and every writer then run as in a full
//! run, so the output cannot differ.
//!
//! The cache lives beside the indexes it helps write, as `.rprobe-depmod.cache` in the
//! output module directory: it follows `-b` and `-o` (so a read-only /usr with `-o`
//! elsewhere works), and its leading dot keeps it out of the `modules.*` globs image
//! builders copy. A cache that cannot be read, fails its checksum, has another format
//! version or belongs to another module directory is ignored (and replaced); it is written
//! atomically like the indexes.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::record::ModuleRecord;

/// The cache's file name in the output module directory.
pub const FILE_NAME: &str = ".rprobe-depmod.cache";

/// The environment variable that turns the cache off (any value), like `--no-cache`.
pub const ENV_DISABLE: &str = "RPROBE_DEPMOD_NO_CACHE";

const MAGIC: &[u8; 8] = b"RPRBDMC\0";
/// Bumped whenever the record or the key changes shape or meaning.
const FORMAT_VERSION: u32 = 1;

/// A file's identity: any change to the file changes at least one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    /// The identity of the file at `path` (links followed, as the module is read).
    pub fn of(path: &Path) -> Option<FileKey> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

#[derive(Deserialize)]
struct Payload {
    moddir: String,
    entries: Vec<(String, FileKey, ModuleRecord)>,
}

/// The same layout as [`Payload`], borrowed, for writing.
#[derive(Serialize)]
struct PayloadRef<'a> {
    moddir: &'a str,
    entries: &'a [(&'a str, FileKey, &'a ModuleRecord)],
}

/// Records by module path, with the identity each was read from.
#[derive(Default)]
pub struct Cache {
    entries: HashMap<String, (FileKey, ModuleRecord)>,
}

impl Cache {
    /// The cache of module directory `moddir` stored at `path`; empty when there is none
    /// or it is not usable (damaged, another format version, another directory).
    pub fn load(path: &Path, moddir: &str) -> Cache {
        std::fs::read(path)
            .ok()
            .and_then(|data| Cache::decode(&data, moddir))
            .unwrap_or_default()
    }

    fn decode(data: &[u8], moddir: &str) -> Option<Cache> {
        let rest = data.strip_prefix(MAGIC.as_slice())?;
        let (version, rest) = rest.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*version) != FORMAT_VERSION {
            return None;
        }
        let (payload, sum) = rest.split_last_chunk::<4>()?;
        if crc32fast::hash(payload) != u32::from_le_bytes(*sum) {
            return None;
        }
        let p: Payload = postcard::from_bytes(payload).ok()?;
        if p.moddir != moddir {
            return None;
        }
        Some(Cache {
            entries: p
                .entries
                .into_iter()
                .map(|(path, key, rec)| (path, (key, rec)))
                .collect(),
        })
    }

    /// Takes the cached record of `path` out when the file still has identity `key`.
    pub fn take(&mut self, path: &str, key: &FileKey) -> Option<ModuleRecord> {
        match self.entries.get(path) {
            Some((k, _)) if k == key => self.entries.remove(path).map(|(_, rec)| rec),
            _ => None,
        }
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The bytes of a cache for `moddir` holding `entries` (path, identity, record).
    pub fn encode(
        moddir: &str,
        entries: &[(&str, FileKey, &ModuleRecord)],
    ) -> Result<Vec<u8>, postcard::Error> {
        let payload = postcard::to_allocvec(&PayloadRef { moddir, entries })?;
        let mut out = Vec::with_capacity(payload.len() + 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&payload);
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decompress::Compression;

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
        }
    }

    #[test]
    fn round_trip_and_every_kind_of_damage_is_ignored() {
        let d = tempfile::tempdir().expect("tempdir");
        let f = d.path().join("a.ko");
        std::fs::write(&f, b"x").expect("write");
        let key = FileKey::of(&f).expect("key");
        let p = d.path().join(FILE_NAME);
        let a = rec("a");
        let bytes = Cache::encode("/m", &[("/m/a.ko", key, &a)]).expect("encode");
        crate::atomic::write(&p, &bytes).expect("store");
        // Another directory's cache, a changed file, damaged bytes: nothing is trusted.
        assert!(Cache::load(&p, "/other").is_empty());
        std::fs::write(&f, b"xy").expect("rewrite");
        let mut c = Cache::load(&p, "/m");
        assert_eq!(c.take("/m/a.ko", &FileKey::of(&f).expect("key")), None);
        assert_eq!(c.take("/m/a.ko", &key), Some(rec("a")));
        assert!(c.is_empty());
        let good = std::fs::read(&p).expect("read");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(Cache::decode(&bad, "/m").is_none(), "flip at {i} trusted");
        }
        for n in 0..good.len() {
            assert!(
                Cache::decode(&good[..n], "/m").is_none(),
                "cut at {n} trusted"
            );
        }
        let mut other_version = good.clone();
        other_version[8] = 99;
        assert!(Cache::decode(&other_version, "/m").is_none());
    }
}
