//! Arbitrary bytes as a modules.*.bin index: header check, exact and wildcard lookups of
//! keys taken from the input, and the full dump.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_index::index::Trie;

fuzz_target!(|data: &[u8]| {
    // The first byte picks how many trailing bytes form the lookup key.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let k = (n as usize % 32).min(rest.len());
    let (bytes, key) = rest.split_at(rest.len() - k);
    let key = String::from_utf8_lossy(key);
    let Ok(t) = Trie::from_bytes(Path::new("fuzz.bin"), bytes.to_vec()) else {
        return;
    };
    let _ = t.search(&key);
    let _ = t.search_wild(&key);
    let _ = t.search_wild("pci:v00008086d00001234sv00000000sd00000000bc02sc00i00");
    let _ = t.entries();
});
