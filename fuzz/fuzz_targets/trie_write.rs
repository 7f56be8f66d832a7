//! Arbitrary keys, values and priorities into the index writer, then read back: the
//! writer never panics, refuses exactly the keys that are not 7-bit ASCII without NUL and
//! the values that hold a NUL, and every accepted key reads back its lowest-priority (then
//! newest) value from both layouts (kmod 30's root last, kmod 34's root first), which are
//! the same length and dump the same entries.
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_index::index::{Layout, Trie, TrieBuilder};

fuzz_target!(|data: &[u8]| {
    // Records: priority byte, then key and value separated by '\n', records by 0xff.
    let mut b = TrieBuilder::new();
    // The model: for each accepted key, its lowest priority and, among those, the newest
    // value; plus how many entries were accepted.
    let mut best: HashMap<String, (u32, String)> = HashMap::new();
    let mut accepted = 0usize;
    for rec in data.split(|&c| c == 0xff) {
        let Some((&prio, rest)) = rec.split_first() else {
            continue;
        };
        let mut parts = rest.splitn(2, |&c| c == b'\n');
        let key = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let value = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let prio = u32::from(prio % 4);
        // Keys: 7-bit ASCII without NUL (they index 128-slot tables); values: any byte but NUL.
        let good_key = key.bytes().all(|c| c != 0 && c < 0x80);
        let good_value = !value.bytes().any(|c| c == 0);
        match b.insert(&key, &value, prio) {
            Ok(_) => {
                assert!(good_key && good_value);
                accepted += 1;
                match best.get_mut(&key) {
                    Some(e) if prio <= e.0 => *e = (prio, value),
                    Some(_) => {}
                    None => {
                        best.insert(key, (prio, value));
                    }
                }
            }
            Err(_) => assert!(!(good_key && good_value)),
        }
    }
    let post = b.to_bytes();
    let pre = b.to_bytes_as(Layout::PreOrder);
    assert_eq!(post.len(), pre.len(), "the same nodes in either order");
    let t = Trie::from_bytes(Path::new("w.bin"), post).expect("own output reads");
    let z = Trie::from_bytes(Path::new("z.bin"), pre).expect("own output reads");
    assert_eq!(z.layout(), Layout::PreOrder);
    for (i, (key, (_, value))) in best.iter().enumerate() {
        for t in [&t, &z] {
            assert_eq!(
                t.search(key).expect("own output").as_deref(),
                Some(value.as_str()),
                "key {key:?}"
            );
        }
        // A wildcard lookup walks the whole trie at worst: a bounded number per input keeps
        // each input's cost linear in its size.
        if i < 8 {
            assert_eq!(
                t.search_wild(key).expect("own output"),
                z.search_wild(key).expect("own output")
            );
        }
    }
    let entries = t.entries().expect("own output");
    assert_eq!(entries.len(), accepted);
    assert_eq!(entries, z.entries().expect("own output"));
});
