//! `rprobe initramfs` on the real 6.12 tree: reproducible bytes, GNU cpio agrees with
//! --list, the image's indexes are what depmod (rprobe's and kmod's) writes for the
//! subset, the closure equals what kmod's modprobe --show-depends lists, and the image
//! boots under qemu and loads every requested module.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rprobe_testkit::{real_required, real_tree, vm};

use crate::util::*;

const NAMES: [&str; 8] = [
    "ext4",
    "xfs",
    "btrfs",
    "nvme",
    "ahci",
    "virtio_blk",
    "virtio_net",
    "usb-storage",
];

fn build(root: &Path, version: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let conf = empty_conf(root);
    let mut args: Vec<String> = vec![
        "initramfs".into(),
        "-k".into(),
        version.into(),
        "-b".into(),
        root.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "-C".into(),
        conf.display().to_string(),
        "--firmware-dir".into(),
        root.join("no-firmware").display().to_string(),
    ];
    for n in NAMES {
        args.push("--module".into());
        args.push(n.into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = run(&rprobe(), &args);
    assert_no_panic(&o, "initramfs");
    assert!(
        o.status.success(),
        "rprobe initramfs: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn list(img: &Path) -> Vec<String> {
    let o = run(
        &rprobe(),
        ["initramfs".as_ref(), "--list".as_ref(), img.as_os_str()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn cpio_list(plain: &Path) -> Vec<String> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("cpio -t --quiet < '{}'", plain.display()))
        .output()
        .expect("cpio");
    assert!(
        o.status.success(),
        "cpio -t: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn reproducible_listed_and_indexed_like_depmod() {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    let root = tmp.path();
    kmod_depmod(root, &tree.version);
    let out = tempfile::tempdir().expect("tempdir");
    for c in ["zstd", "gzip", "xz", "none"] {
        let a = out.path().join(format!("a.{c}"));
        let b = out.path().join(format!("b.{c}"));
        build(root, &tree.version, &a, &["--compress", c]);
        build(root, &tree.version, &b, &["--compress", c]);
        assert!(
            std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"),
            "{c}: two builds differ"
        );
    }
    // GNU cpio lists what --list lists.
    let plain = out.path().join("a.none");
    assert_eq!(cpio_list(&plain), list(&plain));
    assert_eq!(list(&out.path().join("a.zstd")), list(&plain));
    // Extract it; its indexes equal what depmod writes for the same subset, kmod's and ours.
    let x = out.path().join("x");
    std::fs::create_dir_all(&x).expect("mkdir");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && cpio -idm --quiet < '{}'",
            x.display(),
            plain.display()
        ))
        .status()
        .expect("cpio -i");
    assert!(st.success());
    let moddir = x.join("lib/modules").join(&tree.version);
    let shipped: Vec<(String, Vec<u8>)> = std::fs::read_dir(&moddir)
        .expect("moddir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("modules.")
                && ![
                    "modules.order",
                    "modules.builtin",
                    "modules.builtin.modinfo",
                ]
                .contains(&n.as_str())
        })
        .map(|n| (n.clone(), std::fs::read(moddir.join(&n)).expect("read")))
        .collect();
    assert!(
        shipped.len() >= 10,
        "indexes in the image: {}",
        shipped.len()
    );
    kmod_depmod(&x, &tree.version);
    for (n, b) in &shipped {
        assert!(
            std::fs::read(moddir.join(n)).expect("kmod's") == *b,
            "{n} in the image differs from kmod's depmod of the subset"
        );
    }
    // --append-to: a second archive after the first; --list shows both.
    let appended = out.path().join("appended");
    let o = run(
        &rprobe(),
        [
            "initramfs",
            "-k",
            &tree.version,
            "-b",
            &root.display().to_string(),
            "-o",
            &appended.display().to_string(),
            "-C",
            &empty_conf(root).display().to_string(),
            "--module",
            "dummy",
            "--compress",
            "zstd",
            "--append-to",
            &plain.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = list(&appended);
    assert!(all.len() > list(&plain).len());
    assert!(all.iter().any(|e| e.ends_with("dummy.ko.xz")));
}

#[test]
fn closure_matches_kmod_show_depends() {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    let root = tmp.path();
    kmod_depmod(root, &tree.version);
    let conf = empty_conf(root);
    let moddir = root.join("lib/modules").join(&tree.version);
    let mut want = BTreeSet::new();
    for n in NAMES {
        let o = run(
            &kmod("modprobe"),
            [
                "-d".as_ref(),
                root.as_os_str(),
                "-S".as_ref(),
                tree.version.as_ref(),
                "-C".as_ref(),
                conf.as_os_str(),
                "-D".as_ref(),
                n.as_ref(),
            ],
        );
        assert!(o.status.success());
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if let Some(p) = l.strip_prefix("insmod ") {
                let p = PathBuf::from(p.split(' ').next().unwrap_or(""));
                want.insert(
                    p.strip_prefix(&moddir)
                        .expect("in tree")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let out = tempfile::tempdir().expect("tempdir");
    let img = out.path().join("img");
    build(root, &tree.version, &img, &["--compress", "none"]);
    let prefix = format!("lib/modules/{}/", tree.version);
    let have: BTreeSet<String> = list(&img)
        .into_iter()
        .filter_map(|e| e.strip_prefix(&prefix).map(str::to_string))
        .filter(|e| e.contains(".ko"))
        .collect();
    assert_eq!(
        want, have,
        "the image holds exactly what kmod's modprobe would load"
    );
}

#[test]
fn image_boots_and_loads_every_module() {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let Some(rp) = vm::static_rprobe() else {
        assert!(!real_required(), "RPROBE_STATIC_BIN missing");
        return;
    };
    let Some(bb) = vm::busybox() else {
        assert!(!real_required(), "busybox missing");
        return;
    };
    let tmp = link_tree(&tree);
    let root = tmp.path();
    let out = tempfile::tempdir().expect("tempdir");
    let list_file = out.path().join("mods");
    std::fs::write(&list_file, NAMES.join("\n") + "\n").expect("write");
    let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/initramfs/init.sh");
    let img = out.path().join("img");
    build(
        root,
        &tree.version,
        &img,
        &[
            "--compress",
            "zstd",
            "--include",
            &format!("{}:bin/busybox", bb.display()),
            "--include",
            &format!("{}:sbin/rprobe", rp.display()),
            "--include",
            &format!("{}:init", init.display()),
            "--include",
            &format!("{}:etc/rprobe-test-modules", list_file.display()),
        ],
    );
    let boot = vm::boot(&tree.vmlinuz(), &img, "", Duration::from_secs(240)).expect("qemu");
    let tail = boot.tail(30);
    assert!(
        boot.console.contains("VM-END"),
        "init did not finish:\n{tail}"
    );
    let results = boot.results();
    for n in NAMES {
        let name = format!("load_{n}");
        match results.iter().find(|r| r.0 == name) {
            Some((_, true, _)) => {}
            other => panic!("{name}: {other:?}\n{tail}"),
        }
    }
}

/// Firmware named by modules in the closure (plain, .zst or .xz, the kernel's lookup
/// order; a missing one is a warning) and --host (modules from /proc/modules and device
/// modaliases), on a synthetic tree.
#[test]
fn firmware_and_host_modules() {
    use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let t = SynthTree::new(root, "6.1.0-synth");
    t.add(
        &SynthModule::new("fwuser")
            .info("firmware", "vendor/a.bin")
            .info("firmware", "vendor/b.bin")
            .info("firmware", "missing.bin"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("loaded-now").export("x"),
        "kernel",
        Codec::None,
    );
    t.add(
        &SynthModule::new("devdrv").info("alias", "pci:v00001234d*"),
        "kernel",
        Codec::None,
    );
    t.add(&SynthModule::new("unrelated"), "kernel", Codec::None);
    let fw = root.join("firmware");
    std::fs::create_dir_all(fw.join("vendor")).expect("mkdir");
    std::fs::write(fw.join("vendor/a.bin"), b"A").expect("write");
    std::fs::write(fw.join("vendor/b.bin.zst"), b"B").expect("write");
    let proc_modules = root.join("proc-modules");
    std::fs::write(&proc_modules, "loaded_now 16384 0 - Live 0x0\n").expect("write");
    let sys = root.join("sys");
    std::fs::create_dir_all(sys.join("devices/pci0000:00/0000:00:01.0")).expect("mkdir");
    std::fs::write(
        sys.join("devices/pci0000:00/0000:00:01.0/modalias"),
        "pci:v00001234d00005678sv0sd0bc0sc0i0\n",
    )
    .expect("write");
    let img = root.join("img");
    let o = std::process::Command::new(rprobe())
        .args([
            "initramfs",
            "-k",
            "6.1.0-synth",
            "--compress",
            "none",
            "--module",
            "fwuser",
            "--host",
        ])
        .arg("-b")
        .arg(root)
        .arg("-o")
        .arg(&img)
        .arg("-C")
        .arg(empty_conf(root))
        .arg("--firmware-dir")
        .arg(&fw)
        .env("RPROBE_PROC_MODULES", &proc_modules)
        .env("RPROBE_SYSFS", &sys)
        .output()
        .expect("run");
    assert_no_panic(&o, "firmware");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("firmware missing.bin not found"));
    let entries = list(&img);
    for want in [
        "lib/firmware/vendor/a.bin",
        "lib/firmware/vendor/b.bin.zst",
        "lib/modules/6.1.0-synth/kernel/fwuser.ko",
        "lib/modules/6.1.0-synth/kernel/loaded-now.ko",
        "lib/modules/6.1.0-synth/kernel/devdrv.ko",
    ] {
        assert!(entries.iter().any(|e| e == want), "{want} in {entries:?}");
    }
    assert!(
        !entries.iter().any(|e| e.contains("unrelated")),
        "only what the host uses"
    );
}
