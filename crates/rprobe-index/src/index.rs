//! The modules.* indexes: kmod's binary trie format ([`trie`]) and [`ModuleDir`], which
//! answers module tools' lookups on a lib/modules/VERSION directory through the .bin files,
//! falling back to the text files when a .bin file is missing.

pub mod trie;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Error, Result};
pub use trie::{Layout, Trie, TrieBuilder, Value};

/// One modules.dep entry: a module's path (relative to the module directory, or absolute)
/// and the paths of the modules it needs, in modules.dep order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepEntry {
    /// The module's file.
    pub path: String,
    /// Its dependencies' files.
    pub deps: Vec<String>,
}

impl DepEntry {
    /// Parses a modules.dep line (or .bin value): `path: dep dep ...`.
    pub fn parse(line: &str) -> Option<DepEntry> {
        let (path, deps) = dep_fields(line)?;
        Some(DepEntry {
            path: path.to_string(),
            deps: deps.map(str::to_string).collect(),
        })
    }
}

/// A modules.dep line split as kmod splits it: the module's path, and its dependencies'
/// paths in order.
fn dep_fields(line: &str) -> Option<(&str, std::str::SplitWhitespace<'_>)> {
    let (path, deps) = line.split_once(':')?;
    Some((path.trim(), deps.split_whitespace()))
}

impl DepEntry {}

/// A module's modules.dep entry as lookups use it, parsed once per [`ModuleDir`]: its file
/// and its dependencies (name and file), paths made full.
#[derive(Debug, PartialEq, Eq)]
pub struct DepInfo {
    /// The module's file.
    pub path: PathBuf,
    /// Its dependencies, in modules.dep order: the module name and its file.
    pub deps: Vec<(String, PathBuf)>,
    /// The module's own file is among its dependencies (a dependency loop).
    pub needs_itself: bool,
}

/// The kind of index, with its file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// modules.dep
    Dep,
    /// modules.alias
    Alias,
    /// modules.symbols
    Symbols,
    /// modules.builtin
    Builtin,
    /// modules.builtin.alias
    BuiltinAlias,
}

impl IndexKind {
    /// Every kind, in the order kmod lists its indexes.
    pub const ALL: [IndexKind; 5] = [
        IndexKind::Dep,
        IndexKind::Alias,
        IndexKind::Symbols,
        IndexKind::Builtin,
        IndexKind::BuiltinAlias,
    ];

    /// Its place in [`IndexKind::ALL`] (and in per-kind arrays).
    pub const fn slot(self) -> usize {
        self as usize
    }

    /// The text file's name; the binary index adds ".bin".
    pub fn file_name(self) -> &'static str {
        match self {
            IndexKind::Dep => "modules.dep",
            IndexKind::Alias => "modules.alias",
            IndexKind::Symbols => "modules.symbols",
            IndexKind::Builtin => "modules.builtin",
            IndexKind::BuiltinAlias => "modules.builtin.alias",
        }
    }
}

/// What a binary index file turned out to be.
enum BinState {
    /// Not there: lookups use the text index.
    Absent,
    /// There but unusable (empty, bad magic, unreadable): as kmod, lookups in it find
    /// nothing and go on.
    Unusable,
    /// Opened.
    Ready(Trie),
}

/// A lib/modules/VERSION directory opened for lookups. Index files are read on first use.
pub struct ModuleDir {
    dir: PathBuf,
    /// Per kind, at [`IndexKind::slot`] (an array: this is on every lookup's path).
    bins: [OnceLock<BinState>; IndexKind::ALL.len()],
    text: [OnceLock<Vec<(String, String)>>; IndexKind::ALL.len()],
    /// Parsed modules.dep entries by module name (kmod keeps one module object per name
    /// in its context for the same reason): a name looked up again costs one hash lookup.
    /// Hashed with foldhash: the keys are module names from the index, and std's SipHash
    /// was 6% of `modprobe -a` over every module.
    parsed:
        std::sync::Mutex<HashMap<Box<str>, std::sync::Arc<DepInfo>, foldhash::fast::RandomState>>,
}

impl ModuleDir {
    /// Opens a module directory (it must exist).
    pub fn open(dir: &Path) -> Result<ModuleDir> {
        let meta = crate::fsx::stat(dir).map_err(|e| Error::io(dir, e))?;
        if !meta.is_dir() {
            return Err(Error::io(
                dir,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        Ok(ModuleDir {
            dir: dir.to_path_buf(),
            bins: Default::default(),
            text: Default::default(),
            parsed: std::sync::Mutex::default(),
        })
    }

    /// A module directory that is not there, as kmod goes on without one: every lookup
    /// finds nothing. `dir` is only its name.
    pub fn empty(dir: &Path) -> ModuleDir {
        ModuleDir {
            dir: dir.to_path_buf(),
            bins: std::array::from_fn(|_| OnceLock::from(BinState::Unusable)),
            text: std::array::from_fn(|_| OnceLock::from(Vec::new())),
            parsed: std::sync::Mutex::default(),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full path of a module path as modules.dep writes it (relative to the directory
    /// unless absolute).
    pub fn full_path(&self, p: &str) -> PathBuf {
        if p.starts_with('/') {
            return PathBuf::from(p);
        }
        let dir = self.dir.as_os_str();
        let mut full = std::ffi::OsString::with_capacity(dir.len() + 1 + p.len());
        full.push(dir);
        if !dir.as_encoded_bytes().ends_with(b"/") {
            full.push("/");
        }
        full.push(p);
        PathBuf::from(full)
    }

    fn bin(&self, kind: IndexKind) -> &BinState {
        self.bins[kind.slot()].get_or_init(|| {
            let path = self.dir.join(format!("{}.bin", kind.file_name()));
            match Trie::open(&path) {
                Ok(t) => BinState::Ready(t),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    BinState::Absent
                }
                Err(_) => BinState::Unusable,
            }
        })
    }

    /// Opens a binary index now (kmod_load_resources), keeping it for the lookups; its
    /// error when it is missing or unusable (lookups then treat it as kmod does).
    pub fn open_bin(&self, kind: IndexKind) -> Result<()> {
        let path = self.dir.join(format!("{}.bin", kind.file_name()));
        let mut err = None;
        self.bins[kind.slot()].get_or_init(|| match Trie::open(&path) {
            Ok(t) => BinState::Ready(t),
            Err(e) => {
                let state = match &e {
                    Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                        BinState::Absent
                    }
                    _ => BinState::Unusable,
                };
                err = Some(e);
                state
            }
        });
        match (err, self.bins[kind.slot()].get()) {
            (Some(e), _) => Err(e),
            (None, Some(BinState::Ready(_))) => Ok(()),
            // Tried before, and it failed: open it again for its error.
            (None, _) => Trie::open(&path).map(|_| ()),
        }
    }

    /// The text index as (key, value) pairs, for the fallback.
    fn text(&self, kind: IndexKind) -> &[(String, String)] {
        self.text[kind.slot()].get_or_init(|| {
            let path = self.dir.join(kind.file_name());
            let Ok(s) = std::fs::read_to_string(&path) else {
                return Vec::new();
            };
            let mut v = Vec::new();
            for line in s.lines() {
                match kind {
                    IndexKind::Dep => {
                        if let Some(e) = DepEntry::parse(line) {
                            let name = crate::name::modname_from_path(Path::new(&e.path));
                            v.push((name, line.to_string()));
                        }
                    }
                    IndexKind::Builtin => {
                        let name = crate::name::modname_from_path(Path::new(line.trim()));
                        if !name.is_empty() {
                            v.push((name, String::new()));
                        }
                    }
                    IndexKind::Alias | IndexKind::Symbols | IndexKind::BuiltinAlias => {
                        let mut w = line.split_whitespace();
                        if let (Some("alias"), Some(k), Some(m)) = (w.next(), w.next(), w.next()) {
                            v.push((k.to_string(), m.to_string()));
                        }
                    }
                }
            }
            v
        })
    }

    /// The first value stored under `key`, borrowed from the index where it can be.
    fn exact_text(&self, kind: IndexKind, key: &str) -> Result<Option<std::borrow::Cow<'_, str>>> {
        match self.bin(kind) {
            BinState::Ready(t) => {
                return Ok(t.search_bytes(key.as_bytes())?.map(crate::name::text))
            }
            BinState::Unusable => return Ok(None),
            BinState::Absent => {}
        }
        Ok(self
            .text(kind)
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| std::borrow::Cow::Borrowed(v.as_str())))
    }

    fn wild(&self, kind: IndexKind, key: &str) -> Result<Vec<String>> {
        match self.bin(kind) {
            BinState::Ready(t) => {
                return Ok(t.search_wild(key)?.into_iter().map(|v| v.value).collect())
            }
            BinState::Unusable => return Ok(Vec::new()),
            BinState::Absent => {}
        }
        Ok(self
            .text(kind)
            .iter()
            .filter(|(k, _)| trie::fnmatch(k.as_bytes(), key.as_bytes()))
            .map(|(_, v)| v.clone())
            .collect())
    }

    /// The modules.dep entry of a module name ('-' and '_' already normalised to '_').
    pub fn dep(&self, name: &str) -> Result<Option<DepEntry>> {
        Ok(self
            .exact_text(IndexKind::Dep, name)?
            .and_then(|l| DepEntry::parse(&l)))
    }

    /// The modules.dep entry of a module name, parsed once and kept: what lookups and
    /// plans use.
    pub fn dep_info(&self, name: &str) -> Result<Option<std::sync::Arc<DepInfo>>> {
        // The index first: a name that is no module (most names a coldplug or `-a` asks
        // for) costs its walk alone, without the lock and the hash.
        let Some(line) = self.exact_text(IndexKind::Dep, name)? else {
            return Ok(None);
        };
        let lock = || self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = lock().get(name) {
            return Ok(Some(hit.clone()));
        }
        let Some((path, deps)) = dep_fields(&line) else {
            return Ok(None);
        };
        let mut needs_itself = false;
        let deps = deps
            .inspect(|&d| needs_itself |= d == path)
            .map(|d| (crate::name::modname_from_str(d), self.full_path(d)))
            .collect();
        let info = std::sync::Arc::new(DepInfo {
            needs_itself,
            path: self.full_path(path),
            deps,
        });
        lock().insert(name.into(), info.clone());
        Ok(Some(info))
    }

    /// Modules whose alias patterns match `alias`, in kmod's order.
    pub fn alias(&self, alias: &str) -> Result<Vec<String>> {
        self.wild(IndexKind::Alias, alias)
    }

    /// Modules exporting a symbol; `key` is `symbol:NAME` as kmod looks it up.
    pub fn symbol(&self, key: &str) -> Result<Vec<String>> {
        self.wild(IndexKind::Symbols, key)
    }

    /// True when the module is built into the kernel (modules.builtin).
    pub fn builtin(&self, name: &str) -> Result<bool> {
        Ok(self.exact_text(IndexKind::Builtin, name)?.is_some())
    }

    /// Built-in modules whose aliases match (modules.builtin.alias.bin).
    pub fn builtin_alias(&self, alias: &str) -> Result<Vec<String>> {
        self.wild(IndexKind::BuiltinAlias, alias)
    }

    /// The modinfo of a built-in module from modules.builtin.modinfo (`name.key=value`
    /// strings), in file order. Empty when the file or the module is absent.
    pub fn builtin_modinfo(&self, name: &str) -> Result<Option<Vec<(String, String)>>> {
        let path = self.dir.join("modules.builtin.modinfo");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let prefix = format!("{name}.");
        let mut out = Vec::new();
        for s in data.split(|&b| b == 0) {
            let s = String::from_utf8_lossy(s);
            if let Some(kv) = s.strip_prefix(&prefix) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                out.push((k.to_string(), v.to_string()));
            }
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

#[cfg(test)]
mod slot_tests {
    use super::IndexKind;

    #[test]
    fn slots_follow_all() {
        for (i, k) in IndexKind::ALL.iter().enumerate() {
            assert_eq!(k.slot(), i);
        }
    }
}
