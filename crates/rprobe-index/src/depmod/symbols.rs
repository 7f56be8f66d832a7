//! The symbol table: the kernel's own symbols (Module.symvers or System.map) and the
//! placeholders kmod adds, before the modules' exports.

use std::collections::HashMap;

/// A symbol in depmod's table.
pub(crate) struct Sym {
    pub(crate) owner: Option<usize>,
    pub(crate) crc: u64,
}

pub(crate) fn add_fake_syms(symtab: &mut HashMap<String, Sym>) {
    for s in ["__this_module", "_GLOBAL_OFFSET_TABLE_", "TOC."] {
        symtab.entry(s.to_string()).or_insert(Sym {
            owner: None,
            crc: 0,
        });
    }
}
