//! Arbitrary bytes as depmod's record cache (a file in its cache directory): decoding never panics,
//! and whatever it accepts answers every question without panicking.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_depmod::cache::{Cache, FileKey};

fuzz_target!(|data: &[u8]| {
    let Some(mut cache) = Cache::decode(std::io::Cursor::new(data.to_vec()), "/m") else {
        return;
    };
    let key = FileKey::of(Path::new("/")).expect("/ exists");
    let modules: Vec<(String, FileKey)> = cache.header.modules.clone();
    let _ = cache.unchanged(cache.header.inputs, &modules, Path::new("/nonexistent"));
    for (path, k) in &modules {
        let _ = cache.take(path, k);
        let _ = cache.take(path, &key);
    }
});
