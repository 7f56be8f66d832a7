//! Arbitrary text as a depmod.d file (written to a temporary directory, since depmod's
//! configuration is read from paths), plus the line joiner and kernel-version matcher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rprobe_index::conf::logical_lines;
use rprobe_index::depmod::config::{kernel_matches, Config, Notes};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = logical_lines(&text);
    let first = text.lines().next().unwrap_or_default();
    let _ = kernel_matches(first, "6.1.0-28-amd64");
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let file = dir.path().join("fuzz.conf");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    let mut notes = Notes::new();
    let _ = Config::load(&[dir.path().to_path_buf()], "6.1.0-28-amd64", &mut notes);
});
