//! The VM tier: real Debian kernels booted under qemu (TCG) with an initramfs built by
//! rprobe's own cpio writer, holding a static rprobe (as modprobe, insmod, rmmod, lsmod),
//! busybox as the shell, a closure of modules with indexes written by rprobe's depmod, and
//! fixtures/vm/init.sh, which runs the load/remove scenarios and prints one result line
//! each. Every expected line is asserted.

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
    let o = run(
        &rprobe(),
        [
            "depmod".as_ref(),
            "-b".as_ref(),
            full.path().as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            tree.version.as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let moddir = full.path().join("lib/modules").join(&tree.version);
    let dir = ModuleDir::open(&moddir).expect("module dir");
    let cfg = Config::load(Some(std::slice::from_ref(&conf)), Some(&moddir), None);
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
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        std::fs::copy(moddir.join(f), subdir.join(f)).expect("copy");
    }
    let o = run(
        &rprobe(),
        [
            "depmod".as_ref(),
            "-b".as_ref(),
            sub.path().as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            tree.version.as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

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
    a.to_bytes()
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
