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
            n.starts_with("modules.") && !rprobe_testkit::PACKAGE_FILES.contains(&n.as_str())
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

/// A synthetic tree for the daily-use options: `fwuser` names firmware `fw/a.bin`.
fn daily_tree(root: &Path, version: &str) {
    use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};
    let t = SynthTree::new(root, version);
    t.add(
        &SynthModule::new("fwuser").info("firmware", "fw/a.bin"),
        "kernel",
        Codec::None,
    );
}

fn initramfs(root: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    let o = Command::new(rprobe())
        .arg("initramfs")
        .arg("-b")
        .arg(root)
        .arg("-C")
        .arg(empty_conf(root))
        .args(args)
        .output()
        .expect("run rprobe initramfs");
    assert_no_panic(&o, "initramfs");
    o
}

/// The image's bytes of one file, read with GNU cpio from an uncompressed image.
fn cpio_extract(img: &Path, name: &str) -> Vec<u8> {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cpio -i --quiet --to-stdout '{name}' < '{}'",
            img.display()
        ))
        .output()
        .expect("cpio");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// Firmware is searched as the kernel searches: in each --firmware-dir in turn,
/// updates/RELEASE, updates, RELEASE, then the directory; the default is BASEDIR/lib/firmware.
#[test]
fn firmware_search_order_is_the_kernels() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let v = "6.1.0-fw";
    daily_tree(root, v);
    let first = root.join("first");
    let second = root.join("lib/firmware");
    let places = [
        second.join("updates").join(v),
        second.join("updates"),
        second.join(v),
        second.clone(),
    ];
    for (i, p) in places.iter().enumerate() {
        std::fs::create_dir_all(p.join("fw")).expect("mkdir");
        std::fs::write(p.join("fw/a.bin"), format!("place {i}")).expect("write");
    }
    std::fs::create_dir_all(&first).expect("mkdir");
    let img = root.join("img");
    let build = |extra: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = vec![
            "-k".as_ref(),
            v.as_ref(),
            "--compress".as_ref(),
            "none".as_ref(),
            "--module".as_ref(),
            "fwuser".as_ref(),
            "-o".as_ref(),
            img.as_os_str(),
        ];
        a.extend_from_slice(extra);
        let o = initramfs(root, &a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(cpio_extract(&img, "lib/firmware/fw/a.bin")).expect("utf-8")
    };
    // Default directory (BASEDIR/lib/firmware), each place taken away in turn.
    for (i, p) in places.iter().enumerate() {
        assert_eq!(build(&[]), format!("place {i}"), "default dir, place {i}");
        std::fs::remove_file(p.join("fw/a.bin")).expect("rm");
        if i + 1 < places.len() {
            continue;
        }
    }
    std::fs::write(places[3].join("fw/a.bin"), "place 3").expect("write");
    // Two directories: the first wins when it has the file, else the second.
    let args = [
        "--firmware-dir".as_ref(),
        first.as_os_str(),
        "--firmware-dir".as_ref(),
        second.as_os_str(),
    ];
    assert_eq!(build(&args), "place 3");
    std::fs::create_dir_all(first.join("updates/fw")).expect("mkdir");
    std::fs::write(first.join("updates/fw/a.bin"), "first").expect("write");
    assert_eq!(build(&args), "first");
}

/// `--list --long` prints what GNU `cpio -tv` prints for the same image (both in UTC).
#[test]
fn list_long_matches_cpio_tv() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let v = "6.1.0-long";
    daily_tree(root, v);
    let exe = root.join("tool");
    std::fs::write(&exe, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(
        &exe,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o4755),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("tool", root.join("link")).expect("symlink");
    let img = root.join("img");
    for (epoch, what) in [("0", "old"), ("", "now")] {
        let mut cmd = Command::new(rprobe());
        cmd.arg("initramfs")
            .args(["-k", v, "--compress", "none", "--module", "fwuser"])
            .arg("-b")
            .arg(root)
            .arg("-C")
            .arg(empty_conf(root))
            .arg("-o")
            .arg(&img)
            .arg("--include")
            .arg(format!("{}:bin/tool", exe.display()))
            .arg("--include")
            .arg(format!("{}:bin/sh", root.join("link").display()));
        if epoch.is_empty() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            cmd.env("SOURCE_DATE_EPOCH", (now - 3600).to_string());
        } else {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        let o = cmd.output().expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let ours = Command::new(rprobe())
            .args(["initramfs", "--list"])
            .arg(&img)
            .arg("--long")
            .env("TZ", "UTC")
            .output()
            .expect("list");
        assert!(
            ours.status.success(),
            "{}",
            String::from_utf8_lossy(&ours.stderr)
        );
        let theirs = Command::new("sh")
            .arg("-c")
            .arg(format!("cpio -tv --quiet < '{}'", img.display()))
            .env("TZ", "UTC")
            .output()
            .expect("cpio -tv");
        assert!(theirs.status.success());
        let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
        let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
        assert!(
            ours.contains(" -> tool") && ours.contains("rws"),
            "{what}: {ours}"
        );
        assert_eq!(ours, theirs, "{what}: --list --long against cpio -tv");
    }
}

/// -k defaults to the running kernel's release; --compress-level is honoured and checked.
#[test]
fn kernel_defaults_to_the_running_one_and_levels_apply() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let release = rprobe_index::moddir::kernel_release().expect("uname");
    daily_tree(root, &release);
    let out = |name: &str| root.join(name);
    let o = initramfs(
        root,
        &[
            "--module".as_ref(),
            "fwuser".as_ref(),
            "--compress".as_ref(),
            "none".as_ref(),
            "-o".as_ref(),
            out("plain").as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        list(&out("plain")).contains(&format!("lib/modules/{release}/kernel/fwuser.ko")),
        "built for the running kernel"
    );
    let plain = std::fs::read(out("plain")).expect("read");
    let mut sizes = Vec::new();
    for level in ["1", "9"] {
        let o = initramfs(
            root,
            &[
                "--module".as_ref(),
                "fwuser".as_ref(),
                "--compress".as_ref(),
                "gzip".as_ref(),
                "--compress-level".as_ref(),
                level.as_ref(),
                "-o".as_ref(),
                out(level).as_os_str(),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let gz = std::fs::read(out(level)).expect("read");
        let back = Command::new("gzip")
            .arg("-dc")
            .arg(out(level))
            .output()
            .expect("gzip -dc");
        assert!(back.stdout == plain, "level {level} holds the same archive");
        sizes.push(gz.len());
    }
    assert!(
        sizes[0] > sizes[1],
        "level 1 {} vs level 9 {}",
        sizes[0],
        sizes[1]
    );
    let o = initramfs(
        root,
        &[
            "--module".as_ref(),
            "fwuser".as_ref(),
            "--compress".as_ref(),
            "xz".as_ref(),
            "--compress-level".as_ref(),
            "12".as_ref(),
            "-o".as_ref(),
            out("bad").as_os_str(),
        ],
    );
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out("bad").exists());
}

/// The image is streamed: a 512 MiB file (and a 256 MiB --append-to base) go through
/// with a peak RSS far below either (measured with GNU time's %M).
#[test]
fn images_stream_with_memory_bounded_by_buffers() {
    if rprobe_testkit::find_program("time").is_none() && !Path::new("/usr/bin/time").exists() {
        assert!(!real_required(), "/usr/bin/time missing");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let v = "6.1.0-big";
    daily_tree(root, v);
    let big = root.join("big");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(512 << 20))
        .expect("sparse file");
    let base = root.join("base");
    std::fs::File::create(&base)
        .and_then(|f| f.set_len(256 << 20))
        .expect("sparse base");
    let img = root.join("img");
    let o = Command::new("/usr/bin/time")
        .args(["-f", "RSS %M"])
        .arg(rprobe())
        .arg("initramfs")
        .args(["-k", v, "--compress", "none", "--module", "fwuser"])
        .arg("-b")
        .arg(root)
        .arg("-C")
        .arg(empty_conf(root))
        .arg("-o")
        .arg(&img)
        .arg("--include")
        .arg(format!("{}:data/big", big.display()))
        .arg("--append-to")
        .arg(&base)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let rss: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("RSS "))
        .and_then(|n| n.trim().parse().ok())
        .expect("RSS line");
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB for a 768 MiB image");
    let len = std::fs::metadata(&img).expect("img").len();
    assert!(len > (768 << 20), "{len}");
    let entries = list(&img);
    assert!(entries.iter().any(|e| e == "data/big"), "{entries:?}");
}

/// Firmware installed as a symbolic link (linux-firmware's Link: entries) and a module that
/// is a link into another tree (weak-updates/) go into the image as their content, and the
/// kernel's suffix order holds across places: a plain file anywhere before a .zst in
/// updates/.
#[test]
fn linked_firmware_and_modules_are_archived_as_files() {
    use rprobe_testkit::synth::{Codec, SynthModule, SynthTree};
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let v = "6.1.0-links";
    let t = SynthTree::new(root, v);
    t.add(
        &SynthModule::new("fwuser")
            .info("firmware", "vendor/linked.bin")
            .info("firmware", "vendor/both.bin"),
        "kernel",
        Codec::None,
    );
    // A module that lives elsewhere, linked into weak-updates/.
    let other = root.join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let real = SynthModule::new("weakmod").write(&other, "", Codec::None);
    let moddir = root.join("lib/modules").join(v);
    std::fs::create_dir_all(moddir.join("weak-updates")).expect("mkdir");
    std::os::unix::fs::symlink(&real, moddir.join("weak-updates/weakmod.ko")).expect("link");
    let fw = root.join("lib/firmware");
    std::fs::create_dir_all(fw.join("vendor")).expect("mkdir");
    std::fs::create_dir_all(fw.join("updates/vendor")).expect("mkdir");
    std::fs::write(fw.join("vendor/target.bin"), b"TARGET").expect("write");
    std::os::unix::fs::symlink("target.bin", fw.join("vendor/linked.bin")).expect("link");
    std::fs::write(fw.join("vendor/both.bin"), b"PLAIN").expect("write");
    std::fs::write(fw.join("updates/vendor/both.bin.zst"), b"ZST").expect("write");
    let img = root.join("img");
    let o = initramfs(
        root,
        &[
            "-k".as_ref(),
            v.as_ref(),
            "--compress".as_ref(),
            "none".as_ref(),
            "--module".as_ref(),
            "fwuser".as_ref(),
            "--module".as_ref(),
            "weakmod".as_ref(),
            "-o".as_ref(),
            img.as_os_str(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        cpio_extract(&img, "lib/firmware/vendor/linked.bin"),
        b"TARGET"
    );
    assert_eq!(cpio_extract(&img, "lib/firmware/vendor/both.bin"), b"PLAIN");
    let entries = list(&img);
    assert!(
        !entries.iter().any(|e| e.ends_with("both.bin.zst")),
        "the plain name wins over a .zst in updates/: {entries:?}"
    );
    let module = format!("lib/modules/{v}/weak-updates/weakmod.ko");
    assert_eq!(
        cpio_extract(&img, &module),
        std::fs::read(&real).expect("read"),
        "the linked module's content"
    );
    let long = Command::new(rprobe())
        .args(["initramfs", "--list"])
        .arg(&img)
        .arg("--long")
        .output()
        .expect("list");
    let long = String::from_utf8_lossy(&long.stdout);
    for name in ["vendor/linked.bin", "weakmod.ko"] {
        let line = long.lines().find(|l| l.ends_with(name)).expect("listed");
        assert!(line.starts_with('-'), "a regular file: {line}");
    }
}
