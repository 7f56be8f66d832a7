//! Arbitrary bytes as Module.symvers (depmod -E) and System.map (depmod -F): the parsers
//! never panic, take only what the formats allow and name the file in every message.
//! The first byte picks the -P symbol prefix (0: none), the rest is the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_depmod::symbols::{parse_symvers, parse_system_map, strip_prefix};
use rprobe_depmod::Level;

fuzz_target!(|data: &[u8]| {
    let Some((&p, text)) = data.split_first() else {
        return;
    };
    let prefix = (p != 0).then_some(p);
    let lines = text.split(|&c| c == b'\n').count();

    let path = Path::new("/fuzz/Module.symvers");
    // depmod reads Module.symvers as UTF-8 text (a file that is not is an I/O error).
    let symvers = String::from_utf8_lossy(text);
    let (table, messages) = parse_symvers(path, &symvers, prefix);
    assert!(table.len() <= lines && messages.len() <= lines);
    for (lv, m) in &messages {
        assert_eq!(*lv, Level::Error);
        assert!(m.starts_with("/fuzz/Module.symvers:"), "{m}");
    }
    for name in table.keys() {
        // Fields are split on blanks, so a name holds none (nor a line break).
        assert!(!name.contains([' ', '\t', '\n']), "{name:?}");
    }

    let path = Path::new("/fuzz/System.map");
    let (table, messages) = parse_system_map(path, text, prefix);
    assert!(table.len() <= lines && messages.len() <= lines);
    for (lv, m) in &messages {
        assert_eq!(*lv, Level::Error);
        assert!(m.starts_with("/fuzz/System.map:"), "{m}");
    }
    for (name, crc) in &table {
        assert_eq!(*crc, 0, "System.map has no CRCs");
        assert!(!name.contains('\n'), "{name:?}");
    }

    let s = String::from_utf8_lossy(text);
    let stripped = strip_prefix(&s, prefix);
    assert!(s.ends_with(stripped) && s.len() - stripped.len() <= 1);
});
