//! Building an image: the closure of the requested modules (through rprobe-resolve), their
//! firmware, indexes made by rprobe's depmod for exactly that subset, the modprobe.d
//! configuration and extra files, as one reproducible cpio archive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rprobe_depmod::{self as depmod, Level};

use crate::cpio::{Archive, Entry};
use crate::{Error, Result};

/// What goes into an image.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// The root holding lib/modules/VERSION ("" for /).
    pub basedir: PathBuf,
    /// The kernel release.
    pub kversion: String,
    /// Modules by name, alias or path.
    pub modules: Vec<String>,
    /// Add what this host uses, read through these paths: its loaded modules and its
    /// devices' modaliases.
    pub host: Option<rprobe_load::HostPaths>,
    /// Where firmware files are looked up, in order; in each, as the kernel searches:
    /// updates/RELEASE, updates, RELEASE, then the directory itself.
    pub firmware_dirs: Vec<PathBuf>,
    /// modprobe.d paths (None: kmod's default directories).
    pub config_paths: Option<Vec<PathBuf>>,
    /// Extra files: (source, destination in the image).
    pub includes: Vec<(PathBuf, String)>,
    /// Counts the modules read by the build's depmod runs, for a caller showing progress.
    pub progress: Option<std::sync::Arc<depmod::Progress>>,
    /// The kmod generation whose index files the image gets.
    pub generation: rprobe_index::generation::Generation,
}

/// What a build produced, besides the archive.
#[derive(Debug, Default)]
pub struct Report {
    /// Module names in the image.
    pub modules: Vec<String>,
    /// Firmware files added.
    pub firmware: Vec<String>,
    /// Warnings (missing firmware, names found nowhere with --host, ...).
    pub warnings: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: path.into(),
        source: e,
    }
}

/// Builds the image archive for `spec`: indexes to resolve with, the closure, the subset
/// tree and its indexes, firmware, then the archive with the configuration and includes.
pub fn build(spec: &Spec) -> Result<(Archive, Report)> {
    let mut report = Report::default();
    let moddir = spec.basedir.join("lib/modules").join(&spec.kversion);
    std::fs::metadata(&moddir).map_err(io(&moddir))?;
    let scratch_dir = tempfile::tempdir().map_err(io(Path::new("temporary directory")))?;
    let scratch = scratch_dir.path().to_path_buf();
    let index_dir = indexes(spec, &moddir, &scratch)?;
    let ctx = context(spec, &index_dir)?;
    let closure = closure(spec, &ctx)?;
    let stage = scratch.join("stage");
    let subset = subset_tree(spec, &closure, &moddir, &index_dir, &stage)?;
    report.modules = subset.modules;
    let mut from_disk = subset.from_disk;
    firmware(spec, &subset.records, &mut from_disk, &mut report)?;
    let mut a = archive(&stage, &from_disk)?;
    configuration(spec, &mut a)?;
    includes(spec, &mut a)?;
    report.modules.sort();
    report.modules.dedup();
    Ok((a, report))
}

/// Indexes for resolution: the tree's own when it has them, else rprobe depmod's, written
/// beside (-o, under `scratch`) so the tree is never touched. Returns their directory.
fn indexes(spec: &Spec, moddir: &Path, scratch: &Path) -> Result<PathBuf> {
    if moddir.join("modules.dep.bin").exists() {
        return Ok(moddir.to_path_buf());
    }
    let opts = depmod::Options {
        basedir: Some(spec.basedir.clone()),
        outdir: Some(scratch.join("full")),
        kversion: spec.kversion.clone(),
        config_paths: Some(Vec::new()),
        progress: spec.progress.clone(),
        // Only for resolution here: weak dependencies join the closure.
        weakdep: true,
        generation: spec.generation,
        ..Default::default()
    };
    run_depmod(&opts)?;
    Ok(scratch.join("full/lib/modules").join(&spec.kversion))
}

/// The context over the index directory: kmod_new's state, without the host's command
/// line. The module directory must open (an image of nothing is an error, not an empty
/// image).
fn context(spec: &Spec, index_dir: &Path) -> Result<rprobe_context::Context> {
    Ok(rprobe_context::Context::open(rprobe_context::Options {
        generation: spec.generation,
        module_dir: index_dir.to_path_buf(),
        config_paths: spec.config_paths.clone(),
        cmdline: rprobe_context::Cmdline::None,
        host: spec.host.clone().unwrap_or_default(),
    })?)
}

/// The closure of the requested modules (each must be found) and, with `spec.host`, of
/// what the host uses that the tree has.
fn closure(spec: &Spec, ctx: &rprobe_context::Context) -> Result<Vec<rprobe_resolve::Module>> {
    let r = ctx.resolver();
    let mut names: Vec<String> = Vec::new();
    for m in &spec.modules {
        let p = Path::new(m);
        if m.contains('/') && p.is_file() {
            names.push(rprobe_index::name::modname_from_path(p));
        } else {
            names.push(m.clone());
        }
    }
    for n in &names {
        if r.lookup(n)?.is_empty() {
            return Err(Error::NotFound(n.clone()));
        }
    }
    if let Some(paths) = &spec.host {
        let mut host = paths.loaded_modules().unwrap_or_default();
        host.extend(paths.modaliases());
        host.sort();
        host.dedup();
        for h in host {
            if !r.lookup(&h)?.is_empty() {
                names.push(h);
            }
        }
    }
    Ok(r.closure(&names)?)
}

/// The subset tree's yield: what the image takes from disk, the module names, and the
/// records the subset's depmod read.
struct Subset {
    /// Files the image takes from where they are (streamed when it is written): the
    /// modules, and later the firmware.
    from_disk: Vec<(PathBuf, String)>,
    /// The closure's module names (with a file).
    modules: Vec<String>,
    /// The subset's modules as its depmod read them.
    records: Vec<rprobe_modfile::record::ModuleRecord>,
}

/// The subset tree under `stage`: links to the closure's files, the package's order and
/// builtin files, then indexes from rprobe's depmod for exactly this subset (its failure
/// fails the build).
fn subset_tree(
    spec: &Spec,
    closure: &[rprobe_resolve::Module],
    moddir: &Path,
    index_dir: &Path,
    stage: &Path,
) -> Result<Subset> {
    let sub = stage.join("lib/modules").join(&spec.kversion);
    std::fs::create_dir_all(&sub).map_err(io(&sub))?;
    let mut rels = BTreeSet::new();
    let mut from_disk: Vec<(PathBuf, String)> = Vec::new();
    let mut modules = Vec::new();
    for m in closure {
        let Some(p) = &m.path else { continue };
        let rel = p.strip_prefix(index_dir).unwrap_or(p).to_path_buf();
        // The file itself, not a link to it (weak-updates/ links point into other trees):
        // the stage and the image both get its content.
        let src = std::fs::canonicalize(moddir.join(&rel)).map_err(io(&moddir.join(&rel)))?;
        let dst = sub.join(&rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst).map_err(io(&src))?;
        }
        let rel = rel.to_string_lossy().into_owned();
        from_disk.push((src, format!("lib/modules/{}/{rel}", spec.kversion)));
        rels.insert(rel);
        modules.push(m.name.clone());
    }
    if let Ok(order) = std::fs::read_to_string(moddir.join("modules.order")) {
        let kept: String = order
            .lines()
            .filter(|l| {
                rels.iter().any(|r| {
                    r.starts_with(l.trim()) && r[l.trim().len()..].chars().all(|c| c != '/')
                })
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(sub.join("modules.order"), kept).map_err(io(&sub))?;
    }
    for f in ["modules.builtin", "modules.builtin.modinfo"] {
        if moddir.join(f).exists() {
            std::fs::copy(moddir.join(f), sub.join(f)).map_err(io(moddir))?;
        }
    }
    let opts = depmod::Options {
        basedir: Some(stage.to_path_buf()),
        kversion: spec.kversion.clone(),
        config_paths: Some(Vec::new()),
        generation: spec.generation,
        ..Default::default()
    };
    let records = run_depmod(&opts)?;
    Ok(Subset {
        from_disk,
        modules,
        records,
    })
}

/// Firmware named by the modules (read once, by the subset's depmod): found ones join
/// `from_disk`, missing ones are warnings.
fn firmware(
    spec: &Spec,
    records: &[rprobe_modfile::record::ModuleRecord],
    from_disk: &mut Vec<(PathBuf, String)>,
    report: &mut Report,
) -> Result<()> {
    for rec in records {
        for fw in rec.values("firmware") {
            match find_firmware(&spec.firmware_dirs, &spec.kversion, fw) {
                Some((path, name)) => {
                    // linux-firmware installs its Link: entries as symbolic links: the image
                    // gets the content under the name the module asks for.
                    let path = std::fs::canonicalize(&path).map_err(io(&path))?;
                    from_disk.push((path, format!("lib/firmware/{name}")));
                    report.firmware.push(name);
                }
                None => report.warnings.push(format!(
                    "{}: firmware {fw} not found in {}",
                    rec.name,
                    spec.firmware_dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
    }
    Ok(())
}

/// The archive of the stage's generated files (indexes, modules.order: small, read now,
/// before the stage goes) and the files taken from disk.
fn archive(stage: &Path, from_disk: &[(PathBuf, String)]) -> Result<Archive> {
    let mut a = Archive::new(Archive::source_date_epoch());
    let linked: BTreeSet<&str> = from_disk.iter().map(|(_, d)| d.as_str()).collect();
    for p in walk(stage) {
        let rel = p
            .strip_prefix(stage)
            .unwrap_or(&p)
            .to_string_lossy()
            .into_owned();
        if linked.contains(rel.as_str()) {
            continue;
        }
        let data = std::fs::read(&p).map_err(io(&p))?;
        a.add(Entry::file(&rel, data, 0o644));
    }
    for (src, dest) in from_disk {
        a.add_path(src, dest)?;
    }
    Ok(a)
}

/// The modprobe.d configuration: the files the resolver read, under their names.
fn configuration(spec: &Spec, a: &mut Archive) -> Result<()> {
    let mut conf = Vec::new();
    rprobe_resolve::config::collect_config_files(
        spec.config_paths.as_deref(),
        spec.generation,
        &mut conf,
    );
    for (name, path) in conf {
        a.add_path(&path, &format!("etc/modprobe.d/{name}"))?;
    }
    Ok(())
}

/// The extra files, under their destinations (relative to the image's root).
fn includes(spec: &Spec, a: &mut Archive) -> Result<()> {
    for (src, dest) in &spec.includes {
        a.add_path(src, dest.trim_start_matches('/'))?;
    }
    Ok(())
}

/// Runs depmod; its errors (a cycle, say) fail the build with depmod's own messages.
fn run_depmod(opts: &depmod::Options) -> Result<Vec<rprobe_modfile::record::ModuleRecord>> {
    let mut errors = Vec::new();
    let mut log = |lv: Level, m: String| {
        if matches!(lv, Level::Error | Level::Fatal) {
            errors.push(m);
        }
    };
    match depmod::run_collect(opts, &mut log, &mut std::io::sink())? {
        (true, records) => Ok(records),
        (false, _) => Err(Error::Depmod(errors)),
    }
}

/// The kernel's firmware lookup: the plain name in every place, then with .zst in every
/// place, then with .xz (the kernel tries one suffix over its whole path list before the
/// next); the places are, for each directory in turn, updates/RELEASE, updates, RELEASE and
/// the directory itself. Returns the file and its name in the image (under lib/firmware,
/// where the kernel looks).
pub fn find_firmware(dirs: &[PathBuf], release: &str, name: &str) -> Option<(PathBuf, String)> {
    for suffix in ["", ".zst", ".xz"] {
        let n = format!("{name}{suffix}");
        for dir in dirs {
            let places = [
                dir.join("updates").join(release),
                dir.join("updates"),
                dir.join(release),
                dir.clone(),
            ];
            for place in places {
                let p = place.join(&n);
                if p.is_file() {
                    return Some((p, n));
                }
            }
        }
    }
    None
}

/// Every file (and symlink) under a directory, sorted; nothing when it is missing.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                todo.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}
