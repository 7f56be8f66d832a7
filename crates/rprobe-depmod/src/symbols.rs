//! The symbol table: the kernel's own symbols (Module.symvers or System.map) and the
//! placeholders kmod adds, before the modules' exports.

use std::collections::HashMap;
use std::path::Path;

use crate::Level;

/// A symbol in depmod's table.
pub(crate) struct Sym {
    pub(crate) owner: Option<usize>,
    pub(crate) crc: u64,
}

/// The kernel's own symbols, name to CRC (0 from System.map), as depmod's table takes them.
pub type KernelSymbols = HashMap<String, u64>;

/// `name` without its first byte when that byte is the -P prefix `prefix` (kmod's rule).
/// A prefix that does not end a character (a non-ASCII byte) is never stripped.
pub fn strip_prefix(name: &str, prefix: Option<u8>) -> &str {
    match prefix {
        Some(p) if name.as_bytes().first() == Some(&p) => name.get(1..).unwrap_or(name),
        _ => name,
    }
}

/// Parses Module.symvers text (depmod -E): `CRC SYMBOL MODULE ...` per line, whitespace
/// separated; only vmlinux's lines count. `path` only names the file in messages. Returns the
/// symbols and, for each bad CRC, kmod's error message; short lines are skipped silently.
pub fn parse_symvers(
    path: &Path,
    text: &str,
    prefix: Option<u8>,
) -> (KernelSymbols, Vec<(Level, String)>) {
    let mut table = KernelSymbols::new();
    let mut messages = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut w = line.split([' ', '\t']).filter(|s| !s.is_empty());
        let (Some(ver), Some(sym), Some(wh)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        if wh != "vmlinux" {
            continue;
        }
        let v = ver.trim_start_matches("0x").trim_start_matches("0X");
        match u64::from_str_radix(v, 16) {
            Ok(crc) => {
                table.insert(strip_prefix(sym, prefix).to_string(), crc);
            }
            Err(_) => messages.push((
                Level::Error,
                format!(
                    "{}:{} Invalid symbol version {ver}: Success",
                    path.display(),
                    n + 1
                ),
            )),
        }
    }
    (table, messages)
}

/// Parses System.map bytes (depmod -F): `ADDRESS TYPE NAME` per line; the names starting
/// with `__ksymtab_` give the kernel's exports (CRC 0). `path` only names the file in
/// messages. Returns the symbols and kmod's error for each line without three fields.
pub fn parse_system_map(
    path: &Path,
    bytes: &[u8],
    prefix: Option<u8>,
) -> (KernelSymbols, Vec<(Level, String)>) {
    let mut table = KernelSymbols::new();
    let mut messages = Vec::new();
    let text = String::from_utf8_lossy(bytes);
    for (n, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.trim_end_matches('\n');
        let mut parts = line.splitn(3, ' ');
        let (Some(_), Some(_), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            messages.push((
                Level::Error,
                format!("{}:{}: invalid line: {raw}", path.display(), n + 1),
            ));
            continue;
        };
        if let Some(s) = strip_prefix(name, prefix).strip_prefix("__ksymtab_") {
            table.insert(s.to_string(), 0);
        }
    }
    (table, messages)
}

pub(crate) fn add_fake_syms(symtab: &mut HashMap<String, Sym>) {
    for s in ["__this_module", "_GLOBAL_OFFSET_TABLE_", "TOC."] {
        symtab.entry(s.to_string()).or_insert(Sym {
            owner: None,
            crc: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symvers_takes_vmlinux_lines_and_reports_bad_crcs() {
        let text = "0x00000002\tprintk\tvmlinux\tEXPORT_SYMBOL\n\
                    0x1\tother\tdrivers/x\tEXPORT_SYMBOL\n\
                    0xZZ\tbad\tvmlinux\tEXPORT_SYMBOL\n\
                    short line\n\
                    0x3 _pre vmlinux\n";
        let (t, m) = parse_symvers(Path::new("/M"), text, Some(b'_'));
        assert_eq!(t.get("printk"), Some(&2));
        assert_eq!(t.get("pre"), Some(&3));
        assert!(!t.contains_key("other") && !t.contains_key("bad"));
        assert_eq!(
            m,
            vec![(
                Level::Error,
                "/M:3 Invalid symbol version 0xZZ: Success".to_string()
            )]
        );
    }

    #[test]
    fn system_map_takes_ksymtab_names_and_reports_short_lines() {
        let text = b"ffffffff81000000 T _stext\nffffffff82000000 r __ksymtab_printk\nbadline\n";
        let (t, m) = parse_system_map(Path::new("/S"), text, None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.get("printk"), Some(&0));
        assert_eq!(
            m,
            vec![(Level::Error, "/S:3: invalid line: badline\n".to_string())]
        );
    }

    /// A -P prefix that is not ASCII must not cut a character in two (it panicked when the
    /// parsing was inline in depmod's run: `&name[1..]` on a two-byte first character).
    #[test]
    fn non_ascii_prefix_never_splits_a_character() {
        let (t, _) = parse_symvers(Path::new("/M"), "0x1 \u{e9}x vmlinux\n", Some(0xc3));
        assert!(t.contains_key("\u{e9}x"));
        let (t, _) = parse_system_map(
            Path::new("/S"),
            "0 r \u{e9}__ksymtab_a\n".as_bytes(),
            Some(0xc3),
        );
        assert!(t.is_empty());
        assert_eq!(strip_prefix("\u{e9}", Some(0xc3)), "\u{e9}");
        assert_eq!(strip_prefix("_a", Some(b'_')), "a");
    }
}
