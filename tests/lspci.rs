//! pciutils' `lspci -k`, a libkmod user (one kmod_module_new_from_lookup per device
//! modalias, after kmod_new on /lib/modules/RELEASE and kmod_load_resources), run with
//! Debian 12's libkmod.so.2 and with rprobe's (RPROBE_KMOD=30): the output must be
//! identical and name kernel modules. It runs chrooted in the Debian 12 root, where the
//! real 6.12 tree, indexed by kmod's depmod, is the running release's module directory.
//! The devices: this machine's PCI devices (virtio ones, whose drivers Debian builds in)
//! and, through lspci's `-O sysfs.path=`, a copy of one of them cloned under 40 modaliases
//! taken from the tree's modules.alias, so most devices have modules to name.

use std::path::Path;
use std::process::Command;

use rprobe_testkit::{cache_dir, debian_rootfs, real_required, real_tree};

use crate::libkmod::library_under_test;

fn skip(what: &str) {
    assert!(!real_required(), "lspci: {what} missing");
    eprintln!("SKIPPED: {what} missing");
}

#[test]
fn lspci_k_same_with_kmods_and_rprobes_library() {
    let lk = cache_dir().join("libkmod");
    let pci = lk.join("pciutils");
    if !pci.join("usr/bin/lspci").is_file() || !lk.join("30/libkmod.so.2").exists() {
        return skip("scripts/fetch-libkmod's pciutils or libkmod");
    }
    let Some(tar) = debian_rootfs() else {
        return skip("the Debian 12 root");
    };
    let Some(tree) = real_tree("k612") else {
        return skip("the 6.12 tree");
    };
    if !Path::new("/sys/bus/pci/devices").is_dir() {
        return skip("PCI devices in /sys");
    }
    let release = rprobe_index::moddir::kernel_release().expect("uname");
    let tmp = tempfile::tempdir_in(cache_dir()).expect("tempdir");
    let root = tmp.path();
    rprobe_testkit::unpack_tar(&tar, root);
    // The 6.12 tree as the running release's module directory, indexed by kmod's depmod.
    let moddir = root.join("usr/lib/modules").join(&release);
    std::fs::create_dir_all(moddir.parent().unwrap()).expect("mkdir");
    let st = Command::new("cp")
        .arg("-al")
        .arg(tree.root.join("lib/modules").join(&tree.version))
        .arg(&moddir)
        .status()
        .expect("cp");
    assert!(st.success());
    let st = Command::new("depmod")
        .arg("-b")
        .arg(root)
        .arg(&release)
        .status()
        .expect("depmod");
    assert!(st.success(), "kmod's depmod");
    // Fake devices: the files of one real device, with other modaliases.
    let real = std::fs::read_dir("/sys/bus/pci/devices")
        .expect("pci devices")
        .flatten()
        .map(|e| e.path())
        .min()
        .expect("a PCI device");
    let aliases: Vec<String> = std::fs::read_to_string(moddir.join("modules.alias"))
        .expect("modules.alias")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|a| a.starts_with("pci:v0000") && !a.contains('['))
        .map(|a| a.replace(['*', '?'], "0"))
        .collect();
    assert!(aliases.len() > 1000, "{} pci aliases", aliases.len());
    let fake = root.join("fakesys/devices");
    for (i, a) in aliases
        .iter()
        .step_by(aliases.len() / 40)
        .take(40)
        .enumerate()
    {
        let dev = fake.join(format!("0000:01:{:02x}.0", i));
        std::fs::create_dir_all(&dev).expect("mkdir");
        for f in ["config", "resource", "irq", "vendor", "device", "class"] {
            if let Ok(b) = std::fs::read(real.join(f)) {
                std::fs::write(dev.join(f), b).expect("write");
            }
        }
        std::fs::write(dev.join("modalias"), format!("{a}\n")).expect("write");
    }
    // lspci, libpci and both libraries under /opt of the root.
    let opt = root.join("opt");
    for (dir, lib) in [
        ("kmod", lk.join("30/libkmod.so.2")),
        ("rprobe", library_under_test()),
    ] {
        std::fs::create_dir_all(opt.join(dir)).expect("mkdir");
        std::fs::copy(
            std::fs::canonicalize(&lib).expect("library"),
            opt.join(dir).join("libkmod.so.2"),
        )
        .expect("copy library");
    }
    let st = Command::new("cp")
        .arg("-a")
        .arg(pci.join("usr"))
        .arg(opt.join("pciutils"))
        .status()
        .expect("cp");
    assert!(st.success());
    let run = |lib: &str, args: &str| {
        let script = format!(
            "mount --bind /sys '{r}/sys' && exec chroot '{r}' env \
             LD_LIBRARY_PATH=/opt/{lib}:/opt/pciutils/lib/x86_64-linux-gnu RPROBE_KMOD=30 \
             /opt/pciutils/bin/lspci -k {args}",
            r = root.display()
        );
        let o = Command::new("unshare")
            .args(["-m", "sh", "-c", &script])
            .output()
            .expect("unshare");
        assert!(
            o.status.success(),
            "lspci -k with {lib}'s library: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    for args in [
        "",
        "-A linux-sysfs -O sysfs.path=/fakesys",
        "-vmm -A linux-sysfs -O sysfs.path=/fakesys",
    ] {
        let kmod = run("kmod", args);
        let ours = run("rprobe", args);
        assert_eq!(
            ours, kmod,
            "lspci -k {args}: rprobe's library against kmod's"
        );
        let modules =
            kmod.0.matches("Kernel modules:").count() + kmod.0.matches("\nModule:").count();
        if !args.is_empty() {
            assert!(
                modules >= 20,
                "lspci -k {args} named modules for {modules} devices:\n{}",
                kmod.0
            );
        }
        eprintln!(
            "lspci -k {args}: {} lines, {modules} devices with kernel modules, identical",
            kmod.0.lines().count()
        );
    }
}
