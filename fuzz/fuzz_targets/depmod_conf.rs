//! Arbitrary text as a depmod.d file (written to one temporary directory kept for the
//! run, since depmod's configuration is read from paths), plus the line joiner and
//! kernel-version matcher.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rprobe_index::conf::logical_lines;
use rprobe_index::depmod::config::{kernel_matches, Config, Notes};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = logical_lines(&text);
    let first = text.lines().next().unwrap_or_default();
    let _ = kernel_matches(first, "6.1.0-28-amd64");
    let dir = conf_dir();
    let file = dir.path().join("fuzz.conf");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let mut notes = Notes::new();
    let _ = Config::load(&[dir.path().to_path_buf()], "6.1.0-28-amd64", &mut notes);
});

/// One directory for the whole run (memory-backed when /dev/shm exists); each input
/// overwrites the same file, so no input pays for making and removing a directory.
fn conf_dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temporary directory")
    })
}
