//! Test-only helpers for rprobe: access to the real Debian kernel trees that
//! `scripts/fetch-kernels` caches, and (see [`synth`]) synthetic module trees.

use std::path::{Path, PathBuf};

pub mod synth;
pub mod vm;

/// The cache directory for downloaded kernels and build outputs (outside git).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RPROBE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/rprobe-test")
}

/// One unpacked Debian kernel package.
#[derive(Clone, Debug)]
pub struct RealTree {
    /// The flavour key: `k61` (plain .ko) or `k612` (.ko.xz).
    pub flavour: &'static str,
    /// The unpacked package root (holds lib/modules/VERSION and boot/).
    pub root: PathBuf,
    /// The kernel release, the name of the directory under lib/modules.
    pub version: String,
}

impl RealTree {
    /// lib/modules/VERSION under the root.
    pub fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }
    /// The kernel image, boot/vmlinuz-VERSION.
    pub fn vmlinuz(&self) -> PathBuf {
        self.root
            .join("boot")
            .join(format!("vmlinuz-{}", self.version))
    }
}

/// True when the environment demands real trees (the README's test command sets it), so a
/// missing tree fails the test instead of skipping it.
pub fn real_required() -> bool {
    std::env::var_os("RPROBE_REQUIRE_REAL").is_some_and(|v| v != "0")
}

/// Finds a cached real tree. When it is missing: panics if [`real_required`], else prints a
/// note and returns None (the caller returns early).
pub fn real_tree(flavour: &'static str) -> Option<RealTree> {
    let trees = cache_dir().join("trees");
    let version = std::fs::read_to_string(trees.join(format!("{flavour}.version")))
        .ok()
        .map(|s| s.trim().to_string());
    match version {
        Some(version)
            if trees
                .join(flavour)
                .join("lib/modules")
                .join(&version)
                .is_dir() =>
        {
            Some(RealTree {
                flavour,
                root: trees.join(flavour),
                version,
            })
        }
        _ => {
            let msg = format!(
                "real kernel tree {flavour} missing under {}: run scripts/fetch-kernels",
                trees.display()
            );
            if real_required() {
                panic!("{msg}");
            }
            #[allow(clippy::print_stderr)] // test-only: tells the test log what was skipped
            {
                eprintln!("SKIPPED: {msg}");
            }
            None
        }
    }
}

/// Finds a program on PATH (kmod's tools live in /sbin or /usr/sbin on Debian).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The cached Debian bookworm root file system (a tarball `scripts/fetch-rootfs` makes with
/// debootstrap: systemd, udev, kmod, initramfs-tools). When it is missing: panics if
/// [`real_required`], else prints a note and returns None.
pub fn debian_rootfs() -> Option<PathBuf> {
    let tar = cache_dir().join("rootfs/bookworm.tar");
    if tar.is_file() {
        return Some(tar);
    }
    let msg = format!("{} missing: run scripts/fetch-rootfs", tar.display());
    if real_required() {
        panic!("{msg}");
    }
    #[allow(clippy::print_stderr)] // test-only: tells the test log what was skipped
    {
        eprintln!("SKIPPED: {msg}");
    }
    None
}
