//! Test-only helpers for rprobe: access to the real Debian kernel trees that
//! `scripts/fetch-kernels` caches, and (see [`synth`]) synthetic module trees.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
    /// The flavour key: `k61` (plain .ko), `k612` (.ko.xz), `k612t` (Debian 13's 6.12,
    /// .ko.xz) or a recompressed copy (`k612zst`, `k61gz`).
    pub flavour: &'static str,
    /// The unpacked package root (holds lib/modules/VERSION and boot/; for Debian 13's
    /// package, lib is a link to usr/lib, where that package installs its modules).
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
            #[expect(
                clippy::print_stderr,
                reason = "test-only: tells the test log what was skipped"
            )]
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
    debian_rootfs_suite("bookworm")
}

/// The cached Debian 13 (trixie) root file system, `scripts/fetch-rootfs trixie`'s tarball:
/// kmod 34.2, systemd, udev, initramfs-tools (which copies modules with dracut-install).
/// Missing: as [`debian_rootfs`].
pub fn trixie_rootfs() -> Option<PathBuf> {
    debian_rootfs_suite("trixie")
}

/// Unpacks the tarball `tar` (a root file system, owners kept as numbers) into `dir`;
/// panics with tar's message when it fails.
pub fn unpack_tar(tar: &std::path::Path, dir: &std::path::Path) {
    let o = std::process::Command::new("tar")
        .args(["--numeric-owner", "-xf"])
        .arg(tar)
        .arg("-C")
        .arg(dir)
        .output()
        .expect("tar");
    assert!(
        o.status.success(),
        "tar -xf {}: {}",
        tar.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The files a kernel package ships beside its modules, which depmod reads and never
/// writes.
pub const PACKAGE_FILES: [&str; 3] = [
    "modules.order",
    "modules.builtin",
    "modules.builtin.modinfo",
];

/// Removes the index files of a module directory (every `modules.*` but
/// [`PACKAGE_FILES`]), so a tree is indexed afresh.
pub fn remove_indexes(moddir: &std::path::Path) {
    for e in std::fs::read_dir(moddir)
        .expect("module directory")
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("modules.") && !PACKAGE_FILES.contains(&n.as_str()) {
            std::fs::remove_file(e.path()).expect("remove an index file");
        }
    }
}

/// A hard-linked copy (`cp -al`) of the directory `src` as `dst` (created with its
/// parents); the source is never written through it as long as tools only replace files.
pub fn link_copy(src: &std::path::Path, dst: &std::path::Path) {
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    let st = std::process::Command::new("cp")
        .arg("-al")
        .arg(src)
        .arg(dst)
        .status()
        .expect("cp -al");
    assert!(st.success(), "cp -al {} {}", src.display(), dst.display());
}

/// The cached root file system tarball of a Debian suite (`scripts/fetch-rootfs SUITE`).
/// Missing: as [`debian_rootfs`].
pub fn debian_rootfs_suite(suite: &str) -> Option<PathBuf> {
    let tar = cache_dir().join(format!("rootfs/{suite}.tar"));
    if tar.is_file() {
        return Some(tar);
    }
    let arg = if suite == "bookworm" {
        String::new()
    } else {
        format!(" {suite}")
    };
    let msg = format!("{} missing: run scripts/fetch-rootfs{arg}", tar.display());
    if real_required() {
        panic!("{msg}");
    }
    #[expect(
        clippy::print_stderr,
        reason = "test-only: tells the test log what was skipped"
    )]
    {
        eprintln!("SKIPPED: {msg}");
    }
    None
}

// ---- Running kmod's tools on trees ------------------------------------------------------

/// A kmod tool (modinfo, depmod, modprobe, ...), which the test command installs.
pub fn kmod(tool: &str) -> PathBuf {
    find_program(tool)
        .unwrap_or_else(|| panic!("kmod's {tool} is not installed (apt-get install kmod)"))
}

/// Runs a program and returns what it printed and its status.
pub fn run<I, S>(prog: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", prog.display()))
}

/// A scratch root holding lib/modules/VERSION of a real tree as hard links (the cache is
/// never written: tools only add new files beside the links).
pub fn link_tree(tree: &RealTree) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    link_copy(
        &tree.moddir(),
        &tmp.path().join("lib/modules").join(&tree.version),
    );
    tmp
}

/// An empty configuration directory, for -C (so the host's config is not read).
pub fn empty_conf(root: &Path) -> PathBuf {
    let d = root.join("empty-conf.d");
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// Runs kmod's depmod on ROOT/lib/modules/VERSION with an empty configuration.
pub fn kmod_depmod(root: &Path, version: &str) {
    let conf = empty_conf(root);
    let o = run(
        &kmod("depmod"),
        [
            "-b".as_ref(),
            root.as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            version.as_ref(),
        ],
    );
    assert!(
        o.status.success(),
        "kmod depmod: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every module file under a directory, sorted.
pub fn module_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            let s = p.to_string_lossy();
            [".ko", ".ko.gz", ".ko.xz", ".ko.zst"]
                .iter()
                .any(|x| s.ends_with(x))
        })
        .collect();
    v.sort();
    v
}

/// Every `step`-th element, starting with the first.
pub fn every<T: Clone>(v: &[T], step: usize) -> Vec<T> {
    v.iter().step_by(step.max(1)).cloned().collect()
}
