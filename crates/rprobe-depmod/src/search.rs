//! Finding the modules: the directory walk (excluded names, symlinks followed), depmod.d
//! search and override priorities when two files give the same module name, and the
//! modules.order sort.

use std::collections::HashMap;
use std::path::Path;

use crate::{Config, Level, Search};
use rprobe_index::name;

/// One module as depmod tracks it.
pub(crate) struct Mod {
    pub(crate) path: String,
    pub(crate) relpath: Option<String>,
    pub(crate) uncrelpath: Option<String>,
    pub(crate) modname: String,
    /// The directory part of path (without the last '/').
    pub(crate) baselen: usize,
    pub(crate) sort_idx: i64,
}

impl Mod {
    pub(crate) fn shown_path(&self) -> &str {
        self.relpath.as_deref().unwrap_or(&self.path)
    }
}

pub(crate) fn is_excluded(cfg: &Config, name: &str) -> bool {
    name == "."
        || name == ".."
        || name == "build"
        || name == "source"
        || cfg.excludes.iter().any(|e| e == name)
}

/// The modules depmod has found so far, by the walk or on the command line: one per module
/// name, depmod.d's override and search lines deciding between two files of one name
/// ([`FoundModules::priority_keeps_old`]).
pub(crate) struct FoundModules<'a> {
    /// depmod.d.
    pub(crate) cfg: &'a Config,
    /// The module directory; paths under it are ranked by their part relative to it.
    pub(crate) dirname: String,
    /// The modules, in the order found.
    pub(crate) mods: Vec<Mod>,
    /// Each module name's index in `mods`.
    pub(crate) by_name: HashMap<String, usize>,
    /// Every directory searched, with its identity taken before it was listed (None: not
    /// recorded); an unchanged identity means an unchanged listing, so the record cache can
    /// tell that no module was added, removed or renamed without listing them again.
    pub(crate) dirs: Option<Vec<(String, Option<crate::cache::FileKey>)>>,
}

impl FoundModules<'_> {
    /// Whether `old`, already found, stays when the file `newpath` (its directory part
    /// `new_base` bytes long, its module name `new_modname`) gives the same module name;
    /// false: the new file replaces it. kmod's `depmod_module_is_higher_priority`, whose
    /// true means the same.
    ///
    /// An override line naming either file's path relative to the module directory
    /// decides first (the first line naming one; the named file wins). Otherwise each
    /// file is ranked by its place in `cfg.searches` (depmod.d's search entries, last line
    /// first, so a higher place is an earlier line): the entry whose directory holds it,
    /// each external directory taking a place of its own where `external` stands, and a
    /// file under no entry ranking as `built-in` (or below every entry without one). The
    /// new file replaces the old only when it ranks higher: on a tie the first found stays.
    pub(crate) fn priority_keeps_old(
        &self,
        old: &Mod,
        newpath: &str,
        new_base: usize,
        new_modname: &str,
    ) -> bool {
        let dl = self.dirname.len();
        let newlen = new_base + 1 + new_modname.len();
        let oldlen = old.baselen + 1 + old.modname.len();
        let rel = |p: &str, len: usize| -> Option<String> {
            if p.starts_with(&self.dirname) && p.len() > dl {
                Some(
                    String::from_utf8_lossy(
                        p.as_bytes().get(dl + 1..len.min(p.len())).unwrap_or(b""),
                    )
                    .into_owned(),
                )
            } else {
                None
            }
        };
        let relnew = rel(newpath, newlen);
        let relold = rel(&old.path, oldlen);
        for ov in &self.cfg.overrides {
            // The overridden path wins whichever came first.
            if relnew.as_deref() == Some(ov.as_str()) {
                return false;
            }
            if relold.as_deref() == Some(ov.as_str()) {
                return true;
            }
        }
        let (mut bprio, mut oldprio, mut newprio) = (-1i64, -1i64, -1i64);
        let mut i = 0i64;
        for se in &self.cfg.searches {
            match se {
                Search::Builtin => bprio = i,
                Search::External => {
                    for ext in &self.cfg.externals {
                        let e = ext.to_string_lossy();
                        if starts_with_dir(byte_prefix(newpath, newlen), &e) {
                            newprio = i;
                        }
                        if starts_with_dir(byte_prefix(&old.path, oldlen), &e) {
                            oldprio = i;
                        }
                        i += 1;
                    }
                }
                Search::Path(p) => {
                    if let Some(r) = &relnew {
                        if r.len() > p.len()
                            && r.starts_with(p.as_str())
                            && r.as_bytes()[p.len()] == b'/'
                        {
                            newprio = i;
                        }
                    }
                    if let Some(r) = &relold {
                        if r.len() > p.len()
                            && r.starts_with(p.as_str())
                            && r.as_bytes()[p.len()] == b'/'
                        {
                            oldprio = i;
                        }
                    }
                }
            }
            i += 1;
        }
        if newprio < 0 {
            newprio = bprio;
        }
        if oldprio < 0 {
            oldprio = bprio;
        }
        newprio <= oldprio
    }

    pub(crate) fn add(&mut self, path: String) {
        let base = path.rfind('/').unwrap_or(0);
        let modname = name::modname_from_path(Path::new(&path));
        if let Some(&i) = self.by_name.get(&modname) {
            if self.priority_keeps_old(&self.mods[i], &path, base, &modname) {
                return;
            }
            self.by_name.remove(&modname);
            self.mods.remove(i);
            for v in self.by_name.values_mut() {
                if *v > i {
                    *v -= 1;
                }
            }
        }
        let dl = self.dirname.len();
        let relpath = if path.starts_with(&self.dirname) && path.as_bytes().get(dl) == Some(&b'/') {
            Some(String::from_utf8_lossy(&path.as_bytes()[dl + 1..]).into_owned())
        } else {
            None
        };
        let uncrelpath = relpath.as_ref().map(|r| {
            let last = r.rfind('/').map(|i| i + 1).unwrap_or(0);
            let n = (last + modname.len() + 3).min(r.len());
            String::from_utf8_lossy(byte_prefix(r, n)).into_owned()
        });
        self.by_name.insert(modname.clone(), self.mods.len());
        self.mods.push(Mod {
            path,
            relpath,
            uncrelpath,
            modname,
            baselen: base,
            sort_idx: 1,
        });
    }

    pub(crate) fn search_dir(
        &mut self,
        top: &str,
        log: &mut dyn FnMut(Level, String),
    ) -> std::io::Result<()> {
        // Identities before listings: a file added after its directory was stat'ed changes
        // the identity the next run compares against.
        // The module directory itself changes identity whenever depmod writes its indexes
        // there: its listing's digest stands for it instead (see `listing_digest`).
        if let Some(dirs) = &mut self.dirs {
            if top != self.dirname {
                dirs.push((top.to_string(), crate::cache::FileKey::of(Path::new(top))));
            }
        }
        let cfg = self.cfg;
        let mut found = Vec::new();
        walk(
            top,
            &|name| is_excluded(cfg, name),
            &mut |f| found.push(f),
            &mut |p, e| {
                log(
                    Level::Error,
                    format!(
                        "could not open directory {p}: {}",
                        rprobe_index::error::io_text(&e)
                    ),
                )
            },
        )?;
        for f in found {
            if let Some(st) = f.dir {
                if let Some(dirs) = &mut self.dirs {
                    dirs.push((f.path, Some(crate::cache::FileKey::from_stat(&st))));
                }
            } else if name::is_module_filename(&f.name) {
                self.add(f.path);
            }
        }
        Ok(())
    }
}

/// A digest of what a walk would take from directory `dir` itself: the names of its module
/// files and of its subdirectories (links followed; excluded names left out), sorted. None
/// when it cannot be listed. Index files and temporary files do not count, so depmod's own
/// writes leave it unchanged.
pub(crate) fn listing_digest(cfg: &Config, dir: &str) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir).ok()? {
        let e = e.ok()?;
        let name = e.file_name().to_string_lossy().into_owned();
        if is_excluded(cfg, &name) {
            continue;
        }
        let ty = e.file_type().ok()?;
        let (is_file, is_dir) = if ty.is_symlink() {
            match rprobe_index::fsx::stat(&e.path()) {
                Ok(m) => (m.is_file(), m.is_dir()),
                Err(_) => continue,
            }
        } else {
            (ty.is_file(), ty.is_dir())
        };
        if is_dir || (is_file && name::is_module_filename(&name)) {
            names.push(name);
        }
    }
    names.sort_unstable();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    names.hash(&mut h);
    Some(h.finish())
}

/// A directory or regular file [`walk`] found (links followed).
pub(crate) struct Found {
    /// TOP/.../NAME as the walk spelled it.
    pub path: String,
    /// The entry's own name.
    pub name: String,
    /// For a directory, what stat(2) said of it (its identity, for the record cache);
    /// None for a regular file.
    pub dir: Option<rprobe_index::fsx::Stat>,
}

/// One directory being walked: its path, its entries still to visit (read whole when it
/// was opened, so no descriptor stays open while its subdirectories are walked), and its
/// identity for loop detection.
struct Open {
    path: String,
    entries: std::vec::IntoIter<(String, Option<std::fs::FileType>)>,
    id: (u64, u64),
}

/// The names and types of a directory's entries, in the order readdir gives them.
fn list(path: &str) -> std::io::Result<Vec<(String, Option<std::fs::FileType>)>> {
    Ok(std::fs::read_dir(path)?
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.file_type().ok(),
            )
        })
        .collect())
}

/// Walks the tree under `top` as kmod's depmod does: depth first, each directory's
/// entries in readdir order, a subdirectory walked where it is met, symbolic links
/// followed, names `skip` refuses neither reported nor entered. Every directory and
/// regular file below `top` goes to `visit`; a directory that cannot be read (or a link
/// back to a directory being walked) goes to `fail`, and the walk goes on. Only `top`
/// failing to open is an error.
///
/// The calls are those kmod makes: opendir on each directory's path, stat where a link
/// is followed or a directory's identity taken; never lstat or realpath, which some
/// LD_PRELOAD path redirectors (kmod 34's testsuite fake) do not redirect.
pub(crate) fn walk(
    top: &str,
    skip: &dyn Fn(&str) -> bool,
    visit: &mut dyn FnMut(Found),
    fail: &mut dyn FnMut(&str, std::io::Error),
) -> std::io::Result<()> {
    let entries = list(top)?;
    let mut stack = vec![Open {
        path: top.to_string(),
        entries: entries.into_iter(),
        id: rprobe_index::fsx::stat(Path::new(top)).map_or((0, 0), |s| (s.dev, s.ino)),
    }];
    while let Some(cur) = stack.last_mut() {
        let Some((name, ty)) = cur.entries.next() else {
            stack.pop();
            continue;
        };
        if skip(&name) {
            continue;
        }
        let path = format!("{}/{name}", cur.path);
        let (is_file, is_dir) = match ty {
            Some(t) if !t.is_symlink() => (t.is_file(), t.is_dir()),
            // A link (or a type readdir did not give): what it points to.
            _ => match rprobe_index::fsx::stat(Path::new(&path)) {
                Ok(m) => (m.is_file(), m.is_dir()),
                Err(e) => {
                    fail(&path, e);
                    continue;
                }
            },
        };
        if is_file {
            visit(Found {
                path,
                name,
                dir: None,
            });
        } else if is_dir {
            let st = match rprobe_index::fsx::stat(Path::new(&path)) {
                Ok(st) => st,
                Err(e) => {
                    fail(&path, e);
                    continue;
                }
            };
            let id = (st.dev, st.ino);
            if let Some(a) = stack.iter().find(|o| o.id == id) {
                let msg = format!(
                    "File system loop found: {path} points to an ancestor {}",
                    a.path
                );
                fail(&path, std::io::Error::other(msg));
                continue;
            }
            visit(Found {
                path: path.clone(),
                name,
                dir: Some(st),
            });
            match list(&path) {
                Ok(entries) => stack.push(Open {
                    path,
                    entries: entries.into_iter(),
                    id,
                }),
                Err(e) => fail(&path, e),
            }
        }
    }
    Ok(())
}

pub(crate) fn starts_with_dir(path: &[u8], dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir.as_bytes()) && path[dir.len()] == b'/'
}

/// The first `n` bytes of `s` (all of it when shorter). kmod cuts paths at byte counts
/// that need not fall on a character boundary (`a.xé.ko`), so the cut is made on bytes.
fn byte_prefix(s: &str, n: usize) -> &[u8] {
    &s.as_bytes()[..n.min(s.len())]
}

/// Puts the modules listed in modules.order first, in its order (a module listed twice by
/// its first line when `first_wins`, kmod 34's rule, else by its last, kmod 30's); the rest
/// keep their places after them. A last line without its newline stops the sort, as kmod.
pub(crate) fn sort_by_modules_order(
    dirname: &str,
    mods: &mut [Mod],
    first_wins: bool,
    log: &mut dyn FnMut(Level, String),
) {
    let path = format!("{dirname}/modules.order");
    let Ok(text) = std::fs::read(&path) else {
        log(
            Level::Warning,
            format!("could not open modules.order at {dirname}: No such file or directory"),
        );
        return;
    };
    let text = String::from_utf8_lossy(&text);
    if !text.is_empty() && !text.ends_with('\n') {
        let line = text.split_inclusive('\n').count();
        log(
            Level::Error,
            format!("{dirname}/modules.order:{line} corrupted line misses '\\n'"),
        );
        return;
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let total = lines.len() as i64 + 1;
    let by_unc: HashMap<&str, usize> = mods
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.uncrelpath.as_deref().map(|u| (u, i)))
        .collect();
    let mut idx_of = vec![None; mods.len()];
    for (k, l) in lines.iter().enumerate() {
        if let Some(&i) = by_unc.get(l.trim_end_matches('\n')) {
            // A module listed twice: kmod 30 places it by its last line, kmod 34 by its
            // first.
            if !(first_wins && idx_of[i].is_some()) {
                idx_of[i] = Some(k as i64 + 1 - total);
            }
        }
    }
    for (i, m) in mods.iter_mut().enumerate() {
        if let Some(v) = idx_of[i] {
            m.sort_idx = v;
        }
    }
    mods.sort_by_key(|m| m.sort_idx);
}

/// -A: true when modules.dep is newer than every module file (kmod then does nothing).
pub fn up_to_date(dirname: &str) -> bool {
    // stat(2) through libc (rprobe_index::fsx), as kmod, so path-redirecting tools see it.
    let Ok(dep) =
        rprobe_index::fsx::stat(Path::new(&format!("{dirname}/modules.dep"))).map(|m| m.mtime)
    else {
        return false;
    };
    for e in walkdir::WalkDir::new(dirname)
        .follow_links(true)
        .into_iter()
        .flatten()
    {
        let name = e.file_name().to_string_lossy();
        if !name::is_module_filename(&name) {
            continue;
        }
        match rprobe_index::fsx::stat(e.path()) {
            Ok(m) if m.mtime <= dep => {}
            _ => return false,
        }
    }
    true
}
