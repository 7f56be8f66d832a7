//! depmod: find every module of a kernel, read them in parallel, compute dependencies from
//! symbols, and write every modules.* index kmod's depmod writes (text and binary), each to
//! a temporary file in the same directory renamed into place.
//!
//! The order of everything written follows kmod's rules so the files are byte-identical:
//! modules.order first, then kmod's hash order; duplicate names resolved by depmod.d search
//! priorities; dependencies sorted by kmod's topological order.

pub mod config;
pub mod khash;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::elf::Import;
use crate::index::trie::TrieBuilder;
use crate::record::{self, ModuleRecord, ReadOptions};
use crate::{Error, Result};
pub use config::{Config, Search};

/// How loud a message is; the binary prefixes them as kmod does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// "depmod: ERROR: ..."
    Error,
    /// "depmod: WARNING: ..."
    Warning,
    /// Shown with -v only, on stdout.
    Show,
}

/// What to run depmod on.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// -b: the root under which lib/modules lives.
    pub basedir: Option<PathBuf>,
    /// -m: the module directory under the root (default "/lib/modules").
    pub moduledir: Option<String>,
    /// -o: write the indexes under this root instead of the base directory.
    pub outdir: Option<PathBuf>,
    /// The kernel version.
    pub kversion: String,
    /// -C: configuration files or directories (None: kmod's defaults).
    pub config_paths: Option<Vec<PathBuf>>,
    /// Module files given on the command line (empty: search everything).
    pub files: Vec<PathBuf>,
    /// -n: print the text indexes on stdout instead of writing files.
    pub to_stdout: bool,
    /// -E: Module.symvers, for CRC checks.
    pub symvers: Option<PathBuf>,
    /// -F: System.map, for the kernel's own symbols.
    pub system_map: Option<PathBuf>,
    /// -e: report unknown symbols (and CRC mismatches with -E).
    pub print_unknown: bool,
    /// -P: a symbol prefix to ignore.
    pub sym_prefix: Option<u8>,
    /// -w: warn about duplicate index entries.
    pub warn_dups: bool,
    /// -v.
    pub verbose: bool,
}

impl Options {
    /// ROOT/lib/modules/VERSION, spelled as kmod spells it.
    pub fn dirname(&self) -> String {
        dirname(&self.basedir, &self.moduledir, &self.kversion)
    }
}

fn dirname(root: &Option<PathBuf>, moduledir: &Option<String>, kversion: &str) -> String {
    let root = root
        .as_ref()
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_default();
    let md = moduledir.clone().unwrap_or_else(|| "/lib/modules".into());
    let md = if md.starts_with('/') {
        md
    } else {
        format!("/{md}")
    };
    format!("{root}{md}/{kversion}")
}

/// One module as depmod tracks it.
struct Mod {
    path: String,
    relpath: Option<String>,
    uncrelpath: Option<String>,
    modname: String,
    /// The directory part of path (without the last '/').
    baselen: usize,
    sort_idx: i64,
}

impl Mod {
    fn shown_path(&self) -> &str {
        self.relpath.as_deref().unwrap_or(&self.path)
    }
}

fn is_excluded(cfg: &Config, name: &str) -> bool {
    name == "."
        || name == ".."
        || name == "build"
        || name == "source"
        || cfg.excludes.iter().any(|e| e == name)
}

struct Search0<'a> {
    cfg: &'a Config,
    dirname: String,
    mods: Vec<Mod>,
    by_name: HashMap<String, usize>,
}

impl Search0<'_> {
    fn priority_keeps_old(
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
                Some(p.get(dl + 1..len.min(p.len())).unwrap_or("").to_string())
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
                        if starts_with_dir(&newpath[..newlen.min(newpath.len())], &e) {
                            newprio = i;
                        }
                        if starts_with_dir(&old.path[..oldlen.min(old.path.len())], &e) {
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

    fn add(&mut self, path: String) {
        let base = path.rfind('/').unwrap_or(0);
        let modname = record::modname_from_path(Path::new(&path));
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
            Some(path[dl + 1..].to_string())
        } else {
            None
        };
        let uncrelpath = relpath.as_ref().map(|r| {
            let last = r.rfind('/').map(|i| i + 1).unwrap_or(0);
            let n = (last + modname.len() + 3).min(r.len());
            r[..n].to_string()
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

    fn search_dir(&mut self, top: &str, log: &mut dyn FnMut(Level, String)) -> std::io::Result<()> {
        std::fs::read_dir(top)?;
        let cfg = self.cfg;
        let walker = walkdir::WalkDir::new(top)
            .follow_links(true)
            .min_depth(1)
            .into_iter()
            .filter_entry(|e| !is_excluded(cfg, &e.file_name().to_string_lossy()));
        for e in walker {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    let p = err
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    log(
                        Level::Error,
                        format!("could not open directory {p}: {}", io_reason(&err)),
                    );
                    continue;
                }
            };
            if !e.file_type().is_file() {
                continue;
            }
            let path = e.path().to_string_lossy().into_owned();
            let name = e.file_name().to_string_lossy();
            if record::is_module_filename(&name) {
                self.add(path);
            }
        }
        Ok(())
    }
}

fn io_reason(e: &walkdir::Error) -> String {
    match e.io_error() {
        Some(io) => match io.kind() {
            std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
            _ => io.to_string(),
        },
        None => e.to_string(),
    }
}

fn starts_with_dir(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// A symbol in depmod's table.
struct Sym {
    owner: Option<usize>,
    crc: u64,
}

/// The computed state: modules in final order, their records, dependencies.
struct Graph {
    mods: Vec<Mod>,
    recs: Vec<Option<ModuleRecord>>,
    deps: Vec<Vec<usize>>,
    dep_sort_idx: Vec<usize>,
    symbols: Vec<(String, usize)>,
}

/// Runs depmod. Messages go to `log`; indexes are written (or printed with -n). Returns
/// Ok(true) on success, Ok(false) when kmod would exit 1 after printing its errors.
pub fn run(opts: &Options, log: &mut dyn FnMut(Level, String)) -> Result<bool> {
    run_collect(opts, log).map(|(ok, _)| ok)
}

/// [`run`], also returning the records read (their modinfo trimmed to alias, softdep and
/// firmware; exports moved into the symbol table), for callers such as image builders.
pub fn run_collect(
    opts: &Options,
    log: &mut dyn FnMut(Level, String),
) -> Result<(bool, Vec<ModuleRecord>)> {
    let dirname = opts.dirname();
    let mut notes = Vec::new();
    let all = opts.files.is_empty();
    let cfg = if all {
        let paths: Vec<PathBuf> = match &opts.config_paths {
            Some(p) => p.clone(),
            None => config::DEFAULT_DIRS.iter().map(PathBuf::from).collect(),
        };
        Config::load(&paths, &opts.kversion, &mut notes)
    } else {
        Config::default()
    };
    for (err, n) in notes {
        log(if err { Level::Error } else { Level::Warning }, n);
    }

    // Kernel symbols first (owner: none), as kmod loads them before the modules.
    let mut symtab: HashMap<String, Sym> = HashMap::new();
    let prefix = opts.sym_prefix;
    let strip = |s: &str| -> String {
        match prefix {
            Some(p) if s.as_bytes().first() == Some(&p) => s[1..].to_string(),
            _ => s.to_string(),
        }
    };
    let mut check_crcs = false;
    let mut print_unknown = opts.print_unknown;
    if let Some(sv) = &opts.symvers {
        let text = std::fs::read_to_string(sv).map_err(|e| Error::io(sv, e))?;
        for (n, line) in text.lines().enumerate() {
            let mut w = line.split([' ', '\t']).filter(|s| !s.is_empty());
            let (Some(ver), Some(sym), Some(wh)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            if wh != "vmlinux" {
                continue;
            }
            let v = ver.trim_start_matches("0x").trim_start_matches("0X");
            match u64::from_str_radix(v, 16) {
                Ok(crc) => {
                    symtab.insert(strip(sym), Sym { owner: None, crc });
                }
                Err(_) => log(
                    Level::Error,
                    format!(
                        "{}:{} Invalid symbol version {ver}: Success",
                        sv.display(),
                        n + 1
                    ),
                ),
            }
        }
        add_fake_syms(&mut symtab);
        check_crcs = true;
    } else if let Some(map) = &opts.system_map {
        let text = std::fs::read(map).map_err(|e| Error::io(map, e))?;
        let text = String::from_utf8_lossy(&text);
        for (n, raw) in text.split_inclusive('\n').enumerate() {
            let line = raw.trim_end_matches('\n');
            let mut parts = line.splitn(3, ' ');
            let (Some(_), Some(_), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
                log(
                    Level::Error,
                    format!("{}:{}: invalid line: {raw}", map.display(), n + 1),
                );
                continue;
            };
            let name = match prefix {
                Some(p) if name.as_bytes().first() == Some(&p) => &name[1..],
                _ => name,
            };
            if let Some(s) = name.strip_prefix("__ksymtab_") {
                symtab.insert(
                    s.to_string(),
                    Sym {
                        owner: None,
                        crc: 0,
                    },
                );
            }
        }
        add_fake_syms(&mut symtab);
    } else if print_unknown {
        log(Level::Warning, "-e needs -E or -F".into());
        print_unknown = false;
    }

    // Find the modules.
    let mut s = Search0 {
        cfg: &cfg,
        dirname: dirname.clone(),
        mods: Vec::new(),
        by_name: HashMap::new(),
    };
    if all {
        if let Err(e) = s.search_dir(&dirname, log) {
            log(
                Level::Error,
                format!("could not open directory {dirname}: {}", os_msg(&e)),
            );
            log(
                Level::Error,
                format!("could not search modules: {}", os_msg(&e)),
            );
            return Ok((false, Vec::new()));
        }
        for ext in cfg.externals.clone() {
            let _ = s.search_dir(&ext.to_string_lossy(), log);
        }
    } else {
        for f in &opts.files {
            let p = f.to_string_lossy().into_owned();
            if !p.starts_with('/') {
                log(Level::Error, format!("{p}: not absolute path."));
                return Ok((false, Vec::new()));
            }
            if !f.exists() {
                log(
                    Level::Error,
                    format!("could not create module {p}: No such file or directory"),
                );
                return Ok((false, Vec::new()));
            }
            if s.by_name.contains_key(&record::modname_from_path(f)) {
                log(
                    Level::Error,
                    format!("could not add module {p}: File exists"),
                );
                return Ok((false, Vec::new()));
            }
            s.add(p);
        }
    }
    let mut mods = s.mods;
    // kmod's array: hash order of names, then stably sorted by modules.order position.
    khash::sort_in_hash_order(&mut mods, 512, |m| m.modname.as_str());
    sort_by_modules_order(&dirname, &mut mods, log);

    // Read every module, in parallel, keeping only records.
    let recs: Vec<std::result::Result<ModuleRecord, Error>> = mods
        .par_iter()
        .map(|m| {
            record::read_module_with(
                Path::new(&m.path),
                ReadOptions {
                    symbols: true,
                    signature: false,
                },
            )
            .map(|mut r| {
                // Keep only what the indexes (and image builders) use: memory stays at a
                // few small records, not the modules' whole modinfo.
                r.modinfo
                    .retain(|(k, _)| k == "alias" || k == "softdep" || k == "firmware");
                r.modinfo.shrink_to_fit();
                r
            })
        })
        .collect();
    let mut records: Vec<Option<ModuleRecord>> = Vec::with_capacity(recs.len());
    for (m, r) in mods.iter().zip(recs) {
        match r {
            Ok(mut rec) => {
                for e in std::mem::take(&mut rec.exports) {
                    symtab.insert(
                        strip(&e.name),
                        Sym {
                            owner: Some(records.len()),
                            crc: e.crc,
                        },
                    );
                }
                records.push(Some(rec));
            }
            Err(e) => {
                log(
                    Level::Error,
                    format!(
                        "failed to load symbols from {}: {}",
                        m.path,
                        kmod_reason(&e)
                    ),
                );
                records.push(None);
            }
        }
    }

    // Dependencies from undefined symbols.
    let n = mods.len();
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut users = vec![0usize; n];
    for (i, rec) in records.iter().enumerate() {
        let Some(rec) = rec else { continue };
        for Import { name, crc, weak } in &rec.imports {
            let mut key = name.as_str();
            if let Some(k) = key.strip_prefix('.') {
                key = k;
            }
            if let Some(p) = prefix {
                if key.as_bytes().first() == Some(&p) {
                    key = &key[1..];
                }
            }
            let Some(sym) = symtab.get(key) else {
                if print_unknown && !weak {
                    log(
                        Level::Warning,
                        format!("{} needs unknown symbol {}", mods[i].path, name),
                    );
                }
                continue;
            };
            if check_crcs && sym.crc != *crc && !weak && print_unknown {
                log(
                    Level::Warning,
                    format!(
                        "{} disagrees about version of symbol {}",
                        mods[i].path, name
                    ),
                );
            }
            let Some(owner) = sym.owner else { continue };
            if !deps[i].contains(&owner) {
                deps[i].push(owner);
                users[owner] += 1;
                if opts.verbose {
                    log(
                        Level::Show,
                        format!("{} needs \"{}\": {}", mods[i].path, key, mods[owner].path),
                    );
                }
            }
        }
    }

    // kmod's topological order: modules nobody uses first, a LIFO of roots.
    let mut dep_sort_idx = vec![usize::MAX; n];
    let mut left = users.clone();
    let mut roots: Vec<usize> = (0..n).filter(|&i| left[i] == 0).collect();
    let mut sorted = 0;
    while let Some(src) = roots.pop() {
        dep_sort_idx[src] = sorted;
        sorted += 1;
        for &d in &deps[src] {
            left[d] -= 1;
            if left[d] == 0 {
                roots.push(d);
            }
        }
    }
    if sorted < n {
        report_cycles(&mods, &deps, &left, log);
        return Ok((false, Vec::new()));
    }
    for d in deps.iter_mut() {
        d.sort_by_key(|&x| dep_sort_idx[x]);
    }

    let mut symbols: Vec<(String, usize)> = symtab
        .into_iter()
        .filter_map(|(k, s)| s.owner.map(|o| (k, o)))
        .collect();
    khash::sort_in_hash_order(&mut symbols, 2048, |s| s.0.as_str());
    let g = Graph {
        mods,
        recs: records,
        deps,
        dep_sort_idx,
        symbols,
    };
    let ok = write_outputs(opts, &dirname, &g, log)?;
    Ok((ok, g.recs.into_iter().flatten().collect()))
}

fn add_fake_syms(symtab: &mut HashMap<String, Sym>) {
    for s in ["__this_module", "_GLOBAL_OFFSET_TABLE_", "TOC."] {
        symtab.entry(s.to_string()).or_insert(Sym {
            owner: None,
            crc: 0,
        });
    }
}

fn os_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => e.to_string(),
    }
}

/// kmod's strerror for a module it cannot read, with what is actually wrong after it.
fn kmod_reason(e: &Error) -> String {
    match e {
        Error::Io { source, .. } => os_msg(source),
        Error::BadElf { reason, .. } if reason.starts_with("no ELF magic") => {
            format!("Exec format error ({reason})")
        }
        Error::Empty { .. } => "Exec format error (empty file)".into(),
        other => format!("Invalid argument ({other})"),
    }
}

fn sort_by_modules_order(dirname: &str, mods: &mut [Mod], log: &mut dyn FnMut(Level, String)) {
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
            idx_of[i] = Some(k as i64 + 1 - total);
        }
    }
    for (i, m) in mods.iter_mut().enumerate() {
        if let Some(v) = idx_of[i] {
            m.sort_idx = v;
        }
    }
    mods.sort_by_key(|m| m.sort_idx);
}

fn report_cycles(
    mods: &[Mod],
    deps: &[Vec<usize>],
    users: &[usize],
    log: &mut dyn FnMut(Level, String),
) {
    // Walk from every module still used after the sort, as kmod does, and print each cycle
    // found back at its start.
    let mut roots: Vec<usize> = (0..mods.len()).filter(|&i| users[i] > 0).collect();
    let mut in_loop: std::collections::BTreeSet<&str> = Default::default();
    let mut visited = vec![false; mods.len()];
    while !roots.is_empty() {
        let root = roots.remove(0);
        // vertices: (module, parent vertex)
        let mut verts: Vec<(usize, Option<usize>)> = vec![(root, None)];
        let mut stack = vec![0usize];
        while let Some(v) = stack.pop() {
            let m = verts[v].0;
            if visited[m] && m == root {
                let mut chain = Vec::new();
                let mut p = verts[v].1;
                while let Some(pv) = p {
                    chain.push(verts[pv].0);
                    p = verts[pv].1;
                }
                let mut names: Vec<&str> = Vec::new();
                for &c in chain.iter().rev() {
                    names.push(&mods[c].modname);
                    in_loop.insert(&mods[c].modname);
                    roots.retain(|&r| r != c);
                }
                names.push(&mods[m].modname);
                log(
                    Level::Error,
                    format!("Cycle detected: {}", names.join(" -> ")),
                );
                continue;
            }
            visited[m] = true;
            if deps[m].is_empty() {
                roots.retain(|&r| r != m);
                continue;
            }
            for &d in &deps[m] {
                verts.push((d, Some(v)));
                stack.push(verts.len() - 1);
                if verts.len() > 1_000_000 {
                    return;
                }
            }
        }
    }
    log(
        Level::Error,
        format!("Found {} modules in dependency cycles!", in_loop.len()),
    );
}

/// kmod's alias normalisation: '-' to '_' outside brackets; None on an unmatched bracket.
pub fn alias_normalize(a: &str) -> Option<String> {
    let mut out = String::with_capacity(a.len());
    let mut chars = a.chars();
    while let Some(c) = chars.next() {
        match c {
            '-' => out.push('_'),
            ']' => return None,
            '[' => {
                out.push('[');
                loop {
                    match chars.next() {
                        Some(']') => {
                            out.push(']');
                            break;
                        }
                        Some(x) => out.push(x),
                        None => return None,
                    }
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn all_deps_sorted(g: &Graph, i: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut seen = vec![false; g.mods.len()];
    fn fill(g: &Graph, i: usize, out: &mut Vec<usize>, seen: &mut [bool]) {
        for &d in &g.deps[i] {
            if seen[d] {
                continue;
            }
            seen[d] = true;
            out.push(d);
            fill(g, d, out, seen);
        }
    }
    fill(g, i, &mut out, &mut seen);
    out.sort_by_key(|&d| g.dep_sort_idx[d]);
    out
}

fn infos(g: &Graph, i: usize) -> &[(String, String)] {
    g.recs[i]
        .as_ref()
        .map(|r| r.modinfo.as_slice())
        .unwrap_or(&[])
}

/// Every (module index, module, value) of a modinfo key, modules in index order.
fn key_values<'g>(
    g: &'g Graph,
    key: &'g str,
) -> impl Iterator<Item = (usize, &'g Mod, &'g str)> + 'g {
    g.mods.iter().enumerate().flat_map(move |(i, m)| {
        infos(g, i)
            .iter()
            .filter(move |(k, _)| k == key)
            .map(move |(_, v)| (i, m, v.as_str()))
    })
}

type Writer = fn(&Graph, &str, &mut dyn FnMut(Level, String), bool) -> Option<Vec<u8>>;

fn out_dep(g: &Graph, _: &str, _: &mut dyn FnMut(Level, String), _: bool) -> Option<Vec<u8>> {
    let mut o = Vec::new();
    for (i, m) in g.mods.iter().enumerate() {
        o.extend_from_slice(m.shown_path().as_bytes());
        o.push(b':');
        for d in all_deps_sorted(g, i) {
            o.push(b' ');
            o.extend_from_slice(g.mods[d].shown_path().as_bytes());
        }
        o.push(b'\n');
    }
    Some(o)
}

fn out_dep_bin(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    dups: bool,
) -> Option<Vec<u8>> {
    let mut t = TrieBuilder::new();
    for (i, m) in g.mods.iter().enumerate() {
        let mut line = format!("{}:", m.shown_path());
        for d in all_deps_sorted(g, i) {
            line.push(' ');
            line.push_str(g.mods[d].shown_path());
        }
        if t.insert(&m.modname, &line, i as u32).unwrap_or(false) && dups {
            log(Level::Warning, format!("duplicate module deps:\n{line}"));
        }
    }
    Some(t.to_bytes())
}

fn out_alias(g: &Graph, _: &str, _: &mut dyn FnMut(Level, String), _: bool) -> Option<Vec<u8>> {
    let mut o = b"# Aliases extracted from modules themselves.\n".to_vec();
    for (_, m, v) in key_values(g, "alias") {
        o.extend_from_slice(format!("alias {v} {}\n", m.modname).as_bytes());
    }
    Some(o)
}

fn out_alias_bin(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    dups: bool,
) -> Option<Vec<u8>> {
    let mut t = TrieBuilder::new();
    for (i, m, v) in key_values(g, "alias") {
        let Some(a) = alias_normalize(v) else {
            log(Level::Warning, format!("Unmatched bracket in {v}"));
            continue;
        };
        if t.insert(&a, &m.modname, i as u32).unwrap_or(false) && dups {
            log(
                Level::Warning,
                format!("duplicate module alias:\n{a} {}", m.modname),
            );
        }
    }
    Some(t.to_bytes())
}

fn out_softdep(g: &Graph, _: &str, _: &mut dyn FnMut(Level, String), _: bool) -> Option<Vec<u8>> {
    let mut o = b"# Soft dependencies extracted from modules themselves.\n".to_vec();
    for (_, m, v) in key_values(g, "softdep") {
        o.extend_from_slice(format!("softdep {} {v}\n", m.modname).as_bytes());
    }
    Some(o)
}

fn out_symbols(g: &Graph, _: &str, _: &mut dyn FnMut(Level, String), _: bool) -> Option<Vec<u8>> {
    let mut o = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for (s, owner) in &g.symbols {
        o.extend_from_slice(format!("alias symbol:{s} {}\n", g.mods[*owner].modname).as_bytes());
    }
    Some(o)
}

fn out_symbols_bin(
    g: &Graph,
    _: &str,
    log: &mut dyn FnMut(Level, String),
    dups: bool,
) -> Option<Vec<u8>> {
    let mut t = TrieBuilder::new();
    for (s, owner) in &g.symbols {
        let key = format!("symbol:{s}");
        if t.insert(&key, &g.mods[*owner].modname, *owner as u32)
            .unwrap_or(false)
            && dups
        {
            log(
                Level::Warning,
                format!("duplicate module syms:\n{key} {}", g.mods[*owner].modname),
            );
        }
    }
    Some(t.to_bytes())
}

/// A file of the module directory, or None after kmod's warning when it cannot be read.
fn read_tree_file(
    dirname: &str,
    name: &str,
    log: &mut dyn FnMut(Level, String),
) -> Option<Vec<u8>> {
    match std::fs::read(format!("{dirname}/{name}")) {
        Ok(d) => Some(d),
        Err(e) => {
            log(
                Level::Warning,
                format!("could not open {name} at {dirname}: {}", os_msg(&e)),
            );
            None
        }
    }
}

fn out_builtin_bin(
    _: &Graph,
    dirname: &str,
    log: &mut dyn FnMut(Level, String),
    _: bool,
) -> Option<Vec<u8>> {
    // kmod still writes (an empty) index when the input is missing, after a warning.
    let Some(text) = read_tree_file(dirname, "modules.builtin", log) else {
        return Some(Vec::new());
    };
    let text = String::from_utf8_lossy(&text);
    let mut t = TrieBuilder::new();
    for line in text.split_inclusive('\n') {
        if !line
            .as_bytes()
            .first()
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            log(
                Level::Error,
                format!("Invalid modules.builtin line: {line}"),
            );
            continue;
        }
        let name = record::modname_from_path(Path::new(line.trim_end_matches('\n')));
        let _ = t.insert(&name, "", 0);
    }
    Some(t.to_bytes())
}

fn out_builtin_alias_bin(
    _: &Graph,
    dirname: &str,
    log: &mut dyn FnMut(Level, String),
    _: bool,
) -> Option<Vec<u8>> {
    let Some(data) = read_tree_file(dirname, "modules.builtin.modinfo", log) else {
        return Some(Vec::new());
    };
    let mut t = TrieBuilder::new();
    for s in data.split(|&b| b == 0) {
        let s = String::from_utf8_lossy(s);
        let Some((modname, kv)) = s.split_once('.') else {
            continue;
        };
        let Some(("alias", value)) = kv.split_once('=') else {
            continue;
        };
        if value.is_empty() || modname.is_empty() {
            continue;
        }
        let Some(a) = alias_normalize(value) else {
            log(Level::Warning, format!("Unmatched bracket in {value}"));
            continue;
        };
        let _ = t.insert(&a, modname, 0);
    }
    Some(t.to_bytes())
}

fn out_devname(g: &Graph, _: &str, log: &mut dyn FnMut(Level, String), _: bool) -> Option<Vec<u8>> {
    let mut o = Vec::new();
    for (i, m) in g.mods.iter().enumerate() {
        let mut devname: Option<&str> = None;
        let mut dev: Option<(char, u32, u32)> = None;
        for (k, v) in infos(g, i) {
            if k != "alias" {
                continue;
            }
            if let Some(d) = v.strip_prefix("devname:") {
                devname = Some(d);
            } else if let Some(mm) = parse_major_minor(v, "char-major-") {
                dev = Some(('c', mm.0, mm.1));
            } else if let Some(mm) = parse_major_minor(v, "block-major-") {
                dev = Some(('b', mm.0, mm.1));
            }
            if dev.is_some() && devname.is_some() {
                break;
            }
        }
        if let Some(d) = devname {
            match dev {
                Some((t, a, b)) => {
                    if o.is_empty() {
                        o.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
                    }
                    o.extend_from_slice(format!("{} {d} {t}{a}:{b}\n", m.modname).as_bytes());
                }
                None => log(
                    Level::Error,
                    format!(
                        "Module '{}' has devname ({d}) but lacks major and minor information. Ignoring.",
                        m.modname
                    ),
                ),
            }
        }
    }
    Some(o)
}

/// sscanf("%u-%u") after a prefix: digits, '-', digits (trailing text allowed).
fn parse_major_minor(v: &str, prefix: &str) -> Option<(u32, u32)> {
    let rest = v.strip_prefix(prefix)?;
    let (a, rest) = split_num(rest)?;
    let rest = rest.strip_prefix('-')?;
    let (b, _) = split_num(rest)?;
    Some((a, b))
}

fn split_num(s: &str) -> Option<(u32, &str)> {
    let s2 = s.trim_start();
    let n = s2.bytes().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    Some((s2[..n].parse().ok()?, &s2[n..]))
}

/// The files kmod 30's depmod writes, in its order; `true` for the binary ones.
pub const OUTPUTS: [(&str, bool); 10] = [
    ("modules.dep", false),
    ("modules.dep.bin", true),
    ("modules.alias", false),
    ("modules.alias.bin", true),
    ("modules.softdep", false),
    ("modules.symbols", false),
    ("modules.symbols.bin", true),
    ("modules.builtin.bin", true),
    ("modules.builtin.alias.bin", true),
    ("modules.devname", false),
];

fn write_outputs(
    opts: &Options,
    dirname: &str,
    g: &Graph,
    log: &mut dyn FnMut(Level, String),
) -> Result<bool> {
    let writers: [Writer; 10] = [
        out_dep,
        out_dep_bin,
        out_alias,
        out_alias_bin,
        out_softdep,
        out_symbols,
        out_symbols_bin,
        out_builtin_bin,
        out_builtin_alias_bin,
        out_devname,
    ];
    if opts.to_stdout {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        for ((_, bin), w) in OUTPUTS.iter().zip(writers) {
            if *bin {
                continue;
            }
            if let Some(b) = w(g, dirname, log, opts.warn_dups) {
                lock.write_all(&b).map_err(|e| Error::io("<stdout>", e))?;
            }
        }
        return Ok(true);
    }
    let outdir = match &opts.outdir {
        Some(o) => PathBuf::from(dirname_for(o, opts)),
        None => PathBuf::from(dirname),
    };
    if opts.outdir.is_some() {
        std::fs::create_dir_all(&outdir).map_err(|e| Error::io(&outdir, e))?;
    }
    // Build everything in parallel, then write each file to a temporary name in the same
    // directory and rename it into place: a reader sees the old file or the new one.
    let contents: Vec<Option<Vec<u8>>> = {
        let mut logs: Vec<Vec<(Level, String)>> = vec![Vec::new(); writers.len()];
        let out: Vec<Option<Vec<u8>>> = writers
            .par_iter()
            .zip(logs.par_iter_mut())
            .map(|(w, l)| w(g, dirname, &mut |lv, m| l.push((lv, m)), opts.warn_dups))
            .collect();
        for l in logs {
            for (lv, m) in l {
                log(lv, m);
            }
        }
        out
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.subsec_micros(), d.as_secs()))
        .unwrap_or((0, 0));
    for ((name, _), content) in OUTPUTS.iter().zip(contents) {
        let final_path = outdir.join(name);
        // kmod writes an empty index when its input file is missing only for text files;
        // for builtin .bin files with no input it writes nothing (and leaves no file).
        let Some(content) = content else { continue };
        let tmp = outdir.join(format!(
            "{name}.{}.{}.{}",
            std::process::id(),
            stamp.0,
            stamp.1
        ));
        let res = (|| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(&content)?;
            f.flush()?;
            Ok(())
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_file(&tmp);
            log(
                Level::Error,
                format!("Could not write index '{name}': {}", os_msg(&e)),
            );
            return Err(Error::io(&tmp, e));
        }
        std::fs::rename(&tmp, &final_path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&final_path, e)
        })?;
    }
    Ok(true)
}

fn dirname_for(root: &Path, opts: &Options) -> String {
    dirname(&Some(root.to_path_buf()), &opts.moduledir, &opts.kversion)
}

/// -A: true when modules.dep is newer than every module file (kmod then does nothing).
pub fn up_to_date(dirname: &str) -> bool {
    let Ok(dep) = std::fs::metadata(format!("{dirname}/modules.dep")).and_then(|m| m.modified())
    else {
        return false;
    };
    for e in walkdir::WalkDir::new(dirname)
        .follow_links(true)
        .into_iter()
        .flatten()
    {
        let name = e.file_name().to_string_lossy();
        if !record::is_module_filename(&name) {
            continue;
        }
        match e.metadata().ok().and_then(|m| m.modified().ok()) {
            Some(t) if t <= dep => {}
            _ => return false,
        }
    }
    true
}
