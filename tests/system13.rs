//! The system tier on Debian 13 (trixie, kmod 34.2): debootstrap's trixie root (from
//! `scripts/fetch-rootfs trixie`) with Debian 13's own 6.12 kernel package (flavour k612t),
//! and rprobe installed the way a user would: its Debian package (`scripts/build-deb`, the
//! static binary built to behave as kmod 34 by default, $RPROBE_STATIC_BIN_34) and
//! `rprobe-switch on`, which diverts every one of kmod's tool paths to rprobe.
//!
//! Debian 13's mkinitramfs copies modules with dracut-install (libkmod, over the indexes the
//! tool's depmod wrote), runs the tool's `depmod -b` on the image and ships `kmod` with its
//! modprobe and rmmod links: it must build the same image with either tool. The booted
//! system (systemd 257: kmod-static-nodes, modprobe@ units, the kernel's request_module
//! through /sbin/modprobe, the initramfs's modprobe) must come up with no failed unit and
//! load the same modules as the same system with kmod's own tools.
//!
//! Every command in the root runs with a cleared environment: the test process carries
//! RPROBE_KMOD=30 (.cargo/config.toml), and the root's rprobe must behave as its build
//! default, kmod 34, as it does on a real Debian 13 system.

use std::path::{Path, PathBuf};
use std::process::Command;

use rprobe_testkit::{real_required, real_tree, trixie_rootfs, vm, RealTree};

use crate::system::{add_check_service, boot_disk, image_tree, make_disk, sh, Node, Run};

/// `chroot ROOT env -i PATH=… LC_ALL=C ARGS…`: a command in the root, with the environment
/// a root shell there would have (none of the test's, RPROBE_KMOD included).
fn in_root(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("chroot");
    c.arg(root)
        .args([
            "env",
            "-i",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL=C",
        ])
        .args(args)
        .env_remove("RPROBE_KMOD");
    c
}

fn skip(what: &str) {
    assert!(!real_required(), "system tier (Debian 13): {what} missing");
    eprintln!("SKIPPED: {what} missing");
}

/// What a Debian 13 system test needs: Debian 13's 6.12 tree, the trixie root, the kmod-34
/// static rprobe and the programs named; None (skipped, or a failure when real inputs are
/// required) otherwise.
fn inputs(programs: &[&str]) -> Option<(RealTree, PathBuf, PathBuf)> {
    let tree = real_tree("k612t")?;
    let tar = trixie_rootfs()?;
    let Some(rp) = vm::static_rprobe_34() else {
        skip("RPROBE_STATIC_BIN_34 (RPROBE_KMOD_DEFAULT=34 scripts/build-static)");
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

/// Unpacks the trixie root into `root` with the kernel package's modules (usr/lib/modules,
/// where Debian 13's package installs them) and boot files, as for Debian 12's root; its
/// kmod must be 34.
fn unpack_root(tar: &Path, tree: &RealTree, root: &Path) {
    crate::system::unpack_root(tar, tree, root);
    let v = sh(
        "kmod --version in the root",
        &mut in_root(root, &["kmod", "--version"]),
    );
    assert!(
        v.starts_with("kmod version 34"),
        "the trixie root's kmod: {v}"
    );
}

/// rprobe's libkmod.so.2 as a package for Debian 13 ships it (kmod 34 by default):
/// $RPROBE_LIBKMOD_34 (scripts/test builds it), else built here.
fn libkmod_34() -> PathBuf {
    if let Some(p) = std::env::var_os("RPROBE_LIBKMOD_34") {
        return PathBuf::from(p);
    }
    let out = sh(
        "RPROBE_KMOD_DEFAULT=34 scripts/build-libkmod",
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-libkmod"))
            .env("RPROBE_KMOD_DEFAULT", "34"),
    );
    PathBuf::from(out.lines().last().unwrap_or_default().trim())
}

/// rprobe's Debian package around `bin` and the kmod 34 library, written into `out`;
/// returns its path.
fn build_deb(bin: &Path, out: &Path) -> PathBuf {
    let deb = sh(
        "scripts/build-deb",
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-deb"))
            .arg("--bin")
            .arg(bin)
            .arg("--lib")
            .arg(libkmod_34())
            .arg("--out")
            .arg(out),
    );
    PathBuf::from(deb.trim())
}

/// The root's depmod given an option kmod 34 removed: (exit status, stderr). kmod 30 warned
/// and went on; kmod 34.2 (and rprobe as kmod 34) refuses it.
fn depmod_q(root: &Path) -> (Option<i32>, String) {
    let o = in_root(root, &["depmod", "-q", "0.0.0-none"])
        .output()
        .expect("depmod -q");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Installs rprobe's package into the root and switches every kmod tool path to it, as
/// `dpkg -i` and `rprobe-switch on` do on a Debian 13 machine; checks the root's tools are
/// rprobe then, behaving as kmod 34 (its build default, with no RPROBE_KMOD set).
fn switch_to_rprobe(root: &Path, deb: &Path) {
    let kmod_q = depmod_q(root);
    std::fs::copy(deb, root.join("tmp/rprobe.deb")).expect("copy the package");
    sh(
        "dpkg -i rprobe.deb",
        &mut in_root(root, &["dpkg", "-i", "/tmp/rprobe.deb"]),
    );
    std::fs::remove_file(root.join("tmp/rprobe.deb")).expect("rm");
    sh(
        "rprobe-switch on",
        &mut in_root(root, &["rprobe-switch", "on"]),
    );
    for tool in ["modprobe", "depmod", "kmod", "modinfo"] {
        let v = sh(
            "--version in the root",
            &mut in_root(root, &[tool, "--version"]),
        );
        assert!(v.starts_with("rprobe"), "{tool} after switching: {v}");
    }
    assert_eq!(
        depmod_q(root),
        kmod_q,
        "depmod -q: rprobe in the root does not behave as kmod 34 (its build default)"
    );
}

/// Debian's mkinitramfs in the root (with /proc and /dev, as it expects, in a private mount
/// namespace), writing /boot/initrd.img-VERSION; returns what it printed on stderr.
fn mkinitramfs(root: &Path, version: &str, what: &str) -> String {
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t proc proc \"$0/proc\" && mount --bind /dev \"$0/dev\" && \
             chroot \"$0\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C \
             mkinitramfs -o /boot/initrd.img-\"$1\" \"$1\"",
        )
        .arg(root)
        .arg(version)
        .env_remove("RPROBE_KMOD")
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
/// /tmp/NAME; returns the host path of the unpacked main archive.
fn unpack_initrd(root: &Path, version: &str, name: &str) -> PathBuf {
    sh(
        "unmkinitramfs",
        &mut in_root(
            root,
            &[
                "unmkinitramfs",
                &format!("/boot/initrd.img-{version}"),
                &format!("/tmp/{name}"),
            ],
        ),
    );
    let dir = root.join("tmp").join(name);
    // With an early (microcode) archive in front, the main one is in main/.
    if dir.join("main").is_dir() {
        dir.join("main")
    } else {
        dir
    }
}

/// The module index files of the root's module directory, with their bytes.
fn indexes(root: &Path, version: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root.join("usr/lib/modules").join(version);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("module directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("modules."))
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).expect("read index");
            (n, b)
        })
        .collect();
    v.sort();
    v
}

/// The paths through which an image holds the module tools: kmod's binary and the links
/// initramfs-tools copies (hooks/kmod, mkinitramfs's copy_exec of /sbin/modprobe, rmmod).
/// With rprobe switched in, they are links to /usr/sbin/rprobe, which the image then holds.
const TOOL_PATHS: [&str; 3] = ["usr/bin/kmod", "usr/sbin/modprobe", "usr/sbin/rmmod"];

/// Debian 13's mkinitramfs run once with kmod 34.2 and once with rprobe switched in (its
/// package, rprobe-switch on) builds the same image: every module (chosen by dracut-install
/// through libkmod over the indexes the tool's depmod wrote), every modules.* index (written
/// by the tool's `depmod -b` inside mkinitramfs), firmware, scripts, configuration and
/// libraries, and prints the same messages. The only differences allowed are the tool paths
/// (kmod's binary and its links, rprobe's binary and links to it) and libraries only kmod's
/// binary brought in; the image's tools must then run rprobe.
#[test]
fn mkinitramfs_trixie_same_image_with_kmod_and_rprobe() {
    let Some((tree, tar, rp)) = inputs(&["unshare", "chroot", "dpkg-deb"]) else {
        return;
    };
    let v = &tree.version;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    unpack_root(&tar, &tree, &root);
    let deb = build_deb(&rp, tmp.path());

    // kmod's libraries, by file name (the image may hold them under another directory).
    // kmod 34.2's binary carries libkmod inside it; it links libc, libcrypto, libz, libzstd
    // (and dlopen()s liblzma).
    let ldd = sh("ldd kmod", &mut in_root(&root, &["ldd", "/usr/bin/kmod"]));
    let kmod_libs: Vec<String> = ldd
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|l| l.rsplit('/').next().map(str::to_string))
        .collect();
    assert!(kmod_libs.iter().any(|l| l.starts_with("libc.so")), "{ldd}");

    sh("kmod's depmod", &mut in_root(&root, &["depmod", v]));
    let kmod_indexes = indexes(&root, v);
    let kmod_err = mkinitramfs(&root, v, "with kmod");
    let a = image_tree(&unpack_initrd(&root, v, "with-kmod"));

    switch_to_rprobe(&root, &deb);
    sh("rprobe's depmod", &mut in_root(&root, &["depmod", v]));
    let rprobe_indexes = indexes(&root, v);
    let names = |x: &[(String, Vec<u8>)]| x.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&rprobe_indexes), names(&kmod_indexes), "index files");
    for ((n, x), (_, y)) in kmod_indexes.iter().zip(&rprobe_indexes) {
        assert!(
            x == y,
            "{n} differs between kmod 34.2's depmod and rprobe's"
        );
    }
    let rprobe_err = mkinitramfs(&root, v, "with rprobe as kmod");
    let unpacked = unpack_initrd(&root, v, "with-rprobe");
    let b = image_tree(&unpacked);

    assert_eq!(kmod_err, rprobe_err, "mkinitramfs's messages differ");
    let is_kmod_lib = |p: &str, n: &Node| {
        let base = p.rsplit('/').next().unwrap_or(p);
        kmod_libs.iter().any(|l| l == base)
            || matches!(n, Node::Link(t) if kmod_libs.iter().any(|l| t.ends_with(l)))
    };
    let modules = a.keys().filter(|p| p.contains(".ko")).count();
    let indexes = a.keys().filter(|p| p.contains("/modules.")).count();
    assert!(
        modules > 100 && indexes >= 10,
        "{modules} modules, {indexes} indexes"
    );
    // Switched, the system's libkmod.so.2 is rprobe's: the image's udev carries it (the
    // files named libkmod.so.2*, and the link's target under /usr/lib/rprobe), with what
    // it links that kmod's does not (libgcc_s) and the linker cache that lists it.
    let ours = Node::File(std::fs::read(libkmod_34()).expect("read rprobe's libkmod"));
    let is_our_lib = |p: &str| {
        let base = p.rsplit('/').next().unwrap_or(p);
        base.starts_with("libkmod.so.2")
            && b.get(p)
                .is_some_and(|n| *n == ours || matches!(n, Node::Link(_)))
    };
    assert!(
        b.iter()
            .any(|(p, n)| p.ends_with("libkmod.so.2") && *n == ours)
            || b.get("usr/lib/rprobe/libkmod.so.2") == Some(&ours),
        "the image built on the switched system carries rprobe's libkmod.so.2"
    );
    let mut diffs = Vec::new();
    for (p, n) in &a {
        match b.get(p) {
            None if is_kmod_lib(p, n) => {}
            None => diffs.push(format!("only with kmod: {p}")),
            Some(m) if m == n => {}
            Some(_) if TOOL_PATHS.contains(&p.as_str()) => {}
            Some(_) if is_our_lib(p) || p == "etc/ld.so.cache" => {}
            Some(_) => diffs.push(format!("differs: {p}")),
        }
    }
    for p in b.keys().filter(|p| !a.contains_key(*p)) {
        let ours_too = p == "usr/lib/rprobe" || is_our_lib(p) || p.ends_with("/libgcc_s.so.1");
        if p != "usr/sbin/rprobe" && !ours_too {
            diffs.push(format!("only with rprobe: {p}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences between the images ({modules} modules, {indexes} indexes):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // The image's tools are rprobe, reached inside the image (links that resolve there).
    assert_eq!(
        b.get("usr/sbin/rprobe"),
        Some(&Node::File(std::fs::read(&rp).expect("read rprobe"))),
        "the image's rprobe is the packaged binary"
    );
    for tool in [
        "/usr/sbin/modprobe",
        "/usr/sbin/rmmod",
        "/usr/bin/kmod",
        "/sbin/modprobe",
    ] {
        let out = sh(
            "a tool in the image",
            Command::new("chroot")
                .arg(&unpacked)
                .args([tool, "--version"])
                .env_remove("RPROBE_KMOD"),
        );
        assert!(out.starts_with("rprobe"), "{tool} in the image: {out}");
    }
}

/// Boots the disk image with the initramfs on Debian 13's kernel; the check script prints
/// its lines and powers off.
fn boot(what: &'static str, tree: &RealTree, initrd: &Path, disk: &Path) -> Run {
    let run = boot_disk(what, "trixie", tree, initrd, disk);
    eprintln!(
        "{what}: {} modules loaded once settled, {} ever loaded, {} asked of modprobe by \
         the kernel, {} modprobe@ units",
        run.tagged("LOADED").len(),
        run.tagged("LOADEV").len(),
        run.tagged("REQUEST").len(),
        run.tagged("UNIT").len()
    );
    run
}

/// Debian 13 booted on its own 6.12 kernel twice, from the same root: with kmod 34.2's
/// tools, then with rprobe's package installed and switched in (so the initramfs's modprobe,
/// systemd's `kmod static-nodes` and modprobe@ units, and the kernel's request_module run
/// rprobe). Both reach multi-user with no failed unit; once the kernel's and udev's
/// asynchronous loads have settled, both boots have loaded the same modules (/proc/modules
/// and every module_load trace event since boot), the kernel asked modprobe for the same
/// names (module_request events) and the modprobe@ units ended alike. With rprobe, its
/// answers on the running kernel are also kmod's (static nodes, lsmod, --show-depends).
#[test]
fn vm_612_trixie_system_with_rprobe_loads_what_kmod_loads() {
    let Some((tree, tar, rp)) = inputs(&[
        "mkfs.ext4",
        "unshare",
        "chroot",
        "dpkg-deb",
        "qemu-system-x86_64",
    ]) else {
        return;
    };
    let v = &tree.version;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    unpack_root(&tar, &tree, &root);
    let deb = build_deb(&rp, tmp.path());
    add_check_service(&root, "trixie-check");

    // With kmod's own tools, as debootstrap left them.
    sh("kmod's depmod", &mut in_root(&root, &["depmod", v]));
    mkinitramfs(&root, v, "with kmod");
    let initrd_kmod = tmp.path().join("initrd-kmod.img");
    std::fs::rename(root.join(format!("boot/initrd.img-{v}")), &initrd_kmod).expect("move");
    let disk_kmod = tmp.path().join("disk-kmod.img");
    make_disk(&root, &disk_kmod);

    // With rprobe switched in; kmod's binary stays reachable for the side-by-side checks
    // (dpkg-divert renamed it to /usr/bin/kmod.kmod; kmod picks its tool by its name).
    switch_to_rprobe(&root, &deb);
    let real = root.join("usr/local/lib/kmod-real");
    std::fs::create_dir_all(&real).expect("mkdir");
    for t in ["kmod", "lsmod", "modprobe"] {
        std::os::unix::fs::symlink("/usr/bin/kmod.kmod", real.join(t)).expect("link");
    }
    sh("rprobe's depmod", &mut in_root(&root, &["depmod", v]));
    mkinitramfs(&root, v, "with rprobe as kmod");
    let initrd_rprobe = tmp.path().join("initrd-rprobe.img");
    std::fs::rename(root.join(format!("boot/initrd.img-{v}")), &initrd_rprobe).expect("move");
    let disk_rprobe = tmp.path().join("disk-rprobe.img");
    make_disk(&root, &disk_rprobe);
    std::fs::remove_dir_all(&root).expect("rm root");

    let common = [
        "system_state",
        "no_failed_units",
        "modules_settled",
        "trace_read",
        "static_nodes_service",
        "request_module",
        "load_and_remove",
    ];
    let kmod = boot("kmod 34.2", &tree, &initrd_kmod, &disk_kmod);
    std::fs::remove_file(&disk_kmod).expect("rm disk");
    kmod.require(&common);
    assert!(
        kmod.tagged("TOOL")
            .iter()
            .any(|t| t.starts_with("kmod version 34")),
        "the baseline boot's modprobe: {:?}",
        kmod.tagged("TOOL")
    );

    let rprobe = boot("rprobe", &tree, &initrd_rprobe, &disk_rprobe);
    rprobe.require(&common);
    rprobe.require(&[
        "modprobe_is_rprobe",
        "static_nodes_like_kmod",
        "lsmod_like_kmod",
        "show_depends_like_kmod",
    ]);

    let mut diffs = Vec::new();
    for (tag, what) in [
        ("LOADED", "loaded once settled (/proc/modules)"),
        ("LOADEV", "loaded at some point (module_load events)"),
        (
            "REQUEST",
            "asked of modprobe by the kernel (module_request events)",
        ),
        ("UNIT", "modprobe@ units (result, status)"),
    ] {
        let (mut a, mut b) = (kmod.tagged(tag), rprobe.tagged(tag));
        if tag == "REQUEST" {
            // The crypto API asks for algorithm modules ("crypto-ctr(aes)-all") from its
            // asynchronous self-tests, so whether a boot sees one depends on timing, not on
            // the tool (seen once in kmod's boot only, with the same modules loaded in
            // both); what the tools load is compared exactly above and below.
            a.retain(|r| !r.starts_with("crypto-"));
            b.retain(|r| !r.starts_with("crypto-"));
        }
        if tag == "LOADED" {
            assert!(a.len() > 10, "kmod's boot loaded {} modules", a.len());
        }
        for x in a.difference(&b) {
            diffs.push(format!("{what}: only with kmod: {x}"));
        }
        for x in b.difference(&a) {
            diffs.push(format!("{what}: only with rprobe: {x}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "the boots differ:\n{}\njournal with kmod:\n{}\njournal with rprobe:\n{}",
        diffs.join("\n"),
        kmod.tagged_lines("JOURNAL").join("\n"),
        rprobe.tagged_lines("JOURNAL").join("\n"),
    );
}
