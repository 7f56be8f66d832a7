//! The incremental depmod: after every kind of change to a real tree, rprobe's depmod with
//! its record cache writes exactly what kmod's depmod writes, and a cached run always equals
//! a `--no-cache` run.

use std::path::{Path, PathBuf};
use std::process::Output;

use rprobe_testkit::real_tree;
use rprobe_testkit::synth::Codec;

use crate::util::*;

/// A writable copy of part of the real 6.12 tree (.ko.xz): fs/, crypto/ and lib/ with the
/// package's modules.order, modules.builtin and modules.builtin.modinfo.
struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    version: String,
    conf: PathBuf,
}

impl Tree {
    fn new() -> Option<Tree> {
        let real = real_tree("k612")?;
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().to_path_buf();
        let dst = root.join("lib/modules").join(&real.version);
        std::fs::create_dir_all(dst.join("kernel")).expect("mkdir");
        for sub in ["fs", "crypto", "lib"] {
            let st = std::process::Command::new("cp")
                .arg("-a")
                .arg(real.moddir().join("kernel").join(sub))
                .arg(dst.join("kernel"))
                .status()
                .expect("cp");
            assert!(st.success());
        }
        for f in rprobe_testkit::PACKAGE_FILES {
            std::fs::copy(real.moddir().join(f), dst.join(f)).expect("copy tree file");
        }
        let conf = root.join("conf.d");
        std::fs::create_dir_all(&conf).expect("mkdir");
        Some(Tree {
            _tmp: tmp,
            root,
            version: real.version,
            conf,
        })
    }

    fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }

    fn rprobe(&self, extra: &[&str]) -> Output {
        self.rprobe_as(None, extra)
    }

    /// [`Tree::rprobe`] as the kmod generation `kmod` (RPROBE_KMOD), when given.
    fn rprobe_as(&self, kmod: Option<&str>, extra: &[&str]) -> Output {
        let mut args: Vec<std::ffi::OsString> = vec!["depmod".into(), "-b".into()];
        args.push(self.root.clone().into());
        args.push("-C".into());
        args.push(self.conf.clone().into());
        args.extend(extra.iter().map(Into::into));
        args.push(self.version.clone().into());
        let mut cmd = std::process::Command::new(rprobe());
        cmd.args(args)
            .env(rprobe_depmod::cache::ENV_DIR, self.cache_dir());
        if let Some(k) = kmod {
            cmd.env("RPROBE_KMOD", k);
        }
        let o = cmd.output().expect("run rprobe depmod");
        assert_no_panic(&o, "rprobe depmod");
        o
    }

    /// The index files depmod writes in a module directory (the package's own modules.order,
    /// modules.builtin and modules.builtin.modinfo left out).
    fn indexes(dir: &Path) -> Vec<(String, Vec<u8>)> {
        rprobe_depmod::outputs(&rprobe_depmod::Options::default())
            .filter_map(|(n, _)| Some((n.to_string(), std::fs::read(dir.join(n)).ok()?)))
            .collect()
    }

    /// rprobe (with its cache) then kmod on the same tree: same exit code, same messages,
    /// same files. kmod writes elsewhere (-o), so rprobe's indexes stay the files its last
    /// run wrote and an unchanged tree takes the quick answer. Returns rprobe's run.
    fn check(&self, what: &str) -> Output {
        let r = self.rprobe(&[]);
        let ours = Tree::indexes(&self.moddir());
        // kmod 30 has no -o: it runs on a copy whose old indexes are removed (a copy, not
        // hard links: a new link changes every module's ctime, part of its identity).
        let kroot = self.root.join("kmod-root");
        let _ = std::fs::remove_dir_all(&kroot);
        std::fs::create_dir_all(kroot.join("lib/modules")).expect("mkdir");
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(self.moddir())
            .arg(kroot.join("lib/modules"))
            .status()
            .expect("cp -a");
        assert!(st.success());
        let kdir = kroot.join("lib/modules").join(&self.version);
        for (n, _) in Tree::indexes(&kdir) {
            std::fs::remove_file(kdir.join(n)).expect("rm copied index");
        }
        let mut args: Vec<std::ffi::OsString> = vec!["-b".into(), kroot.clone().into()];
        args.extend([
            "-C".into(),
            self.conf.clone().into(),
            self.version.clone().into(),
        ]);
        let k = run(&kmod("depmod"), args);
        let theirs = Tree::indexes(&kdir);
        assert_eq!(code(&r), code(&k), "{what}: exit code");
        let strip = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
        let kroot_s = kroot.to_string_lossy().into_owned();
        let root_s = self.root.to_string_lossy().into_owned();
        assert_eq!(
            strip(&r),
            strip(&k).replace(&kroot_s, &root_s),
            "{what}: messages"
        );
        let names = |v: &[(String, Vec<u8>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&ours), names(&theirs), "{what}: files");
        for ((n, a), (_, b)) in ours.iter().zip(&theirs) {
            assert!(a == b, "{what}: {n} differs from kmod's");
        }
        assert!(self.cache().exists(), "{what}: the cache is kept");
        r
    }

    /// The test's own cache directory (RPROBE_DEPMOD_CACHE_DIR).
    fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    fn cache(&self) -> PathBuf {
        rprobe_depmod::cache::file_for(&self.cache_dir(), &self.moddir())
    }

    fn module(&self, rel: &str) -> PathBuf {
        self.moddir().join("kernel").join(rel)
    }
}

#[test]
fn cached_runs_equal_kmod_after_every_kind_of_change() {
    let Some(t) = Tree::new() else { return };
    t.check("cold run");
    t.check("unchanged rerun");

    // One module's content replaced by another's, its mtime put back.
    let isofs = t.module("fs/isofs/isofs.ko.xz");
    let mtime = std::fs::metadata(&isofs)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::copy(t.module("fs/udf/udf.ko.xz"), &isofs).expect("swap content");
    std::fs::File::options()
        .write(true)
        .open(&isofs)
        .and_then(|f| f.set_modified(mtime))
        .expect("restore mtime");
    t.check("content changed, mtime restored");

    // A module added, one removed, one renamed.
    let real = real_tree("k612").expect("tree");
    let dummy = real.moddir().join("kernel/drivers/net/dummy.ko.xz");
    std::fs::create_dir_all(t.moddir().join("kernel/drivers/net")).expect("mkdir");
    std::fs::copy(&dummy, t.module("drivers/net/dummy.ko.xz")).expect("add");
    t.check("module added");
    // Added beside the indexes (the module directory's own listing stands for its
    // identity, which every run's index writes change) and into a directory that already
    // held a module (its identity changes).
    std::fs::copy(&dummy, t.moddir().join("topdummy.ko.xz")).expect("add at the top");
    t.check("module added to the module directory");
    std::fs::copy(&dummy, t.module("fs/isofs/dummy2.ko.xz")).expect("add beside isofs");
    t.check("module added beside another");
    std::fs::remove_file(t.module("fs/udf/udf.ko.xz")).expect("remove");
    t.check("module removed");
    std::fs::rename(
        t.module("fs/isofs/isofs.ko.xz"),
        t.module("fs/isofs/iso9660.ko.xz"),
    )
    .expect("rename");
    t.check("module renamed");

    // The same module in another compression.
    let xfs = t.module("fs/xfs/xfs.ko.xz");
    let plain = rprobe_modfile::decompress::open(&xfs)
        .expect("decode")
        .bytes
        .to_vec();
    std::fs::write(t.module("fs/xfs/xfs.ko.zst"), Codec::Zstd.compress(&plain)).expect("zst");
    std::fs::remove_file(&xfs).expect("rm xz");
    t.check("recompressed with zstd");

    // depmod.d: a second copy in updates/, then search order and override changes.
    std::fs::create_dir_all(t.moddir().join("updates")).expect("mkdir");
    std::fs::copy(
        t.module("fs/nls/nls_utf8.ko.xz"),
        t.moddir().join("updates/nls_utf8.ko.xz"),
    )
    .expect("copy");
    std::fs::write(t.conf.join("a.conf"), "search updates built-in\n").expect("conf");
    t.check("search updates first");
    std::fs::write(t.conf.join("a.conf"), "search built-in updates\n").expect("conf");
    t.check("search built-in first");
    std::fs::write(t.conf.join("a.conf"), "override nls_utf8 * updates\n").expect("conf");
    t.check("override");

    // modules.builtin changed.
    let mut b = std::fs::read_to_string(t.moddir().join("modules.builtin")).expect("read");
    b.push_str("kernel/fs/nls/nls_cp437.ko\n");
    std::fs::write(t.moddir().join("modules.builtin"), b).expect("write");
    t.check("modules.builtin changed");

    // Damaged caches: flipped bytes, cut short, empty, another tree's.
    let good = std::fs::read(t.cache()).expect("cache");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x55;
    for (what, bytes) in [
        ("flipped cache", flipped),
        ("truncated cache", good[..good.len() / 3].to_vec()),
        ("empty cache", Vec::new()),
    ] {
        std::fs::write(t.cache(), bytes).expect("damage");
        t.check(what);
    }
    let other = Tree::new().expect("second tree");
    other.check("other tree cold");
    std::fs::copy(other.cache(), t.cache()).expect("foreign cache");
    t.check("foreign cache");
}

/// A deterministic sequence of pseudo-random numbers (no dependency needed for a test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn cache_never_changes_the_output() {
    let Some(t) = Tree::new() else { return };
    let out = t.root.join("nocache");
    let mut rng = Lcg(20261125);
    // As kmod 34, whose depmod has -o (kmod 30's has not): the uncached run writes
    // elsewhere, so the cached one's files stay its own.
    let k34 = Some("34");
    t.rprobe_as(k34, &[]);
    for step in 0..12 {
        let mut files = module_files(&t.moddir());
        files.retain(|f| f.extension().is_some_and(|e| e == "xz"));
        let a = files[rng.next(files.len())].clone();
        let b = files[rng.next(files.len())].clone();
        match rng.next(4) {
            0 => {
                std::fs::remove_file(&a).expect("rm");
            }
            1 => {
                std::fs::copy(&b, &a).expect("swap content");
            }
            2 => {
                let to = a.with_file_name(format!("renamed{step}.ko.xz"));
                std::fs::rename(&a, to).expect("rename");
            }
            _ => {
                let f = std::fs::File::options().write(true).open(&a).expect("open");
                f.set_modified(std::time::SystemTime::now()).expect("touch");
            }
        }
        let cached = t.rprobe_as(k34, &[]);
        let full = t.rprobe_as(k34, &["--no-cache", "-o", out.to_str().expect("utf-8")]);
        assert_eq!(code(&cached), code(&full), "step {step}: exit code");
        assert_eq!(cached.stderr, full.stderr, "step {step}: messages");
        let x = Tree::indexes(&t.moddir());
        let y = Tree::indexes(&out.join("lib/modules").join(&t.version));
        assert!(x == y, "step {step}: cached and uncached indexes differ");
    }
}

#[test]
fn unchanged_tree_is_not_rewritten_but_a_touched_index_is() {
    let Some(t) = Tree::new() else { return };
    let first = t.rprobe(&["-v"]);
    assert!(first.status.success());
    let written = Tree::indexes(&t.moddir());
    let stamp = |n: &str| {
        std::fs::metadata(t.moddir().join(n))
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let before = stamp("modules.dep");
    // Same tree, same options: the same messages (stdout and stderr), files left alone.
    let again = t.rprobe(&["-v"]);
    assert_eq!(again.stdout, first.stdout, "-v lines replayed");
    assert_eq!(again.stderr, first.stderr, "messages replayed");
    assert_eq!(stamp("modules.dep"), before, "modules.dep not rewritten");
    assert!(Tree::indexes(&t.moddir()) == written);
    // Other options are another run.
    let quiet = t.rprobe(&[]);
    assert!(quiet.stdout.is_empty());
    // An index removed or damaged since: written again, whole.
    std::fs::remove_file(t.moddir().join("modules.alias.bin")).expect("rm");
    std::fs::write(t.moddir().join("modules.dep"), b"damaged").expect("damage");
    t.rprobe(&[]);
    assert!(Tree::indexes(&t.moddir()) == written, "indexes restored");
    t.check("after restoring");
}
