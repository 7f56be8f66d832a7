//! A compact image of an uncompressed module: only the sections the index readers look at.
//!
//! depmod needs a module's .modinfo, __ksymtab_strings, .symtab, .strtab, __versions and the
//! sections its `__crc_` symbols point into: about an eighth of a Debian module's bytes (the
//! rest is code, relocations, BTF and unwind tables). Reading the whole file copies all of
//! it from the page cache; [`read`] instead reads the ELF header, the section header table,
//! the section names and those sections with positioned reads, and lays them out as a small
//! ELF image: the header, the sections' bytes, then the section header table with the kept
//! sections' offsets rewritten and every other section turned into SHT_NOBITS (so reading
//! one gives no bytes, never wrong ones). [`crate::elf::ElfModule`] parses it as it parses
//! the whole file and finds the same records.
//!
//! Anything unexpected (a short file, a table or section past the end, an unknown class)
//! gives None: the caller reads the whole file and reports the problem as before, so errors
//! stay the same.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::FileExt;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::section_header::{SectionHeader, SHT_NOBITS};
use goblin::elf::Elf;

/// The sections whose bytes the record readers take by name.
const BY_NAME: [&[u8]; 5] = [
    b".modinfo",
    b"__ksymtab_strings",
    b".symtab",
    b".strtab",
    b"__versions",
];

/// Ranges closer than this are read with one call (the gap is read and dropped): about
/// what one more system call costs in copying (16 KiB read 40% more bytes for no gain).
const MERGE_GAP: u64 = 4 * 1024;

fn c_str(b: &[u8]) -> &[u8] {
    std::ffi::CStr::from_bytes_until_nul(b).map_or(b, |c| c.to_bytes())
}

/// Reads `len` bytes at `off`; None when the file is shorter.
fn read_at(file: &File, off: u64, len: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buf, off).ok()?;
    Some(buf)
}

/// The file range of a section with bytes; None for SHT_NOBITS or a range past `size`.
fn range(sh: &SectionHeader, size: u64) -> Option<(u64, u64)> {
    if sh.sh_type == SHT_NOBITS {
        return None;
    }
    let end = sh.sh_offset.checked_add(sh.sh_size)?;
    (end <= size).then_some((sh.sh_offset, end))
}

/// Writes `v` as a `width`-byte unsigned integer in the image's byte order; None when it
/// does not fit.
fn put_uint(out: &mut [u8], at: usize, width: usize, v: u64, little: bool) -> Option<()> {
    if width < 8 && v >> (8 * width) != 0 {
        return None; // does not fit (a 32-bit image past 4 GiB)
    }
    let dst = out.get_mut(at..at.checked_add(width)?)?;
    for (i, b) in dst.iter_mut().enumerate() {
        let shift = if little { 8 * i } else { 8 * (width - 1 - i) };
        *b = (v >> shift) as u8;
    }
    Some(())
}

/// The compact image of the plain ELF module `file` (`size` bytes), or None when the file
/// is not one this reader is sure about (the caller then reads it whole).
pub fn read(file: &File, size: u64) -> Option<Vec<u8>> {
    let head = read_at(file, 0, 64.min(size))?;
    if head.len() < 52 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let header = Elf::parse_header(&head).ok()?;
    let container = header.container().ok()?;
    let little = header.endianness().ok()? == Endian::Little;
    let ctx = Ctx::new(container, if little { Endian::Little } else { Endian::Big });
    let (ehsize, entsize, shoff_at, shoff_width, off_at, off_width) = match container {
        Container::Big => (64usize, 64usize, 0x28, 8, 0x18, 8),
        Container::Little => (52, 40, 0x20, 4, 0x10, 4),
    };
    if head.len() < ehsize || header.e_shentsize as usize != entsize {
        return None;
    }
    // No section header table (the whole-file reader reports that itself).
    if header.e_shoff == 0 {
        return None;
    }
    let count = header.e_shnum as usize;
    let table_len = (count as u64).checked_mul(entsize as u64)?;
    if count == 0 || header.e_shoff.checked_add(table_len)? > size {
        return None;
    }
    let table = read_at(file, header.e_shoff, table_len)?;
    let shdrs = SectionHeader::parse_from(&table, 0, count, ctx).ok()?;
    let shstrndx = header.e_shstrndx as usize;
    let (s, e) = range(shdrs.get(shstrndx)?, size)?;
    let shstrtab = read_at(file, s, e - s)?;
    if shstrtab.last() != Some(&0) {
        return None;
    }
    let name = |i: usize| c_str(shstrtab.get(shdrs[i].sh_name..).unwrap_or(&[]));

    let mut keep = vec![false; count];
    keep[shstrndx] = true;
    for (i, k) in keep.iter_mut().enumerate().skip(1) {
        if BY_NAME.contains(&name(i)) {
            *k = true;
        }
    }
    // The image is built as it is read: header, then each run of kept sections read
    // straight into place, then the section header table.
    let mut out = Vec::with_capacity(ehsize + (size / 8) as usize + table.len());
    out.extend_from_slice(&head[..ehsize]);
    let mut placed: Vec<Option<usize>> = vec![None; count];
    // The section names are read already: placed as they are, not read again.
    placed[shstrndx] = Some(out.len());
    out.extend_from_slice(&shstrtab);
    place(file, size, &shdrs, &keep, &mut placed, &mut out)?;

    // The sections the __crc_ symbols point into (their CRC values live there); found
    // through the first .symtab and .strtab, as the export reader finds them.
    let first = |n: &[u8]| (1..count).find(|&i| name(i) == n);
    let mut more = vec![false; count];
    if let (Some(st), Some(sy)) = (first(b".strtab"), first(b".symtab")) {
        let range_of = |i: usize| placed[i].map(|o| o..o + shdrs[i].sh_size as usize);
        let strtab = range_of(st).and_then(|r| out.get(r)).unwrap_or(&[]);
        let symtab = range_of(sy).and_then(|r| out.get(r)).unwrap_or(&[]);
        // Only each symbol's name offset and section index are needed here: read them in
        // place (Elf64_Sym: st_name at 0, st_shndx at 6; Elf32_Sym: at 0 and 14).
        let (symlen, shndx_at) = if container == Container::Big {
            (24, 6)
        } else {
            (16, 14)
        };
        let u32_at = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if little {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        };
        let u16_at = |b: &[u8]| {
            let a = [b[0], b[1]];
            if little {
                u16::from_le_bytes(a)
            } else {
                u16::from_be_bytes(a)
            }
        };
        if !symtab.is_empty() && symtab.len() % symlen == 0 {
            for e in symtab.chunks_exact(symlen).skip(1) {
                let name_off = u32_at(&e[..4]) as usize;
                // A prefix test: the name's end need not be found (most names are not
                // CRCs, and a NUL inside "__crc_" fails the test as it should).
                let n = strtab.get(name_off..).unwrap_or(&[]);
                let shndx = usize::from(u16_at(&e[shndx_at..shndx_at + 2]));
                if n.starts_with(b"__crc_") && shndx < count && !keep[shndx] {
                    more[shndx] = true;
                }
            }
        }
    }
    if more.iter().any(|&m| m) {
        place(file, size, &shdrs, &more, &mut placed, &mut out)?;
        for (k, m) in keep.iter_mut().zip(&more) {
            *k |= m;
        }
    }

    let mut table = table;
    for (i, sh) in shdrs.iter().enumerate() {
        let entry = i * entsize;
        match placed[i] {
            Some(at) if keep[i] => {
                put_uint(&mut table, entry + off_at, off_width, at as u64, little)?;
            }
            // Kept but without bytes (SHT_NOBITS, or index 0) and everything else.
            _ if sh.sh_type == SHT_NOBITS || i == 0 => {}
            _ => {
                put_uint(&mut table, entry + 4, 4, u64::from(SHT_NOBITS), little)?;
                put_uint(&mut table, entry + off_at, off_width, 0, little)?;
            }
        }
    }
    let shoff = out.len() as u64;
    put_uint(&mut out, shoff_at, shoff_width, shoff, little)?;
    out.extend_from_slice(&table);
    Some(out)
}

/// Reads the sections marked in `want` (and not yet placed) onto the end of `out`,
/// recording where each lands; nearby ranges are read with one call (the gap comes along).
/// None when a wanted section lies past the end of the file.
fn place(
    file: &File,
    size: u64,
    shdrs: &[SectionHeader],
    want: &[bool],
    placed: &mut [Option<usize>],
    out: &mut Vec<u8>,
) -> Option<()> {
    let mut ranges: Vec<(u64, u64, usize)> = Vec::new();
    for (i, sh) in shdrs.iter().enumerate() {
        if !want[i] || placed[i].is_some() || sh.sh_type == SHT_NOBITS {
            continue;
        }
        let (s, e) = range(sh, size)?;
        ranges.push((s, e, i));
    }
    ranges.sort_unstable();
    let mut at = 0;
    while at < ranges.len() {
        let start = ranges[at].0;
        let mut end = ranges[at].1;
        let mut last = at + 1;
        while last < ranges.len() && ranges[last].0 <= end.saturating_add(MERGE_GAP) {
            end = end.max(ranges[last].1);
            last += 1;
        }
        let base = out.len();
        let len = end - start;
        // Read straight into the vector's spare room (no zero-filling first).
        let mut f = file;
        f.seek(std::io::SeekFrom::Start(start)).ok()?;
        let got = f.take(len).read_to_end(out).ok()?;
        if got as u64 != len {
            return None;
        }
        for &(s, _, i) in &ranges[at..last] {
            placed[i] = Some(base + (s - start) as usize);
        }
        at = last;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decompress::Compression;
    use crate::record::{record_from_image, ReadOptions};
    use object::Architecture;
    use proptest::prelude::*;
    use rprobe_testkit::synth::SynthModule;
    use std::path::Path;

    const OPTS: ReadOptions = ReadOptions {
        symbols: true,
        signature: false,
        modinfo_keys: None,
        zstd_needs_size: false,
    };

    /// The record (or error) of the whole image and of its compact image, when it has one.
    fn both(image: &[u8]) -> (String, Option<String>) {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("m.ko");
        std::fs::write(&p, image).expect("write");
        let f = File::open(&p).expect("open");
        let full = record_from_image(Path::new("m.ko"), Compression::None, image, OPTS);
        let compact = read(&f, image.len() as u64).map(|c| {
            format!(
                "{:?}",
                record_from_image(Path::new("m.ko"), Compression::None, &c, OPTS)
            )
        });
        (format!("{full:?}"), compact)
    }

    fn module(arch: Architecture) -> SynthModule {
        let mut m = SynthModule::new("rich")
            .info("alias", "pci:v00008086d*sv*sd*bc*sc*i*")
            .info("depends", "plain")
            .info("softdep", "pre: crc32c")
            .export("rich_fn")
            .export("rich_other")
            .import("plain_fn")
            .import_crc("printk", None);
        m.arch = arch;
        m
    }

    #[test]
    fn same_record_on_every_class_and_byte_order() {
        for arch in [
            Architecture::X86_64,
            Architecture::I386,
            Architecture::PowerPc64,
        ] {
            let image = module(arch).elf();
            let (full, compact) = both(&image);
            assert!(full.starts_with("Ok("), "{full}");
            assert!(
                full.contains("rich_other") && full.contains("plain_fn"),
                "{full}"
            );
            assert_eq!(compact.as_deref(), Some(full.as_str()), "{arch:?}");
            let d = tempfile::tempdir().expect("tempdir");
            let p = d.path().join("m.ko");
            std::fs::write(&p, &image).expect("write");
            let c = read(&File::open(&p).expect("open"), image.len() as u64).expect("compact");
            assert!(
                c.len() < image.len(),
                "{arch:?}: {} >= {}",
                c.len(),
                image.len()
            );
        }
    }

    #[test]
    fn short_or_foreign_files_are_left_to_the_whole_reader() {
        let image = module(Architecture::X86_64).elf();
        for cut in [0, 3, 20, 60, image.len() / 2, image.len() - 1] {
            let (_, compact) = both(&image[..cut]);
            assert_eq!(compact, None, "cut at {cut}");
        }
        assert_eq!(
            both(b"not an ELF file at all, but long enough to read a header from").1,
            None
        );
    }

    /// Every module of the real 6.1 tree (plain .ko): the compact image gives the record
    /// the whole file gives.
    #[test]
    fn every_real_module_gives_the_same_record() {
        let Some(tree) = rprobe_testkit::real_tree("k61") else {
            return;
        };
        let mut n = 0;
        let mut saved = 0u64;
        for e in walkdir::WalkDir::new(tree.moddir()) {
            let e = e.expect("walk");
            if !e.file_name().to_string_lossy().ends_with(".ko") {
                continue;
            }
            let image = std::fs::read(e.path()).expect("read");
            let f = File::open(e.path()).expect("open");
            let c = read(&f, image.len() as u64)
                .unwrap_or_else(|| panic!("{}: no compact image", e.path().display()));
            let full = record_from_image(e.path(), Compression::None, &image, OPTS);
            let part = record_from_image(e.path(), Compression::None, &c, OPTS);
            assert_eq!(
                format!("{part:?}"),
                format!("{full:?}"),
                "{}",
                e.path().display()
            );
            n += 1;
            saved += (image.len() - c.len()) as u64;
        }
        assert!(n > 4000, "{n} modules");
        assert!(saved > 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Damaged images: the compact reader either declines or finds exactly what the
        /// whole-file reader finds (the same record or the same error).
        #[test]
        fn damage_never_changes_the_answer(
            arch in 0usize..3,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        ) {
            let arch = [Architecture::X86_64, Architecture::I386, Architecture::PowerPc64][arch];
            let mut image = module(arch).elf();
            for (i, b) in flips {
                let at = i.index(image.len());
                image[at] = b;
            }
            let (full, compact) = both(&image);
            if let Some(c) = compact {
                prop_assert_eq!(c, full);
            }
        }
    }
}
