//! Shared helpers for the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Output;

// The helpers the crates' own tests share live in rprobe-testkit.
pub use rprobe_testkit::{empty_conf, every, kmod, kmod_depmod, link_tree, module_files, run};

/// The `rprobe` binary cargo built for these tests.
pub fn rprobe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rprobe"))
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
