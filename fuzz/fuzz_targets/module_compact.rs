//! Arbitrary bytes as an uncompressed module file read through depmod's compact reader
//! (only the sections the index needs, by positioned reads): it never panics, and when it
//! gives an image, that image's record (or error) is exactly the whole file's.
#![no_main]

use std::io::Write;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_modfile::compact;
use rprobe_modfile::decompress::Compression;
use rprobe_modfile::record::{record_from_image, ReadOptions};

const OPTS: ReadOptions = ReadOptions {
    symbols: true,
    signature: false,
    modinfo_keys: None,
    zstd_needs_size: false,
};

fuzz_target!(|data: &[u8]| {
    let Ok(mut f) = tempfile::tempfile() else {
        return;
    };
    if f.write_all(data).is_err() {
        return;
    }
    let Some(image) = compact::read(&f, data.len() as u64) else {
        return;
    };
    let path = Path::new("fuzz.ko");
    let full = record_from_image(path, Compression::None, data, OPTS);
    let part = record_from_image(path, Compression::None, &image, OPTS);
    assert_eq!(format!("{part:?}"), format!("{full:?}"));
});
