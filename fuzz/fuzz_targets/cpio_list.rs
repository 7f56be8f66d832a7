//! Arbitrary bytes as an initramfs image: the streaming lister (concatenated archives,
//! stacked gzip/xz/zstd members, newc headers) with a small decode cap.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_initramfs::cpio::list_reader;

fuzz_target!(|data: &[u8]| {
    let _ = list_reader(Path::new("fuzz.img"), data, 16 << 20);
});
