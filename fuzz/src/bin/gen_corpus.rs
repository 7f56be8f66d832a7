//! Writes synthetic seed inputs for every fuzz target into the directory given as the
//! first argument (default `corpus`): modules built by rprobe-testkit in every codec,
//! small indexes, images and configuration files. Nothing third-party.

use std::path::{Path, PathBuf};

use rprobe_index::index::{Layout, TrieBuilder};
use rprobe_initramfs::cpio::{Archive, Entry};
use rprobe_initramfs::Compress;
use rprobe_testkit::synth::{Codec, SynthModule};

fn put(root: &Path, target: &str, name: &str, data: &[u8]) -> std::io::Result<()> {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), data)
}

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let mods = [
        SynthModule::new("plain"),
        SynthModule::new("rich")
            .info("alias", "pci:v00008086d*sv*sd*bc*sc*i*")
            .info("depends", "plain")
            .info("license", "GPL")
            .export("rich_fn")
            .import_crc("plain_fn", Some(0x1234_5678)),
        SynthModule::new("signed").import("printk").signed(
            b"Build key",
            b"\x01\x02\x03\x04",
            &[0x55; 64],
        ),
    ];
    for m in &mods {
        let elf = m.elf();
        for c in [Codec::None, Codec::Gzip, Codec::Xz, Codec::Zstd] {
            put(
                &root,
                "module_bytes",
                &format!("{}{}", m.name, c.suffix()),
                &c.compress(&elf),
            )?;
        }
        put(&root, "module_compact", &format!("{}.ko", m.name), &elf)?;
    }

    let mut t = TrieBuilder::new();
    let entries = [
        ("ext4", "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko", 0),
        ("pci:v00008086d*sv*sd*bc*sc*i*", "e1000e", 1),
        ("usb:v*p*d*dc*dsc*dp*ic03isc01ip01in*", "usbhid", 2),
        ("symbol:printk", "kernel", 3),
        ("acpi*:PNP0A03:*", "pci_root", 4),
        ("e", "", 0),
    ];
    for (k, v, p) in entries {
        let _ = t.insert(k, v, p);
    }
    // trie_read: first byte = key length taken from the end; both layouts (kmod 30's root
    // last, kmod 34's root first).
    for (name, layout) in [
        ("small.bin", Layout::PostOrder),
        ("small-root-first.bin", Layout::PreOrder),
    ] {
        let mut seed = vec![4u8];
        seed.extend_from_slice(&t.to_bytes_as(layout));
        seed.extend_from_slice(b"ext4");
        put(&root, "trie_read", name, &seed)?;
    }
    let mut rec = Vec::new();
    for (k, v, p) in entries {
        rec.push(p as u8);
        rec.extend_from_slice(k.as_bytes());
        rec.push(b'\n');
        rec.extend_from_slice(v.as_bytes());
        rec.push(0xff);
    }
    put(&root, "trie_write", "records", &rec)?;

    let mut a = Archive::new(0);
    a.add(Entry::file(
        "lib/modules/6.1.0/kernel/plain.ko",
        mods[0].elf(),
        0o644,
    ));
    a.add(Entry::symlink("bin/sh", "busybox"));
    let cpio = a.to_bytes().map_err(std::io::Error::other)?;
    for (name, c) in [
        ("none", Compress::None),
        ("gzip", Compress::Gzip),
        ("xz", Compress::Xz),
        ("zstd", Compress::Zstd),
    ] {
        let mut img = cpio.clone();
        img.extend(c.apply(&cpio)?);
        put(&root, "cpio_list", &format!("{name}.img"), &img)?;
    }

    // symvers: first byte = -P prefix (0: none), then the file.
    put(
        &root,
        "symvers",
        "Module.symvers",
        b"\x000x00000002\tprintk\tvmlinux\tEXPORT_SYMBOL\n0x1\tother\tdrivers/x\tEXPORT_SYMBOL_GPL\n\
0xZZ\tbad\tvmlinux\tEXPORT_SYMBOL\nshort\n",
    )?;
    put(
        &root,
        "symvers",
        "System.map",
        b"_ffffffff81000000 T _stext\nffffffff82000000 r ___ksymtab_printk\nbadline\n",
    )?;
    // depmod_tree: first byte = suffix (0 .ko, 1 .ko.gz, 2 .ko.xz, 3 .ko.zst), then the file.
    let tree_mods = [
        SynthModule::new("bad").export("bad_fn").import("alpha_fn"),
        SynthModule::new("bad")
            .info("alias", "pci:v00008086d*sv*sd*bc*sc*i*")
            .info("softdep", "pre: alpha")
            .export("alpha_fn"),
    ];
    for (i, m) in tree_mods.iter().enumerate() {
        for (n, c) in [Codec::None, Codec::Gzip, Codec::Xz, Codec::Zstd]
            .into_iter()
            .enumerate()
        {
            let mut seed = vec![n as u8];
            seed.extend(c.compress(&m.elf()));
            put(&root, "depmod_tree", &format!("m{i}{}", c.suffix()), &seed)?;
        }
    }

    put(
        &root,
        "modprobe_conf",
        "sample.conf",
        b"# sample\nalias eth0 e1000e\nalias pci:v*d* snd_[ab]c\nblacklist pcspkr\n\
options snd-hda-intel model=auto index=0\ninstall fake /bin/true\nremove fake /bin/false\n\
softdep a pre: b c post: d\nweakdep a b\noptions x y=\"quoted value\" \\\n  z=1\n\
modprobe.blacklist=a,b foo.bar=1 baz.qux=\"x y\" quiet\n",
    )?;
    put(
        &root,
        "depmod_conf",
        "sample.conf",
        b"# depmod.d\nsearch updates extra built-in weak-updates\noverride e1000e 6.1.* extra\n\
external 6.1.* /lib/modules/external\nexclude debug\nmake_map_files\nbogus line \\\n continued\n",
    )?;
    put(
        &root,
        "devname",
        "sample",
        b"# Device nodes to trigger on-demand module loading.\nfuse fuse c10:229\n\
loop loop-control c10:237\nbtrfs btrfs-control c10:234\ndm_mod mapper/control c10:236\n\
nvme nvme-fabrics b259:0 trailing\nbad line\nx y z1:2\n",
    )?;
    Ok(())
}
