//! Shared helpers for the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rprobe_testkit::{find_program, RealTree};

/// The `rprobe` binary cargo built for these tests.
pub fn rprobe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rprobe"))
}

/// A kmod tool (modinfo, depmod, modprobe, ...), which the test command installs.
pub fn kmod(tool: &str) -> PathBuf {
    find_program(tool)
        .unwrap_or_else(|| panic!("kmod's {tool} is not installed (apt-get install kmod)"))
}

/// Compares kmod's and rprobe's runs (`both` runs the two on some names) over `names` in
/// batches of 400; on a difference, finds the first name that differs on its own and
/// reports its stdout, stderr or exit code.
pub fn compare_in_batches(
    names: &[String],
    what: &str,
    both: impl Fn(&[String]) -> (Output, Output),
) {
    for chunk in names.chunks(400) {
        let (k, r) = both(chunk);
        assert_no_panic(&r, what);
        if k.stdout == r.stdout && k.stderr == r.stderr && code(&k) == code(&r) {
            continue;
        }
        for n in chunk {
            let (k, r) = both(std::slice::from_ref(n));
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            assert_eq!(
                text(&k.stdout),
                text(&r.stdout),
                "{what}: --show-depends {n}"
            );
            assert_eq!(text(&k.stderr), text(&r.stderr), "{what}: messages for {n}");
            assert_eq!(code(&k), code(&r), "{what}: exit code for {n}");
        }
        panic!("{what}: a batch differs but no single name does");
    }
}

/// Module names of a module directory's files (file names up to the first dot).
pub fn module_names(dir: &Path) -> Vec<String> {
    module_files(dir)
        .iter()
        .map(|p| {
            let b = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            b.split('.').next().unwrap_or("").to_string()
        })
        .collect()
}

/// Runs a program and returns what it printed and its status.
pub fn run<I, S>(prog: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", prog.display()))
}

/// The exit code, or a failure naming the test when the process died of a signal.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Asserts that a run did not panic (exit 101 or "panicked" on stderr).
pub fn assert_no_panic(o: &Output, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        code(o) != 101 && !err.contains("panicked"),
        "{what}: rprobe panicked: {err}"
    );
}

/// A scratch root holding lib/modules/VERSION of a real tree as hard links (the cache is
/// never written: tools only add new files beside the links).
pub fn link_tree(tree: &RealTree) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    rprobe_testkit::link_copy(
        &tree.moddir(),
        &tmp.path().join("lib/modules").join(&tree.version),
    );
    tmp
}

/// An empty configuration directory, for -C (so the host's config is not read).
pub fn empty_conf(root: &Path) -> PathBuf {
    let d = root.join("empty-conf.d");
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// Runs kmod's depmod on ROOT/lib/modules/VERSION with an empty configuration.
pub fn kmod_depmod(root: &Path, version: &str) {
    let conf = empty_conf(root);
    let o = run(
        &kmod("depmod"),
        [
            "-b".as_ref(),
            root.as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            version.as_ref(),
        ],
    );
    assert!(
        o.status.success(),
        "kmod depmod: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every module file under a directory, sorted.
pub fn module_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            let s = p.to_string_lossy();
            [".ko", ".ko.gz", ".ko.xz", ".ko.zst"]
                .iter()
                .any(|x| s.ends_with(x))
        })
        .collect();
    v.sort();
    v
}

/// Every `step`-th element, starting with the first.
pub fn every<T: Clone>(v: &[T], step: usize) -> Vec<T> {
    v.iter().step_by(step.max(1)).cloned().collect()
}

/// Every modules.* file in a directory, sorted by name.
pub fn index_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("modules."))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs rprobe's depmod on ROOT/lib/modules/VERSION with configuration `conf`; asserts it
/// succeeded.
pub fn rprobe_depmod(root: &Path, conf: &Path, version: &str) {
    let o = run(
        &rprobe(),
        [
            "depmod".as_ref(),
            "-b".as_ref(),
            root.as_os_str(),
            "-C".as_ref(),
            conf.as_os_str(),
            version.as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
