//! Debian's own image builder with rprobe in kmod's place: initramfs-tools' mkinitramfs in
//! a debootstrap bookworm root (scripts/fetch-rootfs) with Debian's 6.12 modules, run once
//! with kmod 30 and once with the static rprobe copied over /usr/bin/kmod (modprobe, depmod
//! and modinfo are links to it there). mkinitramfs calls `depmod VERSION` for the system's
//! tree, `modprobe --show-depends` and `modinfo -F firmware` for every module it adds, and
//! `depmod -b DESTDIR` for the image. The two images (unpacked with Debian's
//! unmkinitramfs) must hold the same paths with the same types, modes, link targets and
//! bytes, except for the documented differences in `ALLOWED`; the system tree's indexes
//! and mkinitramfs's messages and status must be the same too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::{cache_dir, real_required, real_tree, vm, RealTree};

/// Paths (relative to the image root, VERSION for the kernel release) that may differ, and
/// why.
const ALLOWED: [(&str, &str); 2] = [
    (
        "usr/bin/kmod",
        "the substitution itself: rprobe's static binary instead of kmod's",
    ),
    (
        "usr/lib/modules/VERSION/.rprobe-depmod.cache",
        "rprobe's depmod keeps its record cache beside the indexes it writes, also for \
         mkinitramfs's `depmod -b DESTDIR` (about 2 MB in the image)",
    ),
];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sh(script: &str, args: &[&Path]) -> Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "bash", "-c", script, "sh"])
        .args(args)
        .output()
        .expect("unshare")
}

/// Unpacks the bookworm root into `dir` with the tree's modules (hard links: the cache is
/// never written, tools only add files beside them) and kernel config; `kmod` replaces
/// /usr/bin/kmod when given.
fn make_root(dir: &Path, tar: &Path, tree: &RealTree, kmod: Option<&Path>) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let st = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-xf")
        .arg(tar)
        .status()
        .expect("tar");
    assert!(st.success(), "unpacking {}", tar.display());
    let mods = dir.join("usr/lib/modules");
    std::fs::create_dir_all(&mods).expect("mkdir");
    let linked = Command::new("cp")
        .arg("-al")
        .arg(tree.moddir())
        .arg(&mods)
        .status()
        .is_ok_and(|s| s.success());
    if !linked {
        let st = Command::new("cp")
            .arg("-a")
            .arg(tree.moddir())
            .arg(&mods)
            .status()
            .expect("cp");
        assert!(st.success());
    }
    let config = format!("config-{}", tree.version);
    std::fs::copy(
        tree.root.join("boot").join(&config),
        dir.join("boot").join(&config),
    )
    .expect("kernel config");
    if let Some(bin) = kmod {
        std::fs::copy(bin, dir.join("usr/bin/kmod")).expect("copy rprobe over kmod");
    }
}

/// mkinitramfs in the root (proc, dev and a tmpfs /tmp mounted in a private namespace),
/// reproducible (SOURCE_DATE_EPOCH=0), then the image unpacked into `out`.
fn build_and_unpack(root: &Path, version: &str, out: &Path) -> Output {
    std::fs::create_dir_all(out).expect("mkdir");
    let script = r#"
set -e
root=$1; version=$2; out=$3
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount -t tmpfs rprobe-test "$root/tmp"
set +e
TMPDIR=/tmp SOURCE_DATE_EPOCH=0 chroot "$root" mkinitramfs -o /boot/test.img "$version"
rc=$?
set -e
mount --bind "$out" "$root/mnt"
chroot "$root" unmkinitramfs /boot/test.img /mnt >&2
exit $rc
"#;
    sh(script, &[root, Path::new(version), out])
}

/// Every path under `dir`: (type, mode, link target) and, for files, the bytes' location.
fn manifest(dir: &Path) -> BTreeMap<String, (String, u32, String)> {
    use std::os::unix::fs::PermissionsExt;
    walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap_or(e.path())
                .to_string_lossy()
                .into_owned();
            let md = e.path().symlink_metadata().expect("lstat");
            let kind = if md.file_type().is_symlink() {
                "link"
            } else if md.is_dir() {
                "dir"
            } else {
                "file"
            };
            let target = std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                rel,
                (kind.to_string(), md.permissions().mode() & 0o7777, target),
            )
        })
        .collect()
}

#[test]
fn debian_mkinitramfs_with_rprobe_as_kmod_builds_kmods_image() {
    let tar = cache_dir().join("rootfs/bookworm.tar");
    if !tar.is_file() {
        assert!(
            !real_required(),
            "{} missing: run scripts/fetch-rootfs",
            tar.display()
        );
        eprintln!("skipped: {} missing (scripts/fetch-rootfs)", tar.display());
        return;
    }
    let Some(tree) = real_tree("k612") else {
        return;
    };
    let Some(rp) = vm::static_rprobe() else {
        assert!(!real_required(), "RPROBE_STATIC_BIN missing");
        eprintln!("skipped: RPROBE_STATIC_BIN (scripts/build-static) missing");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let roots: [PathBuf; 2] = [tmp.path().join("kmod"), tmp.path().join("rprobe")];
    let outs: [PathBuf; 2] = [tmp.path().join("kmod.x"), tmp.path().join("rprobe.x")];
    make_root(&roots[0], &tar, &tree, None);
    make_root(&roots[1], &tar, &tree, Some(&rp));
    // Both builds at once (each is mostly one shell process).
    let runs: Vec<Output> = std::thread::scope(|s| {
        let hs: Vec<_> = roots
            .iter()
            .zip(&outs)
            .map(|(r, o)| s.spawn(|| build_and_unpack(r, &tree.version, o)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("build thread"))
            .collect()
    });
    for (who, o) in ["kmod", "rprobe"].iter().zip(&runs) {
        let err = text(&o.stderr);
        assert!(
            !err.contains("unshare:") && !err.contains("mount:"),
            "{who}: the namespace could not be made (root is needed): {err}"
        );
        assert_eq!(o.status.code(), Some(0), "{who}: mkinitramfs: {err}");
    }
    assert_eq!(
        text(&runs[1].stdout),
        text(&runs[0].stdout),
        "mkinitramfs's output"
    );
    assert_eq!(
        text(&runs[1].stderr),
        text(&runs[0].stderr),
        "mkinitramfs's messages"
    );

    let allowed: Vec<String> = ALLOWED
        .iter()
        .map(|(p, _)| p.replace("VERSION", &tree.version))
        .collect();
    let (k, r) = (manifest(&outs[0]), manifest(&outs[1]));
    assert!(k.len() > 500, "kmod's image holds {} paths", k.len());
    assert!(
        k.keys()
            .any(|p| p.ends_with(".ko") && p.contains("usr/lib/modules")),
        "kmod's image holds modules"
    );
    let mut diffs = Vec::new();
    for p in k.keys().chain(r.keys().filter(|p| !k.contains_key(*p))) {
        if allowed.contains(p) {
            continue;
        }
        match (k.get(p), r.get(p)) {
            (Some(a), Some(b)) if a != b => diffs.push(format!("{p}: {a:?} / {b:?}")),
            (Some(a), Some(_)) if a.0 == "file" => {
                let (x, y) = (
                    std::fs::read(outs[0].join(p)).expect("read"),
                    std::fs::read(outs[1].join(p)).expect("read"),
                );
                if x != y {
                    diffs.push(format!("{p}: different bytes"));
                }
            }
            (Some(_), Some(_)) => {}
            (Some(_), None) => diffs.push(format!("{p}: only in kmod's image")),
            (None, _) => diffs.push(format!("{p}: only in rprobe's image")),
        }
    }
    assert!(diffs.is_empty(), "images differ:\n{}", diffs.join("\n"));

    // The system tree's indexes, written by mkinitramfs's own `depmod VERSION`.
    let moddir = |root: &Path| root.join("usr/lib/modules").join(&tree.version);
    let files = crate::util::index_files(&moddir(&roots[0]));
    assert!(files.contains(&"modules.dep.bin".to_string()), "{files:?}");
    assert_eq!(
        crate::util::index_files(&moddir(&roots[1])),
        files,
        "index files"
    );
    for f in &files {
        assert!(
            std::fs::read(moddir(&roots[0]).join(f)).ok()
                == std::fs::read(moddir(&roots[1]).join(f)).ok(),
            "system tree's {f}"
        );
    }
}
