//! `rprobe coldplug` on a sysfs tree made by the test: the plan it prints with -n -v is the
//! one kmod's `modprobe -n -v -b -a $(cat every modalias)` prints, blacklist included.

use std::ffi::OsString;

use rprobe_testkit::real_tree;

use crate::util::*;

const DEVICES: [(&str, &str); 4] = [
    // e1000 (qemu's default NIC), a virtio PCI device, an AHCI controller, the CPU.
    (
        "pci0000:00/0000:00:03.0",
        "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
    ),
    (
        "pci0000:00/0000:00:04.0",
        "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
    ),
    (
        "pci0000:00/0000:00:1f.2",
        "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
    ),
    (
        "system/cpu",
        "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0002,0003,0004,0005,0006,0008,0009,000B,000C,000D,000F,0013,0017,0019,0034,003A,0068,0070,0074,0075,0076,0080,0081,0089,008C,008D,0091,0093,0094,0096,0097,0099,009A,00C0,00C5,00E7,00EB,00EC,00F0,00F1,00F3",
    ),
];

#[test]
fn coldplug_plan_equals_kmod_modprobe_b_a() {
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let tmp = link_tree(&tree);
    kmod_depmod(tmp.path(), &tree.version);
    let sys = tmp.path().join("sys");
    let mut aliases = Vec::new();
    for (dev, alias) in DEVICES {
        let d = sys.join("devices").join(dev);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("modalias"), format!("{alias}\n")).expect("modalias");
        aliases.push(alias.to_string());
    }
    aliases.sort();
    let conf_plain = empty_conf(tmp.path());
    let conf_black = tmp.path().join("black.d");
    std::fs::create_dir_all(&conf_black).expect("mkdir");
    std::fs::write(
        conf_black.join("b.conf"),
        "blacklist e1000\nblacklist ahci\n",
    )
    .expect("conf");
    for conf in [&conf_plain, &conf_black] {
        let common: Vec<OsString> = vec![
            "-d".into(),
            tmp.path().into(),
            "-S".into(),
            tree.version.clone().into(),
            "-C".into(),
            conf.into(),
        ];
        let mut k_args: Vec<OsString> = vec!["-n".into(), "-v".into(), "-b".into(), "-a".into()];
        k_args.extend(common.iter().cloned());
        k_args.extend(aliases.iter().map(OsString::from));
        let k = run(&kmod("modprobe"), &k_args);
        let mut r_args: Vec<OsString> = vec!["coldplug".into(), "-n".into(), "-v".into()];
        r_args.push("--sysfs".into());
        r_args.push(sys.clone().into());
        r_args.extend(common.iter().cloned());
        let r = run(&rprobe(), &r_args);
        assert_no_panic(&r, "coldplug");
        assert_eq!(code(&r), 0, "{}", String::from_utf8_lossy(&r.stderr));
        let ko = String::from_utf8_lossy(&k.stdout);
        assert!(ko.contains("insmod"), "kmod loads something: {ko}");
        assert_eq!(
            String::from_utf8_lossy(&r.stdout),
            ko,
            "{}: plan",
            conf.display()
        );
    }
}
