//! Arbitrary bytes as a module file: codec detection, capped decompression, ELF parsing,
//! modinfo, exported and imported symbols (with __versions CRCs), the signature trailer,
//! and the --force rewrite of the image.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rprobe_modfile::decompress::{decompress, Compression};
use rprobe_modfile::elf::{strip_for_force, ElfModule};
use rprobe_modfile::record::{record_from_image, ReadOptions};
use rprobe_modfile::signature;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.ko");
    let _ = signature::read(data);
    let codec = Compression::detect(data);
    let Ok(mut image) = decompress(path, codec, data, 4 << 20) else {
        return;
    };
    let _ = record_from_image(path, codec, &image, ReadOptions::ALL);
    if let Ok(elf) = ElfModule::parse(path, &image) {
        let _ = elf.is_64();
        let _ = elf.section(".modinfo");
        let _ = elf.section_flags("__versions");
        let _ = elf.strings("__ksymtab_strings");
        let _ = elf.modinfo();
        let _ = elf.exports();
        let _ = elf.imports();
    }
    let _ = signature::read(&image);
    let _ = strip_for_force(path, &mut image, true, true);
});
