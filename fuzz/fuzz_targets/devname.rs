//! Arbitrary bytes as modules.devname (what `kmod static-nodes` reads): each line parses
//! without panicking, and what is accepted is what the format allows: two blank-free words,
//! a type 'c' or 'b', and major:minor numbers that fit and read back as written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rprobe_index::devname::parse_line;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&c| c == b'\n') {
        let Some(e) = parse_line(line) else {
            continue;
        };
        assert!(e.kind == 'c' || e.kind == 'b', "{e:?}");
        for w in [&e.module, &e.devname] {
            assert!(!w.is_empty(), "{e:?}");
            assert!(
                !w.contains([' ', '\t', '\n', '\r', '\x0b', '\x0c']),
                "{e:?}"
            );
        }
        // Formatting the entry back and parsing it again gives the same entry (words that
        // were valid UTF-8 come back unchanged).
        if std::str::from_utf8(line).is_ok() {
            let again = format!(
                "{} {} {}{}:{}",
                e.module, e.devname, e.kind, e.major, e.minor
            );
            assert_eq!(parse_line(again.as_bytes()), Some(e.clone()), "{again:?}");
        }
    }
});
