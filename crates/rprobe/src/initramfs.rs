//! `rprobe initramfs`: a reproducible early-boot image with a module closure.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use rprobe_initramfs::build::{build, Spec};
use rprobe_initramfs::Compress;

/// Options of `rprobe initramfs`.
#[derive(Parser, Debug)]
#[command(name = "initramfs", disable_version_flag = true)]
struct Args {
    /// Kernel release.
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
    /// Firmware directory.
    #[arg(long = "firmware-dir", default_value = "/lib/firmware")]
    firmware_dir: PathBuf,
    /// modprobe.d configuration path (repeatable; default: kmod's directories).
    #[arg(short = 'C', long = "config")]
    config: Vec<PathBuf>,
    /// Compression: zstd, gzip, xz or none.
    #[arg(long = "compress", default_value = "zstd")]
    compress: String,
    /// Extra file SRC[:DEST] (repeatable).
    #[arg(long = "include")]
    include: Vec<String>,
    /// Append to this existing image (a concatenated archive).
    #[arg(long = "append-to")]
    append_to: Option<PathBuf>,
    /// List the entries of an image and exit.
    #[arg(long = "list")]
    list: Option<PathBuf>,
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
        return match rprobe_initramfs::cpio::list_file(img) {
            Ok(entries) if args.json => {
                let v: Vec<crate::json::ListedJson> = entries.iter().map(Into::into).collect();
                crate::json::print(&v);
                0
            }
            Ok(entries) => {
                let mut out = std::io::BufWriter::new(std::io::stdout());
                for e in entries {
                    crate::outln!(out, "{}", e.name);
                }
                0
            }
            Err(e) => {
                crate::errln!("initramfs: ERROR: {e}");
                1
            }
        };
    }
    let (Some(kversion), Some(output)) = (args.kversion.clone(), args.output.clone()) else {
        crate::errln!("initramfs: ERROR: -k VERSION and -o OUT are required");
        return 2;
    };
    let Some(compress) = Compress::parse(&args.compress) else {
        crate::errln!(
            "initramfs: ERROR: unknown compression '{}' (zstd, gzip, xz, none)",
            args.compress
        );
        return 2;
    };
    let mut modules = args.module.clone();
    for f in &args.modules_from {
        match std::fs::read_to_string(f) {
            Ok(t) => modules.extend(
                t.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                    .filter(|l| !l.is_empty()),
            ),
            Err(e) => {
                crate::errln!("initramfs: ERROR: {}: {e}", f.display());
                return 1;
            }
        }
    }
    let includes = args
        .include
        .iter()
        .map(|i| match i.split_once(':') {
            Some((s, d)) => (PathBuf::from(s), d.to_string()),
            None => (PathBuf::from(i), i.trim_start_matches('/').to_string()),
        })
        .collect();
    let spec = Spec {
        basedir: args.basedir.clone().unwrap_or_else(|| PathBuf::from("/")),
        kversion,
        modules,
        host: args.host,
        proc_modules: std::env::var_os("RPROBE_PROC_MODULES")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/proc/modules".into()),
        sys: std::env::var_os("RPROBE_SYSFS")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/sys".into()),
        firmware_dir: args.firmware_dir.clone(),
        config_paths: if args.config.is_empty() {
            None
        } else {
            Some(args.config.clone())
        },
        includes,
    };
    let (archive, report) = match build(&spec) {
        Ok(x) => x,
        Err(e) => {
            crate::errln!("initramfs: ERROR: {e}");
            return 1;
        }
    };
    for w in &report.warnings {
        crate::errln!("initramfs: WARNING: {w}");
    }
    let mut bytes = match compress.apply(&archive.to_bytes()) {
        Ok(b) => b,
        Err(e) => {
            crate::errln!("initramfs: ERROR: compressing: {e}");
            return 1;
        }
    };
    if let Some(base) = &args.append_to {
        match std::fs::read(base) {
            Ok(mut b) => {
                while !b.len().is_multiple_of(4) {
                    b.push(0);
                }
                b.extend_from_slice(&bytes);
                bytes = b;
            }
            Err(e) => {
                crate::errln!("initramfs: ERROR: {}: {e}", base.display());
                return 1;
            }
        }
    }
    if let Err(e) = rprobe_index::atomic::write(&output, &bytes) {
        crate::errln!("initramfs: ERROR: {}: {e}", output.display());
        return 1;
    }
    0
}

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}
