//! The system tier: a real Debian system (debootstrap's bookworm, from scripts/fetch-rootfs)
//! with rprobe installed as its kmod, so every kmod name (modprobe, depmod, lsmod, kmod …)
//! is rprobe. Debian's own tools drive it: depmod in a chroot, Debian's mkinitramfs builds
//! the initramfs (which then carries rprobe as its modprobe), systemd boots the 6.12 kernel
//! under qemu and runs `kmod static-nodes` at boot, the kernel's request_module calls
//! /sbin/modprobe. fixtures/system/rprobe-check runs once the system is up and compares
//! rprobe's answers with kmod's own binary, kept beside it, on the same running kernel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rprobe_testkit::{debian_rootfs, real_required, real_tree, vm};

/// Runs a command; panics with its output when it fails.
/// Runs `cmd`, which must succeed; its stdout.
pub(crate) fn sh(what: &str, cmd: &mut Command) -> String {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        o.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn skip(what: &str) {
    assert!(!real_required(), "system tier: {what} missing");
    eprintln!("SKIPPED: {what} missing");
}

/// What a system test needs: the 6.12 tree, the Debian root, the static rprobe and the
/// programs named; None (skipped, or a failure when real inputs are required) otherwise.
fn inputs(programs: &[&str]) -> Option<(rprobe_testkit::RealTree, PathBuf, PathBuf)> {
    let tree = real_tree("k612")?;
    let tar = debian_rootfs()?;
    let Some(rp) = vm::static_rprobe() else {
        skip("RPROBE_STATIC_BIN (scripts/build-static)");
        return None;
    };
    if let Some(p) = programs
        .iter()
        .find(|p| rprobe_testkit::find_program(p).is_none())
    {
        skip(p);
        return None;
    }
    Some((tree, tar, rp))
}

/// Unpacks the Debian root into `root` and adds the kernel package's modules and boot
/// files where installing the package would put them.
pub(crate) fn unpack_root(tar: &Path, tree: &rprobe_testkit::RealTree, root: &Path) {
    std::fs::create_dir_all(root).expect("mkdir");
    sh(
        "unpack the root",
        Command::new("tar")
            .arg("-C")
            .arg(root)
            .args(["--numeric-owner", "-xf"])
            .arg(tar),
    );
    let usr_mod = root.join("usr/lib/modules");
    std::fs::create_dir_all(&usr_mod).expect("mkdir");
    sh(
        "copy the modules",
        Command::new("cp")
            .arg("-a")
            .arg(tree.moddir())
            .arg(&usr_mod),
    );
    sh(
        "copy boot",
        Command::new("sh")
            .arg("-c")
            .arg("cp -a \"$0\"/boot/* \"$1\"/boot/")
            .arg(&tree.root)
            .arg(root),
    );
}

/// Debian's mkinitramfs in the root (with /proc and /dev, as it expects, in a private mount
/// namespace), writing /boot/initrd.img-VERSION; returns what it printed on stderr.
fn mkinitramfs(root: &Path, version: &str, what: &str) -> String {
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t proc proc \"$0/proc\" && mount --bind /dev \"$0/dev\" && \
             chroot \"$0\" mkinitramfs -o /boot/initrd.img-\"$1\" \"$1\"",
        )
        .arg(root)
        .arg(version)
        .output()
        .expect("run mkinitramfs");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "mkinitramfs {what}: {}\n{err}",
        o.status
    );
    err
}

/// Unpacks the root's /boot/initrd.img-VERSION with Debian's unmkinitramfs into the root's
/// /tmp/NAME; returns the host path of the unpacked tree.
fn unpack_initrd(root: &Path, version: &str, name: &str) -> PathBuf {
    sh(
        "unmkinitramfs",
        Command::new("chroot").arg(root).args([
            "unmkinitramfs",
            &format!("/boot/initrd.img-{version}"),
            &format!("/tmp/{name}"),
        ]),
    );
    root.join("tmp").join(name)
}

#[test]
fn vm_612_debian_system_with_rprobe_as_kmod() {
    let Some((tree, tar, rp)) = inputs(&["mkfs.ext4", "unshare", "chroot", "qemu-system-x86_64"])
    else {
        return;
    };
    let v = &tree.version;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    unpack_root(&tar, &tree, &root);

    // kmod's binary moves aside (for comparisons); rprobe takes its place, so every link
    // Debian's kmod package made (modprobe, depmod, lsmod, …) now runs rprobe.
    let kmod_bin = root.join("usr/bin/kmod");
    let real = root.join("usr/local/lib/kmod-real");
    std::fs::create_dir_all(&real).expect("mkdir");
    std::fs::copy(&kmod_bin, real.join("kmod")).expect("keep kmod");
    for t in ["lsmod", "modprobe"] {
        std::os::unix::fs::symlink("kmod", real.join(t)).expect("link");
    }
    std::fs::copy(&rp, &kmod_bin).expect("install rprobe as kmod");

    let version = sh(
        "modprobe --version in the root",
        Command::new("chroot")
            .arg(&root)
            .args(["modprobe", "--version"]),
    );
    assert!(version.starts_with("rprobe"), "{version}");
    sh(
        "depmod in the root (rprobe as Debian's depmod)",
        Command::new("chroot").arg(&root).args(["depmod", v]),
    );
    mkinitramfs(&root, v, "with rprobe as kmod");
    // mkinitramfs copied /usr/bin/kmod (rprobe) into the image as the early-boot modprobe.
    let unpacked = unpack_initrd(&root, v, "initrd");
    let in_image = std::fs::read(unpacked.join("usr/bin/kmod")).expect("kmod in image");
    assert!(
        in_image == std::fs::read(&rp).expect("read rprobe"),
        "the initramfs's kmod is not rprobe"
    );
    std::fs::remove_dir_all(&unpacked).expect("rm");

    // The check service, started once multi-user is reached, and the root file system.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/system");
    let check = root.join("usr/local/sbin/rprobe-check");
    std::fs::copy(fixtures.join("rprobe-check"), &check).expect("check script");
    std::fs::write(
        root.join("etc/systemd/system/rprobe-check.service"),
        "[Unit]\nDescription=rprobe system test\nAfter=multi-user.target\n\
         [Service]\nType=simple\nExecStart=/usr/local/sbin/rprobe-check\n\
         [Install]\nWantedBy=multi-user.target\n",
    )
    .expect("unit");
    std::os::unix::fs::symlink(
        "/etc/systemd/system/rprobe-check.service",
        root.join("etc/systemd/system/multi-user.target.wants/rprobe-check.service"),
    )
    .expect("enable");
    std::fs::write(root.join("etc/fstab"), "/dev/vda / ext4 defaults 0 1\n").expect("fstab");
    let initrd = tmp.path().join("initrd.img");
    std::fs::rename(root.join(format!("boot/initrd.img-{v}")), &initrd).expect("move initrd");
    let disk = tmp.path().join("disk.img");
    sh(
        "mkfs.ext4 -d",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "root", "-d"])
            .arg(&root)
            .arg(&disk)
            .arg("1400M"),
    );
    std::fs::remove_dir_all(&root).expect("rm root");

    let drive = format!("file={},format=raw,if=virtio", disk.display());
    let boot = vm::boot_with(
        &tree.vmlinuz(),
        &initrd,
        "root=/dev/vda rw",
        Duration::from_secs(420),
        &["-m", "1024", "-smp", "2", "-drive", &drive],
    )
    .expect("qemu runs");
    let tail = boot.tail(60);
    assert!(
        boot.console.contains("VM-END"),
        "the system did not finish its checks (timeout: {}):\n{tail}",
        !boot.finished
    );
    let results = boot.results();
    for name in [
        "system_state",
        "no_failed_units",
        "modprobe_is_rprobe",
        "static_nodes_service",
        "static_nodes_like_kmod",
        "request_module",
        "lsmod_like_kmod",
        "show_depends_like_kmod",
        "load_and_remove",
    ] {
        match results.iter().find(|(n, _, _)| n == name) {
            Some((_, true, _)) => {}
            Some((_, false, d)) => panic!("check {name} failed: {d}\n{tail}"),
            None => panic!("check {name} printed no result\n{tail}"),
        }
    }
}

/// What one path of an unpacked image holds.
#[derive(Debug, PartialEq)]
pub(crate) enum Node {
    Dir,
    Link(PathBuf),
    File(Vec<u8>),
}

/// Every path under `dir` (an unpacked image) with what it holds.
pub(crate) fn image_tree(dir: &Path) -> std::collections::BTreeMap<String, Node> {
    let mut m = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.expect("walk the unpacked image");
        let rel = e
            .path()
            .strip_prefix(dir)
            .expect("rel")
            .to_string_lossy()
            .into_owned();
        let ft = e.file_type();
        let node = if ft.is_symlink() {
            Node::Link(std::fs::read_link(e.path()).expect("readlink"))
        } else if ft.is_dir() {
            Node::Dir
        } else {
            Node::File(std::fs::read(e.path()).expect("read"))
        };
        m.insert(rel, node);
    }
    m
}

/// Debian's mkinitramfs run once with kmod and once with rprobe in kmod's place builds the
/// same image: every module, every modules.* index (written by the tool's depmod inside
/// mkinitramfs), firmware, scripts and configuration, and prints the same messages. The only
/// differences allowed are the kmod binary itself and the shared libraries kmod's binary
/// needs (rprobe's static binary needs none).
#[test]
fn mkinitramfs_same_image_with_kmod_and_rprobe() {
    let Some((tree, tar, rp)) = inputs(&["unshare", "chroot"]) else {
        return;
    };
    let v = &tree.version;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    unpack_root(&tar, &tree, &root);

    // kmod's libraries, by file name (the image may hold them under another directory).
    let ldd = sh(
        "ldd kmod",
        Command::new("chroot")
            .arg(&root)
            .args(["ldd", "/usr/bin/kmod"]),
    );
    let kmod_libs: Vec<String> = ldd
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|l| l.rsplit('/').next().map(str::to_string))
        .collect();
    assert!(kmod_libs.iter().any(|l| l.starts_with("libc.so")), "{ldd}");

    sh(
        "kmod's depmod",
        Command::new("chroot").arg(&root).args(["depmod", v]),
    );
    let kmod_err = mkinitramfs(&root, v, "with kmod");
    let a = image_tree(&unpack_initrd(&root, v, "with-kmod"));

    std::fs::copy(&rp, root.join("usr/bin/kmod")).expect("install rprobe as kmod");
    sh(
        "rprobe's depmod",
        Command::new("chroot").arg(&root).args(["depmod", v]),
    );
    let rprobe_err = mkinitramfs(&root, v, "with rprobe as kmod");
    let b = image_tree(&unpack_initrd(&root, v, "with-rprobe"));

    assert_eq!(kmod_err, rprobe_err, "mkinitramfs's messages differ");
    let is_kmod_lib = |p: &str, n: Option<&Node>| {
        let base = p.rsplit('/').next().unwrap_or(p);
        kmod_libs.iter().any(|l| l == base)
            || matches!(n, Some(Node::Link(t)) if kmod_libs.iter().any(|l| t.ends_with(l)))
    };
    let modules = a.keys().filter(|p| p.contains(".ko")).count();
    let indexes = a.keys().filter(|p| p.contains("/modules.")).count();
    assert!(
        modules > 100 && indexes >= 10,
        "{modules} modules, {indexes} indexes"
    );
    let mut diffs = Vec::new();
    for (p, n) in &a {
        match b.get(p) {
            None if is_kmod_lib(p, Some(n)) => {}
            None => diffs.push(format!("only with kmod: {p}")),
            Some(m) if m == n => {}
            Some(_) if p.ends_with("usr/bin/kmod") => {}
            Some(_) => diffs.push(format!("differs: {p}")),
        }
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        diffs.push(format!("only with rprobe: {p}"));
    }
    assert!(
        diffs.is_empty(),
        "{} differences between the images ({modules} modules, {indexes} indexes):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
