//! The system tier: a real Debian system (debootstrap's bookworm, from scripts/fetch-rootfs)
//! with rprobe installed as its kmod, so every kmod name (modprobe, depmod, lsmod, kmod …)
//! is rprobe. Debian's own tools drive it: depmod in a chroot, Debian's mkinitramfs builds
//! the initramfs (which then carries rprobe as its modprobe), systemd boots the 6.12 kernel
//! under qemu and runs `kmod static-nodes` at boot, the kernel's request_module calls
//! /sbin/modprobe. fixtures/system/rprobe-check runs once the system is up and compares
//! rprobe's answers with kmod's own binary, kept beside it, on the same running kernel.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

/// One boot's console, read into the lines the check script prints.
pub(crate) struct Run {
    pub(crate) what: &'static str,
    pub(crate) console: String,
    pub(crate) results: Vec<(String, bool, String)>,
}

impl Run {
    /// The words after `TAG ` on the console's lines that carry it (a getty's prompt or an
    /// escape sequence may precede it on the same line).
    pub(crate) fn tagged(&self, tag: &str) -> BTreeSet<String> {
        self.tagged_lines(tag).into_iter().collect()
    }

    /// [`Run::tagged`] in console order, repeats kept.
    pub(crate) fn tagged_lines(&self, tag: &str) -> Vec<String> {
        let tag = format!("{tag} ");
        self.console
            .lines()
            .filter_map(|l| {
                let l = l.trim_end_matches('\r');
                let i = l.find(&tag)?;
                // A journal line quoted on the console is not one of the other tags.
                if tag != "JOURNAL " && l[..i].contains("JOURNAL ") {
                    return None;
                }
                let rest = l[i + tag.len()..].trim();
                (!rest.is_empty()).then(|| rest.to_string())
            })
            .collect()
    }

    pub(crate) fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Panics unless every check named passed.
    pub(crate) fn require(&self, names: &[&str]) {
        let journal = self.tagged_lines("JOURNAL");
        for name in names {
            match self.results.iter().find(|(n, _, _)| n == name) {
                Some((_, true, _)) => {}
                Some((_, false, d)) => panic!(
                    "{}: check {name} failed: {d}\njournal:\n{}\n{}",
                    self.what,
                    journal.join("\n"),
                    self.tail(80)
                ),
                None => panic!(
                    "{}: check {name} printed no result\n{}",
                    self.what,
                    self.tail(80)
                ),
            }
        }
    }
}

/// Boots the root file system image `disk` with `initrd` on the tree's kernel (2 CPUs, 1 GiB);
/// the check script prints its lines and powers off. The kernel records every module it
/// loads and every module it asks modprobe for from the first moment (trace events enabled
/// on the command line). With RPROBE_CONSOLE_DIR=DIR set, the console is kept there as
/// `LABEL-WHAT.console` (WHAT's first word). Panics when the checks did not finish.
pub(crate) fn boot_disk(
    what: &'static str,
    label: &str,
    tree: &rprobe_testkit::RealTree,
    initrd: &Path,
    disk: &Path,
) -> Run {
    let drive = format!("file={},format=raw,if=virtio", disk.display());
    let start = Instant::now();
    let b = vm::boot_with(
        &tree.vmlinuz(),
        initrd,
        "root=/dev/vda rw trace_event=module:module_load,module:module_request",
        Duration::from_secs(420),
        &["-m", "1024", "-smp", "2", "-drive", &drive],
    )
    .expect("qemu runs");
    eprintln!(
        "{what}: booted, checked and powered off in {:?}",
        start.elapsed()
    );
    if let Some(dir) = std::env::var_os("RPROBE_CONSOLE_DIR") {
        let name = format!("{label}-{}.console", what.split(' ').next().unwrap_or(what));
        let _ = std::fs::write(Path::new(&dir).join(name), &b.console);
    }
    let run = Run {
        what,
        results: b.results(),
        console: b.console,
    };
    assert!(
        run.console.contains("VM-END"),
        "{what}: the system did not finish its checks (timeout: {}):\n{}",
        !b.finished,
        run.tail(80)
    );
    run
}

/// The root's files for the boot: fixtures/system/SCRIPT as the check service, started once
/// multi-user is reached, and the root file system's fstab line.
pub(crate) fn add_check_service(root: &Path, script: &str) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/system");
    let check = root.join("usr/local/sbin/rprobe-check");
    std::fs::create_dir_all(check.parent().expect("parent")).expect("mkdir");
    std::fs::copy(fixtures.join(script), &check).expect("check script");
    std::fs::write(
        root.join("etc/systemd/system/rprobe-check.service"),
        "[Unit]\nDescription=rprobe system test\nAfter=multi-user.target\n\
         [Service]\nType=simple\nExecStart=/usr/local/sbin/rprobe-check\n\
         [Install]\nWantedBy=multi-user.target\n",
    )
    .expect("unit");
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants).expect("mkdir");
    std::os::unix::fs::symlink(
        "/etc/systemd/system/rprobe-check.service",
        wants.join("rprobe-check.service"),
    )
    .expect("enable");
    std::fs::write(root.join("etc/fstab"), "/dev/vda / ext4 defaults 0 1\n").expect("fstab");
}

/// The root as an ext4 disk image at `disk`.
pub(crate) fn make_disk(root: &Path, disk: &Path) {
    sh(
        "mkfs.ext4 -d",
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "root", "-d"])
            .arg(root)
            .arg(disk)
            .arg("1400M"),
    );
}

/// rprobe's libkmod.so.2: $RPROBE_LIBKMOD (scripts/test exports scripts/build-libkmod's
/// output), else built here with scripts/build-libkmod.
fn rprobe_libkmod() -> PathBuf {
    std::env::var_os("RPROBE_LIBKMOD")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .unwrap_or_else(crate::libkmod::library_under_test)
}

/// The SHA-256 of a file, by coreutils' sha256sum, as the booted system prints it.
fn sha256(path: &Path) -> String {
    let out = sh("sha256sum", Command::new("sha256sum").arg(path));
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Where Debian 12's kmod package installs libkmod.so.2 (the file its SONAME link names).
const LIBKMOD_FILE: &str = "usr/lib/x86_64-linux-gnu/libkmod.so.2.4.0";

/// The image's modprobe.d additions: a blacklisted module and an install command, which the
/// kmod builtin's explicit loads (fixtures/system/rprobe-check) meet.
const TEST_MODPROBE_CONF: &str = "blacklist romfs\n\
    install minix echo ran >> /run/rprobe-minix-install\n";

/// The image's modules-load.d addition: modules nothing else loads at boot, one of them with a
/// dependency (bonding needs tls), both with options from Debian's /usr/lib/modprobe.d.
const TEST_MODULES_LOAD: &str = "# rprobe's system test\ndummy\nbonding\n";

/// The checks both boots must pass.
const CHECKS: [&str; 19] = [
    "system_state",
    "no_failed_units",
    "modules_settled",
    "trace_read",
    "libkmod_mapped",
    "modules_load_service",
    "modules_load_loaded",
    "hotplug_sd_mod",
    "builtin_kmod_lib_chosen",
    "builtin_sys_cleanup",
    "builtin_kmod_cleanup",
    "builtin_like_kmod",
    "modprobe_is_rprobe",
    "static_nodes_service",
    "static_nodes_like_kmod",
    "request_module",
    "lsmod_like_kmod",
    "show_depends_like_kmod",
    "load_and_remove",
];

/// Debian 12 on the 6.12 kernel with rprobe as its kmod, booted twice from the same root and
/// the same initramfs: once with kmod's own libkmod.so.2, once with rprobe's library in that
/// file's place, so systemd-udevd (coldplug and hotplug), PID 1 (autofs4 and the other
/// modules it loads itself) and systemd-modules-load load modules through rprobe's library.
/// Both boots reach multi-user with no failed unit and rprobe answers as kmod's own binary
/// does (static nodes, request_module, lsmod, --show-depends). Then the second boot has
/// loaded the same modules as the first (/proc/modules once settled, and every module_load
/// event since boot), with rprobe's library mapped in PID 1 and udevd (checksum of the mapped
/// file) where the first had kmod's; systemd-modules-load loaded the same modules with the
/// same messages; udevd loaded the same modules for a disk added at run time; and udev's
/// kmod builtin (`udevadm test-builtin 'kmod load …'`) printed and loaded the same with
/// rprobe's library as with kmod's, in the same boot and against the first boot.
#[test]
fn vm_612_debian_system_with_rprobe_as_kmod() {
    let Some((tree, tar, rp)) = inputs(&[
        "mkfs.ext4",
        "unshare",
        "chroot",
        "qemu-system-x86_64",
        "sha256sum",
    ]) else {
        return;
    };
    let ours = rprobe_libkmod();
    let v = &tree.version;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    unpack_root(&tar, &tree, &root);

    // kmod's binary moves aside (for comparisons); rprobe takes its place, so every link
    // Debian's kmod package made (modprobe, depmod, lsmod, …) now runs rprobe. kmod's
    // library is kept beside it too, for the kmod builtin's side-by-side runs.
    let kmod_bin = root.join("usr/bin/kmod");
    let real = root.join("usr/local/lib/kmod-real");
    std::fs::create_dir_all(real.join("lib")).expect("mkdir");
    std::fs::copy(&kmod_bin, real.join("kmod")).expect("keep kmod");
    for t in ["lsmod", "modprobe"] {
        std::os::unix::fs::symlink("kmod", real.join(t)).expect("link");
    }
    let lib_file = root.join(LIBKMOD_FILE);
    std::fs::copy(&lib_file, real.join("lib/libkmod.so.2")).expect("keep kmod's library");
    std::fs::copy(&rp, &kmod_bin).expect("install rprobe as kmod");
    let kmod_lib_sum = sha256(&lib_file);
    let ours_sum = sha256(&ours);
    assert_ne!(kmod_lib_sum, ours_sum, "the two libraries are one file");

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
    std::fs::write(
        root.join("etc/modprobe.d/rprobe-test.conf"),
        TEST_MODPROBE_CONF,
    )
    .expect("modprobe.d");
    std::fs::write(
        root.join("etc/modules-load.d/rprobe-test.conf"),
        TEST_MODULES_LOAD,
    )
    .expect("modules-load.d");
    mkinitramfs(&root, v, "with rprobe as kmod");
    // mkinitramfs copied /usr/bin/kmod (rprobe) into the image as the early-boot modprobe.
    let unpacked = unpack_initrd(&root, v, "initrd");
    let in_image = std::fs::read(unpacked.join("usr/bin/kmod")).expect("kmod in image");
    assert!(
        in_image == std::fs::read(&rp).expect("read rprobe"),
        "the initramfs's kmod is not rprobe"
    );
    std::fs::remove_dir_all(&unpacked).expect("rm");

    add_check_service(&root, "rprobe-check");
    let initrd = tmp.path().join("initrd.img");
    std::fs::rename(root.join(format!("boot/initrd.img-{v}")), &initrd).expect("move initrd");
    let disk_kmod = tmp.path().join("disk-kmod.img");
    make_disk(&root, &disk_kmod);
    // The same root with rprobe's library in the file kmod's SONAME link names.
    std::fs::copy(&ours, &lib_file).expect("install rprobe's library");
    let disk_ours = tmp.path().join("disk-rprobe.img");
    make_disk(&root, &disk_ours);
    std::fs::remove_dir_all(&root).expect("rm root");

    let kmod = boot_disk("kmod's libkmod", "bookworm", &tree, &initrd, &disk_kmod);
    std::fs::remove_file(&disk_kmod).expect("rm disk");
    kmod.require(&CHECKS);
    let ours_run = boot_disk("rprobe's libkmod", "bookworm", &tree, &initrd, &disk_ours);
    ours_run.require(&CHECKS);

    for (run, sum) in [(&kmod, &kmod_lib_sum), (&ours_run, &ours_sum)] {
        let mapped = run.tagged("LIBKMOD");
        eprintln!(
            "{}: {} modules loaded once settled, {} ever loaded, {} by udevd at hotplug, \
             {} kmod builtin lines; mapped: {mapped:?}",
            run.what,
            run.tagged("LOADED").len(),
            run.tagged("LOADEV").len(),
            run.tagged("HOTPLUG").len(),
            run.tagged_lines("BUILTIN-sys").len(),
        );
        // PID 1 and udevd, each with the library file and its checksum.
        let comms: BTreeSet<&str> = mapped
            .iter()
            .filter_map(|m| m.split_whitespace().next())
            .collect();
        assert_eq!(
            comms,
            BTreeSet::from(["systemd", "systemd-udevd"]),
            "{}: {mapped:?}",
            run.what
        );
        for m in &mapped {
            let w: Vec<&str> = m.split_whitespace().collect();
            assert!(
                w.len() == 3 && w[1] == format!("/{LIBKMOD_FILE}") && w[2] == sum.as_str(),
                "{}: mapped library {m}, expected /{LIBKMOD_FILE} with sha256 {sum}",
                run.what
            );
        }
    }

    // Facts of the first boot (kmod's library), which make the comparisons below mean
    // something: systemd-modules-load inserted the listed modules itself, udevd loaded the
    // disk driver at hotplug, and the builtin's explicit loads loaded modules.
    let modload = kmod.tagged_lines("MODLOAD");
    for m in ["dummy", "bonding"] {
        assert!(
            modload.contains(&format!("Inserted module '{m}'")),
            "kmod's boot: systemd-modules-load did not insert {m}: {modload:?}"
        );
    }
    assert!(
        kmod.tagged("HOTPLUG").contains("sd_mod"),
        "kmod's boot: udevd did not load sd_mod: {:?}",
        kmod.tagged("HOTPLUG")
    );
    let loaded_by_builtin: BTreeSet<String> = kmod
        .tagged_lines("BUILTIN-kmod")
        .iter()
        .filter_map(|l| l.strip_prefix("+ ").map(str::to_string))
        .collect();
    for m in ["uhci_hcd", "ehci_hcd", "vfat", "fat"] {
        assert!(
            loaded_by_builtin.contains(m),
            "kmod's boot: the kmod builtin did not load {m}: {loaded_by_builtin:?}"
        );
    }
    assert!(
        !loaded_by_builtin.contains("romfs"),
        "kmod's boot: the builtin loaded the blacklisted romfs"
    );
    assert!(
        kmod.tagged_lines("BUILTIN-kmod")
            .contains(&"install command: ran".to_string()),
        "kmod's boot: the builtin did not run minix's install command"
    );
    assert!(
        kmod.tagged("LOADED").len() > 10,
        "kmod's boot loaded few modules"
    );

    let mut diffs = Vec::new();
    for (tag, what) in [
        ("LOADED", "loaded once settled (/proc/modules)"),
        ("LOADEV", "loaded at some point (module_load events)"),
        ("HOTPLUG", "loaded by udevd for the disk added at run time"),
    ] {
        let (a, b) = (kmod.tagged(tag), ours_run.tagged(tag));
        for x in a.difference(&b) {
            diffs.push(format!("{what}: only with kmod's library: {x}"));
        }
        for x in b.difference(&a) {
            diffs.push(format!("{what}: only with rprobe's library: {x}"));
        }
    }
    for (tag, what) in [
        ("MODLOAD", "what systemd-modules-load logged"),
        ("BUILTIN-sys", "the kmod builtin with the system's library"),
    ] {
        let (a, b) = (kmod.tagged_lines(tag), ours_run.tagged_lines(tag));
        if a != b {
            diffs.push(format!(
                "{what}:\nwith kmod's library:\n{}\nwith rprobe's library:\n{}",
                a.join("\n"),
                b.join("\n")
            ));
        }
    }
    // In rprobe's boot, the builtin with kmod's library (LD_LIBRARY_PATH) printed and loaded
    // what it did with rprobe's (the check builtin_like_kmod compared them there too).
    let (k, r) = (
        ours_run.tagged_lines("BUILTIN-kmod"),
        ours_run.tagged_lines("BUILTIN-sys"),
    );
    if k != r {
        diffs.push(format!(
            "the kmod builtin in rprobe's boot:\nkmod's library:\n{}\nrprobe's library:\n{}",
            k.join("\n"),
            r.join("\n")
        ));
    }
    assert!(diffs.is_empty(), "the boots differ:\n{}", diffs.join("\n"));
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
