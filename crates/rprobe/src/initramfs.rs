//! `rprobe initramfs`: a reproducible early-boot image with a module closure.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use rprobe_initramfs::build::{build, Spec};
use rprobe_initramfs::{Compress, WriteOptions};

/// Options of `rprobe initramfs`.
#[derive(Parser, Debug)]
#[command(name = "initramfs", disable_version_flag = true)]
struct Args {
    /// Kernel release (default: the running kernel's).
    #[arg(short = 'k', long = "kernel")]
    kversion: Option<String>,
    /// Root holding lib/modules.
    #[arg(short = 'b', long = "basedir")]
    basedir: Option<PathBuf>,
    /// The image to write.
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// A module to include with its closure (name, alias or path; repeatable).
    #[arg(long = "module")]
    module: Vec<String>,
    /// A file listing modules, one per line (# comments).
    #[arg(long = "modules-from")]
    modules_from: Vec<PathBuf>,
    /// Add the modules this host uses (/proc/modules and device modaliases).
    #[arg(long = "host")]
    host: bool,
    /// Firmware directory, searched as the kernel does (updates/RELEASE, updates, RELEASE,
    /// then the directory); repeatable, searched in order (default: BASEDIR/lib/firmware).
    #[arg(long = "firmware-dir")]
    firmware_dir: Vec<PathBuf>,
    /// modprobe.d configuration path (repeatable; default: kmod's directories).
    #[arg(short = 'C', long = "config")]
    config: Vec<PathBuf>,
    /// Compression: zstd, gzip, xz or none.
    #[arg(long = "compress", default_value = "zstd")]
    compress: String,
    /// Compression level (zstd 1-19, default 19; gzip 1-9, default 9; xz 0-9, default 6).
    #[arg(long = "compress-level")]
    compress_level: Option<u32>,
    /// Extra file SRC[:DEST] (repeatable).
    #[arg(long = "include")]
    include: Vec<String>,
    /// Append to this existing image (a concatenated archive).
    #[arg(long = "append-to")]
    append_to: Option<PathBuf>,
    /// List the entries of an image and exit.
    #[arg(long = "list")]
    list: Option<PathBuf>,
    /// With --list: mode, links, owner, group, size, time and name, as `cpio -tv` shows them.
    #[arg(long = "long", requires = "list")]
    long: bool,
    /// With --list: print one JSON array of entries (schema: docs/json.md).
    #[arg(long = "json")]
    json: bool,
}

/// Runs `rprobe initramfs`; returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let args: Args = match crate::parse_args("initramfs", &raw, 2) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Some(img) = &args.list {
        return list(img, args.json, args.long);
    }
    let request = match request(&args) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // On a terminal: modules read while the tree is indexed, then the image's size as it
    // is written (nothing in redirected output).
    let progress = Arc::new(rprobe_depmod::Progress::default());
    let written_bytes = Arc::new(AtomicU64::new(0));
    let ticker = ticker(&progress, &written_bytes);
    let spec = spec(&args, &request, ticker.as_ref().map(|_| progress.clone()));
    let Some(archive) = build_image(&spec, ticker.is_some()) else {
        return 1;
    };
    let written = rprobe_initramfs::write_image(
        &archive,
        &request.output,
        &WriteOptions {
            append_to: args.append_to.as_deref(),
            compress: request.compress,
            level: args.compress_level,
            written: Some(&written_bytes),
        },
    );
    drop(ticker);
    if let Err(e) = written {
        crate::out::log("initramfs", rprobe_index::log::Level::Error, &e);
        return 1;
    }
    0
}

/// `--list`: the image's entries as names, `cpio -tv` lines or JSON; the exit code.
fn list(img: &Path, json: bool, long: bool) -> i32 {
    match rprobe_initramfs::cpio::list_file(img) {
        Ok(entries) if json => {
            let v: Vec<crate::json::ListedJson> = entries.iter().map(Into::into).collect();
            crate::json::print(&v);
            0
        }
        Ok(entries) => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            for e in entries {
                if long {
                    crate::outln!(out, "{}", long_line(&e, now));
                } else {
                    crate::outln!(out, "{}", e.name);
                }
            }
            0
        }
        Err(e) => {
            crate::out::log("initramfs", rprobe_index::log::Level::Error, &e);
            1
        }
    }
}

/// What the options ask a build for, checked and filled in with their defaults.
struct Request {
    output: PathBuf,
    kversion: String,
    compress: Compress,
    modules: Vec<String>,
    includes: Vec<(PathBuf, String)>,
    basedir: PathBuf,
    firmware_dirs: Vec<PathBuf>,
}

/// Maps the options to a [`Request`], in the order their errors are reported; the exit
/// code (after the message) when one is wrong.
fn request(args: &Args) -> Result<Request, i32> {
    let Some(output) = args.output.clone() else {
        crate::out::log(
            "initramfs",
            rprobe_index::log::Level::Error,
            "-o OUT is required",
        );
        return Err(2);
    };
    let Some(kversion) = args
        .kversion
        .clone()
        .or_else(rprobe_index::moddir::kernel_release)
    else {
        crate::out::log(
            "initramfs",
            rprobe_index::log::Level::Error,
            "no -k VERSION and the running kernel's is unknown",
        );
        return Err(2);
    };
    let compress = compression(args)?;
    let modules = modules(args)?;
    let includes = args
        .include
        .iter()
        .map(|i| match i.split_once(':') {
            Some((s, d)) => (PathBuf::from(s), d.to_string()),
            None => (PathBuf::from(i), i.trim_start_matches('/').to_string()),
        })
        .collect();
    let basedir = args.basedir.clone().unwrap_or_else(|| PathBuf::from("/"));
    let firmware_dirs = if args.firmware_dir.is_empty() {
        vec![basedir.join("lib/firmware")]
    } else {
        args.firmware_dir.clone()
    };
    Ok(Request {
        output,
        kversion,
        compress,
        modules,
        includes,
        basedir,
        firmware_dirs,
    })
}

/// `--compress` and `--compress-level`, checked against each other.
fn compression(args: &Args) -> Result<Compress, i32> {
    let Some(compress) = Compress::parse(&args.compress) else {
        crate::errln!(
            "initramfs: ERROR: unknown compression '{}' (zstd, gzip, xz, none)",
            args.compress
        );
        return Err(2);
    };
    if let Some(level) = args.compress_level {
        match compress.levels() {
            Some((range, _)) if range.contains(&level) => {}
            Some((range, _)) => {
                crate::errln!(
                    "initramfs: ERROR: --compress-level {level}: {} takes {}-{}",
                    args.compress,
                    range.start(),
                    range.end()
                );
                return Err(2);
            }
            None => {
                crate::errln!(
                    "initramfs: ERROR: --compress-level needs --compress zstd, gzip or xz"
                );
                return Err(2);
            }
        }
    }
    Ok(compress)
}

/// The modules asked for: `--module`s, then each `--modules-from` file's lines (without
/// `#` comments and blank lines).
fn modules(args: &Args) -> Result<Vec<String>, i32> {
    let mut modules = args.module.clone();
    for f in &args.modules_from {
        match std::fs::read_to_string(f) {
            Ok(t) => modules.extend(
                t.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                    .filter(|l| !l.is_empty()),
            ),
            Err(e) => {
                crate::out::log(
                    "initramfs",
                    rprobe_index::log::Level::Error,
                    format_args!("{}: {e}", f.display()),
                );
                return Err(1);
            }
        }
    }
    Ok(modules)
}

/// The progress line (on a terminal only): modules read, then the image's size so far.
fn ticker(
    progress: &Arc<rprobe_depmod::Progress>,
    written_bytes: &Arc<AtomicU64>,
) -> Option<crate::progress::Ticker> {
    let modules = crate::progress::modules_line("initramfs", progress);
    let bytes = written_bytes.clone();
    crate::progress::start(move || {
        let n = bytes.load(Ordering::Relaxed);
        if n > 0 {
            Some(format!("initramfs: writing image {} MiB", n >> 20))
        } else {
            modules()
        }
    })
}

/// The library's [`Spec`] for a request.
fn spec(args: &Args, request: &Request, progress: Option<Arc<rprobe_depmod::Progress>>) -> Spec {
    Spec {
        progress,
        basedir: request.basedir.clone(),
        kversion: request.kversion.clone(),
        modules: request.modules.clone(),
        host: args.host.then(rprobe_load::HostPaths::from_env),
        firmware_dirs: request.firmware_dirs.clone(),
        config_paths: if args.config.is_empty() {
            None
        } else {
            Some(args.config.clone())
        },
        includes: request.includes.clone(),
        generation: crate::generation(),
    }
}

/// Builds the archive and prints the build's warnings (clearing the progress line first
/// when one is drawn); None after the error's message.
fn build_image(spec: &Spec, ticking: bool) -> Option<rprobe_initramfs::cpio::Archive> {
    let (archive, report) = match build(spec) {
        Ok(x) => x,
        Err(e) => {
            crate::out::log("initramfs", rprobe_index::log::Level::Error, &e);
            return None;
        }
    };
    if ticking && !report.warnings.is_empty() {
        crate::err!("\r\x1b[K");
    }
    for w in &report.warnings {
        crate::out::log("initramfs", rprobe_index::log::Level::Warning, w);
    }
    Some(archive)
}

/// One `--list --long` line, as GNU `cpio -tv` prints it: mode string, links, owner and
/// group (names when the system knows them), size, date (time of day within six months,
/// else the year; local time), the name and, for a link, its target.
fn long_line(e: &rprobe_initramfs::cpio::Listed, now: i64) -> String {
    let kind = match e.mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut m = String::from(kind);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        m.push(if e.mode & (0o400 >> i) != 0 { c } else { '-' });
    }
    let special = |m: &mut String, at: usize, bit: u32, set: char, unset: char| {
        if e.mode & bit != 0 {
            let x = m.as_bytes()[at] == b'x';
            m.replace_range(at..at + 1, &String::from(if x { set } else { unset }));
        }
    };
    special(&mut m, 3, 0o4000, 's', 'S');
    special(&mut m, 6, 0o2000, 's', 'S');
    special(&mut m, 9, 0o1000, 't', 'T');
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(e.uid))
        .ok()
        .flatten()
        .map_or_else(|| e.uid.to_string(), |u| u.name);
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(e.gid))
        .ok()
        .flatten()
        .map_or_else(|| e.gid.to_string(), |g| g.name);
    let t = i64::from(e.mtime);
    let when = chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&chrono::Local))
        .map(|d| {
            // Six months (GNU cpio's rule): older, or in the future, shows the year.
            if now - t > 6 * 30 * 24 * 3600 || t > now {
                d.format("%b %e  %Y").to_string()
            } else {
                d.format("%b %e %H:%M").to_string()
            }
        })
        .unwrap_or_default();
    // cpio prints at most 8 characters of each name, and a device's numbers for its size.
    let user: String = user.chars().take(8).collect();
    let group: String = group.chars().take(8).collect();
    let size = if matches!(kind, 'c' | 'b') {
        format!("{:>3}, {:>3}", e.rdev.0, e.rdev.1)
    } else {
        format!("{:>8}", e.size)
    };
    let mut line = format!(
        "{m} {:>3} {user:<8} {group:<8} {size} {when} {}",
        e.nlink, e.name
    );
    if let Some(t) = &e.target {
        line.push_str(" -> ");
        line.push_str(t);
    }
    line
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
