//! Arbitrary text as a depmod.d file (written to one temporary directory kept for the
//! run, since depmod's configuration is read from paths), plus the line joiner and
//! kernel-version matcher.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rprobe_index::conf::logical_lines;
use rprobe_depmod::config::{kernel_matches, Config, Notes};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = logical_lines(&text);
    let first = text.lines().next().unwrap_or_default();
    let _ = kernel_matches(first, "6.1.0-28-amd64");
    let dir = conf_dir();
    let file = dir.join("fuzz.conf");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let mut notes = Notes::new();
    let _ = Config::load(&[dir.to_path_buf()], "6.1.0-28-amd64", &mut notes);
});

/// One directory for the whole run ([`rprobe_fuzz::scratch_dir`]); each input overwrites
/// the same file, so no input pays for making and removing a directory.
fn conf_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| rprobe_fuzz::scratch_dir("depmod_conf"))
}
