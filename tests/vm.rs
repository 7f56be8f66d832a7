//! The VM tier: real Debian kernels booted under qemu (TCG) with an initramfs built by
//! rprobe's own cpio writer, holding a static rprobe (as modprobe, insmod, rmmod, lsmod),
//! busybox as the shell, a closure of modules with indexes written by rprobe's depmod, and
//! fixtures/vm/init.sh, which runs the load/remove scenarios and prints one result line
//! each. Every expected line is asserted.

use rprobe_index::generation::Generation;
use std::path::Path;
use std::time::Duration;

use rprobe_index::index::ModuleDir;
use rprobe_initramfs::cpio::{Archive, Entry};
use rprobe_resolve::{Config, Resolver};
use rprobe_testkit::{real_required, real_tree, vm};

use crate::util::*;

const MODULES: [&str; 7] = ["ext4", "brd", "dummy", "xfs", "veth", "nlmon", "crc32c"];

fn need<T>(what: &str, v: Option<T>) -> Option<T> {
    if v.is_none() {
        assert!(!real_required(), "VM tier: {what} missing");
        eprintln!("SKIPPED: {what} missing");
    }
    v
}

/// Builds the image for a tree; returns its bytes.
fn image(tree: &rprobe_testkit::RealTree, rprobe_static: &Path, busybox: &Path) -> Vec<u8> {
    // The closure, resolved by rprobe over indexes rprobe's depmod wrote for the whole tree.
    let full = link_tree(tree);
    let conf = empty_conf(full.path());
    rprobe_depmod(full.path(), &conf, &tree.version);
    let moddir = full.path().join("lib/modules").join(&tree.version);
    let dir = ModuleDir::open(&moddir).expect("module dir");
    let cfg = Config::load(
        Generation::Kmod30,
        Some(std::slice::from_ref(&conf)),
        Some(&moddir),
        None,
    );
    let r = Resolver {
        dir: &dir,
        config: &cfg,
    };
    let names: Vec<String> = MODULES
        .iter()
        .map(|s| s.to_string())
        .chain(["rtnl-link-veth".into()])
        .collect();
    let closure = r.closure(&names).expect("closure");
    assert!(closure.len() >= 8, "closure {closure:?}");

    // The subset tree, indexed by rprobe's depmod.
    let sub = tempfile::tempdir().expect("tempdir");
    let subdir = sub.path().join("lib/modules").join(&tree.version);
    std::fs::create_dir_all(&subdir).expect("mkdir");
    for m in &closure {
        let Some(p) = &m.path else { continue };
        let rel = p.strip_prefix(&moddir).expect("under the module dir");
        std::fs::create_dir_all(subdir.join(rel).parent().expect("parent")).expect("mkdir");
        std::fs::copy(p, subdir.join(rel)).expect("copy module");
    }
    for f in rprobe_testkit::PACKAGE_FILES {
        std::fs::copy(moddir.join(f), subdir.join(f)).expect("copy");
    }
    rprobe_depmod(sub.path(), &conf, &tree.version);

    let mut a = Archive::new(0);
    for e in walkdir::WalkDir::new(sub.path()).min_depth(1) {
        let e = e.expect("walk");
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(sub.path())
                .expect("rel")
                .to_string_lossy()
                .into_owned();
            a.add_path(e.path(), &rel).expect("add");
        }
    }
    a.add_path(busybox, "bin/busybox").expect("busybox");
    a.add(Entry::symlink("bin/sh", "busybox"));
    a.add_path(rprobe_static, "sbin/rprobe").expect("rprobe");
    for t in ["modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo"] {
        a.add(Entry::symlink(&format!("sbin/{t}"), "rprobe"));
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vm");
    a.add(Entry::file(
        "etc/modprobe.d/test.conf",
        std::fs::read(fixtures.join("modprobe.conf")).expect("conf"),
        0o644,
    ));
    a.add(Entry::file(
        "init",
        std::fs::read(fixtures.join("init.sh")).expect("init"),
        0o755,
    ));
    for d in ["proc", "sys", "tmp", "dev"] {
        a.add(Entry::dir(d));
    }
    a.to_bytes().expect("image")
}

fn vm_tier(flavour: &'static str, expect: &[&str]) {
    let Some(tree) = real_tree(flavour) else {
        return;
    };
    let Some(rp) = need(
        "RPROBE_STATIC_BIN (scripts/build-static)",
        vm::static_rprobe(),
    ) else {
        return;
    };
    let Some(bb) = need("busybox-static", vm::busybox()) else {
        return;
    };
    let img = image(&tree, &rp, &bb);
    let tmp = tempfile::tempdir().expect("tempdir");
    let initrd = tmp.path().join("initrd.cpio");
    std::fs::write(&initrd, img).expect("write image");
    let boot = vm::boot(&tree.vmlinuz(), &initrd, "", Duration::from_secs(240)).expect("qemu runs");
    let results = boot.results();
    let tail = boot.tail(40);
    assert!(
        boot.console.contains("VM-END"),
        "{flavour}: the init did not finish (timeout: {}):\n{tail}",
        !boot.finished
    );
    for name in expect {
        match results.iter().find(|(n, _, _)| n == name) {
            Some((_, true, _)) => {}
            Some((_, false, d)) => panic!("{flavour}: scenario {name} failed: {d}\n{tail}"),
            None => panic!("{flavour}: scenario {name} printed no result\n{tail}"),
        }
    }
}

const COMMON: [&str; 14] = [
    "ext4_with_deps",
    "ext4_again",
    "brd_params",
    "dummy_options",
    "alias_fs_xfs",
    "blacklist_alias",
    "install_command",
    "remove_with_deps",
    "in_use_refused",
    "remove_holders",
    "insmod_missing_deps",
    "not_found",
    "dry_run_loads_nothing",
    "lsmod_matches",
];

#[test]
fn vm_61_plain_modules() {
    vm_tier("k61", &COMMON);
}

#[test]
fn vm_612_xz_modules() {
    let mut e: Vec<&str> = COMMON.to_vec();
    e.extend(["in_kernel_decompress", "userspace_decompress"]);
    vm_tier("k612", &e);
}

/// The whole tree (indexed by rprobe's depmod), busybox, the static rprobe (as modprobe,
/// rmmod, lsmod) and kmod's own tools with their libraries under /kmod, with `init` as
/// /init: so the same VM runs both tools on the same modules.
fn full_image(
    tree: &rprobe_testkit::RealTree,
    rprobe_static: &Path,
    busybox: &Path,
    init: &str,
) -> Vec<u8> {
    let full = link_tree(tree);
    let conf = empty_conf(full.path());
    rprobe_depmod(full.path(), &conf, &tree.version);
    let moddir = full.path().join("lib/modules").join(&tree.version);
    let mut a = Archive::new(0);
    for e in walkdir::WalkDir::new(&moddir).min_depth(1) {
        let e = e.expect("walk");
        let name = e.file_name().to_string_lossy();
        if e.file_type().is_file() && !name.starts_with('.') {
            let rel = e
                .path()
                .strip_prefix(full.path())
                .expect("rel")
                .to_string_lossy()
                .into_owned();
            a.add_path(e.path(), &rel).expect("add");
        }
    }
    a.add_path(busybox, "bin/busybox").expect("busybox");
    a.add(Entry::symlink("bin/sh", "busybox"));
    a.add_path(rprobe_static, "sbin/rprobe").expect("rprobe");
    for t in ["modprobe", "insmod", "rmmod", "lsmod", "depmod", "modinfo"] {
        a.add(Entry::symlink(&format!("sbin/{t}"), "rprobe"));
    }
    // kmod, with the shared libraries it needs (ldd), called as modprobe from /kmod.
    let kmod_bin = std::fs::canonicalize(kmod("kmod")).expect("kmod");
    a.add_path(&kmod_bin, "usr/bin/kmod").expect("kmod");
    let ldd = run(Path::new("/usr/bin/ldd"), [&kmod_bin]);
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let lib = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(std::path::PathBuf::from);
        if let Some(lib) = lib {
            let real = std::fs::canonicalize(&lib).expect("library");
            let dest = lib.to_string_lossy().trim_start_matches('/').to_string();
            a.add_path(&real, &dest).expect("library");
        }
    }
    for t in ["modprobe", "rmmod", "lsmod"] {
        a.add(Entry::symlink(&format!("kmod/{t}"), "/usr/bin/kmod"));
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vm");
    a.add(Entry::file(
        "init",
        std::fs::read(fixtures.join(init)).expect("init"),
        0o755,
    ));
    for d in ["proc", "sys", "tmp", "dev", "etc/modprobe.d"] {
        a.add(Entry::dir(d));
    }
    a.to_bytes().expect("image")
}

/// qemu arguments for the parallel tier: two CPUs and devices for coldplug to find (an
/// e1000 and a virtio NIC on user networking, AHCI, HD audio, xHCI, a virtio RNG).
const PARALLEL_QEMU: [&str; 18] = [
    "-m",
    "2048",
    "-smp",
    "2",
    "-netdev",
    "user,id=n0",
    "-device",
    "e1000,netdev=n0",
    "-netdev",
    "user,id=n1",
    "-device",
    "virtio-net-pci,netdev=n1",
    "-device",
    "ahci,id=ahci0",
    "-device",
    "intel-hda",
    "-device",
    "hda-duplex",
];

/// Boots the parallel tier's image; `append` goes on the kernel command line.
pub fn parallel_boot(append: &str, timeout: Duration) -> Option<vm::Boot> {
    let tree = real_tree("k612")?;
    let rp = need(
        "RPROBE_STATIC_BIN (scripts/build-static)",
        vm::static_rprobe(),
    )?;
    let bb = need("busybox-static", vm::busybox())?;
    let img = full_image(&tree, &rp, &bb, "parallel.sh");
    let tmp = tempfile::tempdir().expect("tempdir");
    let initrd = tmp.path().join("initrd.cpio");
    std::fs::write(&initrd, img).expect("write image");
    let mut extra: Vec<&str> = PARALLEL_QEMU.to_vec();
    extra.extend(["-device", "qemu-xhci", "-device", "virtio-rng-pci"]);
    Some(vm::boot_with(&tree.vmlinuz(), &initrd, append, timeout, &extra).expect("qemu runs"))
}

#[test]
fn vm_612_parallel_loading_and_coldplug() {
    let Some(boot) = parallel_boot("", Duration::from_secs(600)) else {
        return;
    };
    // For a look at a boot that passed: RPROBE_CONSOLE_DIR=DIR keeps the console there.
    if let Some(dir) = std::env::var_os("RPROBE_CONSOLE_DIR") {
        let _ = std::fs::write(Path::new(&dir).join("parallel.console"), &boot.console);
    }
    let tail = boot.tail(60);
    assert!(
        boot.console.contains("VM-END"),
        "the init did not finish (timeout: {}):\n{tail}",
        !boot.finished
    );
    assert!(boot.console.contains("cpus=2"), "two CPUs:\n{tail}");
    let results = boot.results();
    for name in [
        "unload_works",
        "serial_same_set",
        "parallel_same_set",
        "coldplug_same_set",
        "failure_isolated",
        "remove_like_kmod",
    ] {
        match results.iter().find(|(n, _, _)| n == name) {
            Some((_, true, _)) => {}
            Some((_, false, d)) => panic!("scenario {name} failed: {d}\n{tail}"),
            None => panic!("scenario {name} printed no result\n{tail}"),
        }
    }
}

/// The benchmark behind docs/benchmarks.md (scripts/bench-load runs it): not a test.
#[test]
#[ignore]
fn vm_612_parallel_bench() {
    let rounds = std::env::var("RPROBE_BENCH_ROUNDS").unwrap_or_else(|_| "5".into());
    let Some(boot) = parallel_boot(&format!("bench={rounds}"), Duration::from_secs(1800)) else {
        return;
    };
    for l in boot
        .console
        .lines()
        .filter(|l| l.contains("BENCH") || l.contains("VM-START"))
    {
        println!("{}", l.trim_end_matches('\r'));
    }
    assert!(boot.console.contains("VM-END"), "{}", boot.tail(40));
}
