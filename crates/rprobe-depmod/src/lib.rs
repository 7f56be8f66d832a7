//! rprobe-depmod: kmod's depmod. Find every module of a kernel, read them in parallel
//! (rprobe-modfile), compute dependencies from symbols, and write every modules.* index
//! kmod's depmod writes (text and binary, the trie through rprobe-index), each to a
//! temporary file in the same directory renamed into place ([`atomic`]).
//!
//! The order of everything written follows kmod's rules so the files are byte-identical:
//! modules.order first, then kmod's hash order; duplicate names resolved by depmod.d search
//! priorities; dependencies sorted by kmod's topological order.

pub mod atomic;
pub mod cache;
pub mod config;
pub mod error;
mod graph;
pub mod khash;
mod output;
mod search;
pub mod symbols;

use graph::{report_cycles, Graph};
pub use output::outputs;
use output::write_outputs;
pub use search::up_to_date;
use search::{sort_by_modules_order, FoundModules, Mod};
use symbols::{add_fake_syms, Sym};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use config::{Config, Search};
pub use error::{Error, Result};
use rprobe_index::name;
use rprobe_modfile::elf::Import;
use rprobe_modfile::record::{self, ModuleRecord, ReadOptions};

/// How loud a message is; the binary prefixes them as kmod does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// "depmod: FATAL: ...": the run stops.
    Fatal,
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
    /// Also write modules.weakdep in kmod 30 mode (kmod 33 and later always write it).
    pub weakdep: bool,
    /// The kmod generation whose files are written (index layout, modules.weakdep,
    /// modules.order duplicates).
    pub generation: rprobe_index::generation::Generation,
    /// Use and keep the record cache ([`cache`]); the binary turns it on unless told not to.
    pub cache: Option<std::path::PathBuf>,
    /// Counts the modules read, for a caller showing progress (see [`Progress`]).
    pub progress: Option<std::sync::Arc<Progress>>,
}

/// How far a run is: modules to read and read so far (updated as they are read, from any
/// thread). The library never prints it; a caller may show it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Modules this run reads (set once the tree is scanned).
    pub total: std::sync::atomic::AtomicUsize,
    /// Modules read so far (from the cache or the file).
    pub done: std::sync::atomic::AtomicUsize,
}

impl Options {
    /// ROOT/lib/modules/VERSION, spelled as kmod spells it.
    pub fn dirname(&self) -> String {
        dirname(&self.basedir, &self.moduledir, &self.kversion)
    }
}

pub(crate) fn dirname(
    root: &Option<PathBuf>,
    moduledir: &Option<String>,
    kversion: &str,
) -> String {
    rprobe_index::moddir::module_dir(root.as_deref(), moduledir.as_deref(), kversion)
}

/// Runs depmod. Messages go to `log`; indexes are written (or printed with -n). Returns
/// Ok(true) on success, Ok(false) when kmod would exit 1 after printing its errors.
pub fn run(opts: &Options, log: &mut dyn FnMut(Level, String)) -> Result<bool> {
    run_collect(opts, log, &mut std::io::sink()).map(|(ok, _)| ok)
}

/// [`run`], also returning the records read (their modinfo trimmed to alias, softdep,
/// weakdep and firmware), for callers such as image builders. With [`Options::cache`] an
/// unchanged tree is not processed again and no records are returned.
/// With -n ([`Options::to_stdout`]) the text indexes go to `print`.
pub fn run_collect(
    opts: &Options,
    log: &mut dyn FnMut(Level, String),
    print: &mut dyn std::io::Write,
) -> Result<(bool, Vec<ModuleRecord>)> {
    let mut run = DepmodRun::configure(opts, log);
    // Kernel symbols first (owner: none), as kmod loads them before the modules.
    let mut kernel = run.kernel_symbols(log)?;
    let mut cached = run.open_cache();
    if run.replay_if_tree_unchanged(&mut cached, log) {
        return Ok((true, Vec::new()));
    }

    // What is logged while the modules are found is kept for the quick answer to replay.
    let mut early: Vec<(u8, String)> = Vec::new();
    let mut log_early = recording(&mut early, log);
    let Some(Found { mut mods, dirs }) = run.search(&mut log_early) else {
        return Ok((false, Vec::new()));
    };
    run.order(&mut mods, &mut log_early);
    drop(log_early);

    let keys = run.file_keys(&mods);
    if run.replay_if_files_unchanged(&mods, &keys, &mut cached, log) {
        return Ok((true, Vec::new()));
    }
    // From here on, what is logged is kept for the next run to replay.
    let mut messages: Vec<(u8, String)> = Vec::new();
    let mut log = recording(&mut messages, log);
    let records = run.read(&mods, &keys, cached, &mut kernel, &mut log);
    let (mut deps, users) = run.resolve_dependencies(&mods, &records, &kernel, &mut log);
    let Some(dep_sort_idx) = topological_sort(&mods, &mut deps, &users, &mut log) else {
        return Ok((false, Vec::new()));
    };

    let mut symbols: Vec<(String, usize)> = kernel
        .symtab
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
    let ok = write_outputs(opts, &run.dirname, &g, &mut log, print)?;
    drop(log);
    if run.use_cache && ok {
        run.store_cache(&g, &keys, dirs, messages, early);
    }
    Ok((ok, g.recs.into_iter().flatten().collect()))
}

/// A log that passes every message on to `log` and keeps it in `kept` (as the record
/// cache stores them, for a later run to replay).
fn recording<'a>(
    kept: &'a mut Vec<(u8, String)>,
    log: &'a mut dyn FnMut(Level, String),
) -> impl FnMut(Level, String) + 'a {
    move |lv: Level, m: String| {
        kept.push((cache::level_code(lv), m.clone()));
        log(lv, m);
    }
}

/// One depmod run, stage by stage ([`run_collect`] calls them in order): what every stage
/// needs to know, fixed by the configuration and the record cache's check.
struct DepmodRun<'a> {
    /// What to run on.
    opts: &'a Options,
    /// The module directory, spelled as kmod spells it.
    dirname: String,
    /// Whether every module of the tree is indexed (no files named on the command line).
    all: bool,
    /// depmod.d (empty when files are named).
    cfg: Config,
    /// Whether the record cache is used: asked for, the whole tree, and files written.
    use_cache: bool,
    /// Where the indexes are written.
    outdir: PathBuf,
    /// The record cache's file for `outdir`.
    cache_path: PathBuf,
    /// [`input_digest`] (0 without the cache).
    inputs: u64,
    /// The module directory's own listing, taken once, before the walk (None without the
    /// cache or when it cannot be listed).
    listing: Option<u64>,
}

/// The symbol table as the kernel's symbols start it, and how imports are checked against it.
struct KernelSymbols {
    /// Every symbol's owner (None: the kernel) and CRC; the modules' exports are added.
    symtab: HashMap<String, Sym>,
    /// -E was given: imports' CRCs are compared.
    check_crcs: bool,
    /// -e, when -E or -F gives the kernel's symbols.
    print_unknown: bool,
}

/// The modules found, and the directories searched (with the cache).
struct Found {
    /// One per module name, in the order found.
    mods: Vec<Mod>,
    /// [`FoundModules::dirs`].
    dirs: Option<Vec<(String, Option<cache::FileKey>)>>,
}

/// Each module's direct dependencies (indexes into the modules) and, per module, how many
/// modules depend on it.
type Dependencies = (Vec<Vec<usize>>, Vec<usize>);

impl<'a> DepmodRun<'a> {
    /// Configuration: the module directory and depmod.d (kmod's directories unless -C;
    /// none when files are named), its messages logged.
    fn configure(opts: &'a Options, log: &mut dyn FnMut(Level, String)) -> Self {
        let dirname = opts.dirname();
        let mut notes = Vec::new();
        let all = opts.files.is_empty();
        let cfg = if all {
            let paths: Vec<PathBuf> = match &opts.config_paths {
                Some(p) => p.clone(),
                None => rprobe_index::moddir::config_dirs("depmod.d", opts.generation),
            };
            Config::load(&paths, &opts.kversion, &mut notes)
        } else {
            Config::default()
        };
        for (err, n) in notes {
            log(if err { Level::Error } else { Level::Warning }, n);
        }
        let use_cache = opts.cache.is_some() && all && !opts.to_stdout;
        let outdir = output::output_dir(opts, &dirname);
        let cache_path = opts
            .cache
            .as_deref()
            .map(|d| cache::file_for(d, &outdir))
            .unwrap_or_default();
        DepmodRun {
            opts,
            dirname,
            all,
            cfg,
            use_cache,
            outdir,
            cache_path,
            inputs: 0,
            listing: None,
        }
    }

    /// Kernel symbols: from Module.symvers (-E, CRCs checked) or System.map (-F), owned by
    /// nobody; without either, -e is refused with a warning.
    fn kernel_symbols(&self, log: &mut dyn FnMut(Level, String)) -> Result<KernelSymbols> {
        let opts = self.opts;
        let prefix = opts.sym_prefix;
        let mut symtab: HashMap<String, Sym> = HashMap::new();
        let mut check_crcs = false;
        let mut print_unknown = opts.print_unknown;
        let kernel = if let Some(sv) = &opts.symvers {
            let text = std::fs::read_to_string(sv).map_err(|e| Error::io(sv, e))?;
            check_crcs = true;
            Some(symbols::parse_symvers(sv, &text, prefix))
        } else if let Some(map) = &opts.system_map {
            let bytes = std::fs::read(map).map_err(|e| Error::io(map, e))?;
            Some(symbols::parse_system_map(map, &bytes, prefix))
        } else {
            if print_unknown {
                log(Level::Warning, "-e needs -E or -F".into());
                print_unknown = false;
            }
            None
        };
        if let Some((table, messages)) = kernel {
            for (lv, m) in messages {
                log(lv, m);
            }
            for (name, crc) in table {
                symtab.insert(name, Sym { owner: None, crc });
            }
            add_fake_syms(&mut symtab);
        }
        Ok(KernelSymbols {
            symtab,
            check_crcs,
            print_unknown,
        })
    }

    /// Cache check, first part: the last run's cache (empty without the cache), and this
    /// run's inputs and module directory listing to compare with it.
    fn open_cache(&mut self) -> cache::Cache {
        if !self.use_cache {
            return cache::Cache::default();
        }
        let cached = cache::Cache::load(&self.cache_path, &self.dirname);
        self.inputs = input_digest(self.opts, &self.cfg, &self.dirname);
        self.listing = search::listing_digest(&self.cfg, &self.dirname);
        cached
    }

    /// The quick answer when nothing changed: every directory the last run listed still
    /// has the identity it had before it was listed (so no module was added, removed or
    /// renamed), every module file and index is the same file, and the inputs are the
    /// same; then the last run's messages are logged again and the walk is not even done.
    fn replay_if_tree_unchanged(
        &self,
        cached: &mut cache::Cache,
        log: &mut dyn FnMut(Level, String),
    ) -> bool {
        if !(self.use_cache && cached.tree_unchanged(self.inputs, &self.outdir, self.listing)) {
            return false;
        }
        let h = &mut cached.header;
        for (lv, m) in std::mem::take(&mut h.early)
            .into_iter()
            .chain(std::mem::take(&mut h.messages))
        {
            log(cache::level_of(lv), m);
        }
        true
    }

    /// Search: the modules of the tree and of depmod.d's external directories, or the
    /// files named on the command line; None when kmod stops (its messages logged).
    fn search(&self, log: &mut dyn FnMut(Level, String)) -> Option<Found> {
        let dirname = &self.dirname;
        let mut s = FoundModules {
            cfg: &self.cfg,
            dirname: dirname.clone(),
            mods: Vec::new(),
            by_name: HashMap::new(),
            dirs: self.use_cache.then(Vec::new),
        };
        if self.all {
            if let Err(e) = s.search_dir(dirname, log) {
                log(
                    Level::Error,
                    format!(
                        "could not open directory {dirname}: {}",
                        rprobe_index::error::io_text(&e)
                    ),
                );
                log(
                    Level::Fatal,
                    format!(
                        "could not search modules: {}",
                        rprobe_index::error::io_text(&e)
                    ),
                );
                return None;
            }
            for ext in self.cfg.externals.clone() {
                let _ = s.search_dir(&ext.to_string_lossy(), log);
            }
        } else {
            for f in &self.opts.files {
                let p = f.to_string_lossy().into_owned();
                if !p.starts_with('/') {
                    log(Level::Error, format!("{p}: not absolute path."));
                    return None;
                }
                if !rprobe_index::fsx::exists(f) {
                    log(
                        Level::Error,
                        format!("could not create module {p}: No such file or directory"),
                    );
                    return None;
                }
                if s.by_name.contains_key(&name::modname_from_path(f)) {
                    log(
                        Level::Error,
                        format!("could not add module {p}: File exists"),
                    );
                    return None;
                }
                s.add(p);
            }
        }
        Some(Found {
            mods: s.mods,
            dirs: s.dirs,
        })
    }

    /// kmod's array of modules: hash order of names, then stably sorted by modules.order
    /// position.
    fn order(&self, mods: &mut Vec<Mod>, log: &mut dyn FnMut(Level, String)) {
        khash::sort_in_hash_order(mods, 512, |m| m.modname.as_str());
        sort_by_modules_order(
            &self.dirname,
            mods,
            self.opts.generation.order_first_wins(),
            log,
        );
    }

    /// Each module file's identity (all None without the cache).
    fn file_keys(&self, mods: &[Mod]) -> Vec<Option<cache::FileKey>> {
        if self.use_cache {
            mods.par_iter()
                .map(|m| cache::FileKey::of(Path::new(&m.path)))
                .collect()
        } else {
            vec![None; mods.len()]
        }
    }

    /// Cache check, second part: when every module file found is the one the last run
    /// read and nothing else changed, the last run's messages are logged again and its
    /// indexes stand.
    fn replay_if_files_unchanged(
        &self,
        mods: &[Mod],
        keys: &[Option<cache::FileKey>],
        cached: &mut cache::Cache,
        log: &mut dyn FnMut(Level, String),
    ) -> bool {
        if !self.use_cache {
            return false;
        }
        let now: Option<Vec<(String, cache::FileKey)>> = mods
            .iter()
            .zip(keys)
            .map(|(m, k)| Some((m.path.clone(), (*k)?)))
            .collect();
        if !now.is_some_and(|now| cached.unchanged(self.inputs, &now, &self.outdir)) {
            return false;
        }
        for (lv, m) in std::mem::take(&mut cached.header.messages) {
            log(cache::level_of(lv), m);
        }
        true
    }

    /// Read: every module's record, from the cache when its file is unchanged, else read
    /// (in parallel), keeping only what the indexes use; its exports join the symbol table.
    /// A module that cannot be read is logged and has no record.
    fn read(
        &self,
        mods: &[Mod],
        keys: &[Option<cache::FileKey>],
        mut cached: cache::Cache,
        kernel: &mut KernelSymbols,
        log: &mut dyn FnMut(Level, String),
    ) -> Vec<Option<ModuleRecord>> {
        let opts = self.opts;
        let hits: Vec<Option<ModuleRecord>> = mods
            .iter()
            .zip(keys)
            .map(|(m, k)| k.as_ref().and_then(|k| cached.take(&m.path, k)))
            .collect();
        drop(cached);
        if let Some(p) = &opts.progress {
            p.total
                .store(mods.len(), std::sync::atomic::Ordering::Relaxed);
        }
        let tick = || {
            if let Some(p) = &opts.progress {
                p.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let zstd_needs_size = opts.generation.zstd_needs_declared_size();
        let read_one = |m: &Mod| {
            record::read_module_with(
                Path::new(&m.path),
                ReadOptions {
                    symbols: true,
                    signature: false,
                    modinfo_keys: Some(INDEXED_KEYS),
                    zstd_needs_size,
                },
            )
        };
        let mut recs: Vec<Option<std::result::Result<ModuleRecord, rprobe_modfile::Error>>> = mods
            .iter()
            .zip(hits)
            .map(|(m, hit)| {
                // A cached record counts as done at once; the rest as they are read.
                if hit.is_some() {
                    tick();
                }
                match hit {
                    // A record cached by a kmod 30 run of a file kmod 34 cannot read.
                    Some(rec) if zstd_needs_size && !rec.size_declared => {
                        Some(Err(record::unsized_zstd(Path::new(&m.path))))
                    }
                    Some(rec) => Some(Ok(rec)),
                    None => None,
                }
            })
            .collect();
        // The files to read, largest first: decoding dominates, and a large module started
        // last would keep one core busy while the others have nothing left to do.
        let mut todo: Vec<(u64, usize)> = (0..mods.len())
            .into_par_iter()
            .filter(|&i| recs[i].is_none())
            .map(|i| {
                let size = keys[i].map(|k| k.size()).or_else(|| {
                    rprobe_index::fsx::stat(Path::new(&mods[i].path))
                        .ok()
                        .map(|s| s.size)
                });
                (size.unwrap_or(0), i)
            })
            .collect();
        todo.sort_unstable_by(|a, b| b.cmp(a));
        let read: Vec<(
            usize,
            std::result::Result<ModuleRecord, rprobe_modfile::Error>,
        )> = todo
            .par_iter()
            .with_max_len(1)
            .map(|&(_, i)| {
                tick();
                (i, read_one(&mods[i]))
            })
            .collect();
        for (i, r) in read {
            recs[i] = Some(r);
        }
        // Every slot holds a cached record or a read one by now.
        let recs = recs.into_iter().zip(mods).map(|(r, m)| {
            r.unwrap_or_else(|| {
                Err(rprobe_modfile::Error::bad_elf(
                    Path::new(&m.path),
                    "not read",
                ))
            })
        });
        let mut records: Vec<Option<ModuleRecord>> = Vec::with_capacity(mods.len());
        for (m, r) in mods.iter().zip(recs) {
            match r {
                Ok(rec) => {
                    for e in &rec.exports {
                        kernel.symtab.insert(
                            symbols::strip_prefix(&e.name, opts.sym_prefix).to_string(),
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
                        format!("failed to load symbols from {}: {}", m.path, e.kmod_words()),
                    );
                    records.push(None);
                }
            }
        }
        records
    }

    /// Resolve dependencies: each module's from its undefined symbols, in parallel (the
    /// symbol table is only read), with the messages each would log; then logged in module
    /// order, as a serial walk logs them.
    fn resolve_dependencies(
        &self,
        mods: &[Mod],
        records: &[Option<ModuleRecord>],
        kernel: &KernelSymbols,
        log: &mut dyn FnMut(Level, String),
    ) -> Dependencies {
        let n = mods.len();
        let prefix = self.opts.sym_prefix;
        let verbose = self.opts.verbose;
        let KernelSymbols {
            symtab,
            check_crcs,
            print_unknown,
        } = kernel;
        let (check_crcs, print_unknown) = (*check_crcs, *print_unknown);
        type Said = Vec<(Level, String)>;
        let per_module: Vec<(Vec<usize>, Said)> = records
            .par_iter()
            .enumerate()
            .map(|(i, rec)| {
                let mut deps: Vec<usize> = Vec::new();
                let mut said: Vec<(Level, String)> = Vec::new();
                let Some(rec) = rec else {
                    return (deps, said);
                };
                for Import { name, crc, weak } in &rec.imports {
                    let mut key = name.as_str();
                    if let Some(k) = key.strip_prefix('.') {
                        key = k;
                    }
                    key = symbols::strip_prefix(key, prefix);
                    let Some(sym) = symtab.get(key) else {
                        if print_unknown && !weak {
                            said.push((
                                Level::Warning,
                                format!("{} needs unknown symbol {}", mods[i].path, name),
                            ));
                        }
                        continue;
                    };
                    if check_crcs && sym.crc != *crc && !weak && print_unknown {
                        said.push((
                            Level::Warning,
                            format!(
                                "{} disagrees about version of symbol {}",
                                mods[i].path, name
                            ),
                        ));
                    }
                    let Some(owner) = sym.owner else { continue };
                    if !deps.contains(&owner) {
                        deps.push(owner);
                        if verbose {
                            said.push((
                                Level::Show,
                                format!("{} needs \"{}\": {}", mods[i].path, key, mods[owner].path),
                            ));
                        }
                    }
                }
                (deps, said)
            })
            .collect();
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(n);
        let mut users = vec![0usize; n];
        for (d, said) in per_module {
            for &owner in &d {
                users[owner] += 1;
            }
            for (lv, m) in said {
                log(lv, m);
            }
            deps.push(d);
        }
        (deps, users)
    }

    /// Cache store: the records read and what this run saw and said, for the next run.
    /// Only an optimisation: a cache that cannot be written is simply not there next time.
    fn store_cache(
        &self,
        g: &Graph,
        keys: &[Option<cache::FileKey>],
        dirs: Option<Vec<(String, Option<cache::FileKey>)>>,
        messages: Vec<(u8, String)>,
        early: Vec<(u8, String)>,
    ) {
        let mut modules = Vec::new();
        let mut others = Vec::new();
        let mut recs = Vec::new();
        for ((m, k), r) in g.mods.iter().zip(keys).zip(&g.recs) {
            match (k, r) {
                (Some(k), Some(r)) => {
                    modules.push((m.path.clone(), *k));
                    recs.push(r);
                }
                (Some(k), None) => others.push((m.path.clone(), *k)),
                _ => {}
            }
        }
        // The quick answer needs every identity: without one it is never given.
        let complete = keys.iter().all(Option::is_some);
        let dirs_complete = dirs
            .as_ref()
            .is_some_and(|d| d.iter().all(|(_, k)| k.is_some()));
        let dirs: Vec<(String, cache::FileKey)> = dirs
            .unwrap_or_default()
            .into_iter()
            .map(|(p, k)| Some((p, k?)))
            .collect::<Option<Vec<_>>>()
            .filter(|_| complete)
            .unwrap_or_default();
        let listing = self.listing.filter(|_| complete && dirs_complete);
        let outdir = &self.outdir;
        let header = cache::Header {
            rprobe: env!("CARGO_PKG_VERSION").into(),
            moddir: self.dirname.clone(),
            outdir: rprobe_index::moddir::absolute(outdir)
                .to_string_lossy()
                .into_owned(),
            inputs: self.inputs,
            modules,
            outputs: outputs(self.opts)
                .filter_map(|(n, _)| Some((n.to_string(), cache::FileKey::of(&outdir.join(n))?)))
                .collect(),
            messages,
            dirs,
            listing,
            others,
            early,
        };
        if let Some(dir) = &self.opts.cache {
            if std::fs::create_dir_all(dir).is_ok() {
                let _ = cache::Cache::store(&self.cache_path, &header, &recs);
                cache::prune(dir);
            }
        }
    }
}

/// Sort: kmod's topological order, modules nobody uses first, a LIFO of roots; each
/// module's dependencies are put in that order. Returns each module's place in it, or
/// None (the cycles reported) when the dependencies loop.
fn topological_sort(
    mods: &[Mod],
    deps: &mut [Vec<usize>],
    users: &[usize],
    log: &mut dyn FnMut(Level, String),
) -> Option<Vec<usize>> {
    let n = mods.len();
    let mut dep_sort_idx = vec![usize::MAX; n];
    let mut left = users.to_vec();
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
        report_cycles(mods, deps, &left, log);
        return None;
    }
    for d in deps.iter_mut() {
        d.sort_by_key(|&x| dep_sort_idx[x]);
    }
    Some(dep_sort_idx)
}

/// The .modinfo keys depmod keeps of a module (what the indexes and image builders use):
/// memory stays at a few small records, not the modules' whole modinfo.
const INDEXED_KEYS: &[&str] = &["alias", "softdep", "weakdep", "firmware"];

/// A digest of what the output depends on besides the module files: the options, the
/// parsed configuration, rprobe's version and the identity of the package's files.
fn input_digest(opts: &Options, cfg: &Config, dirname: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("{opts:?}").hash(&mut h);
    format!("{cfg:?}").hash(&mut h);
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        cache::FileKey::of(&Path::new(dirname).join(f)).hash(&mut h);
    }
    for f in [&opts.symvers, &opts.system_map].into_iter().flatten() {
        cache::FileKey::of(f).hash(&mut h);
    }
    h.finish()
}
