//! Reading the parts of a relocatable ELF module that module tools need: the .modinfo
//! strings, the exported symbols, the undefined symbols with their CRCs, and the
//! sections. 32- and 64-bit, both byte orders. Headers and tables are parsed with goblin;
//! every offset is checked against the file before it is used.

use std::path::Path;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::section_header::{SectionHeader, SHT_NOBITS};
use goblin::elf::sym::{Sym, STB_WEAK};
use goblin::elf::Elf;
use serde::{Deserialize, Serialize};

use crate::error::BadElfKind;
use crate::{Error, Result};

const SHN_UNDEF: usize = 0;
const SHN_ABS: usize = 0xfff1;

/// A symbol a module exports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// The symbol name.
    pub name: String,
    /// Its CRC when the module carries __crc_ symbols (0 otherwise, as kmod).
    pub crc: u64,
}

/// A symbol a module needs from the kernel or other modules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The symbol name.
    pub name: String,
    /// Its CRC from __versions (0 when absent, as kmod).
    pub crc: u64,
    /// A weak reference: the module loads without it.
    pub weak: bool,
}

/// A parsed module image. Borrows the bytes.
pub struct ElfModule<'a> {
    path: &'a Path,
    data: &'a [u8],
    ctx: Ctx,
    shdrs: Vec<SectionHeader>,
    shstrtab: &'a [u8],
    shoff: usize,
    /// .symtab parsed once (exports and imports both read it).
    syms: std::cell::OnceCell<Option<(Vec<Sym>, &'a [u8])>>,
}

impl<'a> ElfModule<'a> {
    /// Parses the ELF header and section table of `data`; `path` names the file in errors.
    pub fn parse(path: &'a Path, data: &'a [u8]) -> Result<ElfModule<'a>> {
        let bad = |r: &str| Error::bad_elf(path, r);
        if data.len() < 4 || &data[..4] != b"\x7fELF" {
            return Err(Error::bad_elf_kind(path, BadElfKind::NotElf));
        }
        if data.len() < 16 {
            return Err(Error::bad_elf_kind(path, BadElfKind::Truncated));
        }
        let header = Elf::parse_header(data).map_err(|e| bad(&format!("ELF header: {e}")))?;
        let container = header
            .container()
            .map_err(|e| bad(&format!("ELF class: {e}")))?;
        let endian = header
            .endianness()
            .map_err(|e| bad(&format!("ELF byte order: {e}")))?;
        let ctx = Ctx::new(container, endian);
        let entsize = match container {
            Container::Big => 64,
            Container::Little => 40,
        };
        let count = header.e_shnum as usize;
        if count == 0 {
            return Err(bad("no section headers"));
        }
        if header.e_shentsize as usize != entsize {
            return Err(bad(&format!(
                "section header size {} (expected {entsize})",
                header.e_shentsize
            )));
        }
        let end = (header.e_shoff as usize)
            .checked_add(count * entsize)
            .filter(|&e| header.e_shoff as usize <= data.len() && e <= data.len());
        if end.is_none() {
            return Err(bad(
                "truncated: the section header table lies past the end of the file",
            ));
        }
        let shdrs = SectionHeader::parse(data, header.e_shoff as usize, count, ctx)
            .map_err(|e| bad(&format!("section headers: {e}")))?;
        let mut m = ElfModule {
            path,
            data,
            ctx,
            shdrs,
            shstrtab: &[],
            shoff: header.e_shoff as usize,
            syms: std::cell::OnceCell::new(),
        };
        let shstrndx = header.e_shstrndx as usize;
        let shstrtab = m
            .section_bytes(shstrndx)
            .ok_or_else(|| bad("section name table missing or past the end of the file"))?;
        if shstrtab.last() != Some(&0) {
            return Err(bad("section name table does not end with NUL"));
        }
        m.shstrtab = shstrtab;
        Ok(m)
    }

    /// True for a 64-bit module.
    pub fn is_64(&self) -> bool {
        self.ctx.container == Container::Big
    }

    fn little(&self) -> bool {
        self.ctx.le == Endian::Little
    }

    fn read_uint(&self, bytes: &[u8], size: usize) -> u64 {
        let mut v = 0u64;
        if self.little() {
            for (i, b) in bytes.iter().take(size).enumerate() {
                v |= (*b as u64) << (8 * i);
            }
        } else {
            for b in bytes.iter().take(size) {
                v = (v << 8) | *b as u64;
            }
        }
        v
    }

    fn section_bytes(&self, idx: usize) -> Option<&'a [u8]> {
        let sh = self.shdrs.get(idx)?;
        if sh.sh_type == SHT_NOBITS {
            return Some(&[]);
        }
        let start = usize::try_from(sh.sh_offset).ok()?;
        let len = usize::try_from(sh.sh_size).ok()?;
        self.data.get(start..start.checked_add(len)?)
    }

    fn shdr_offset(&self, idx: usize) -> usize {
        let entsize = if self.is_64() { 64 } else { 40 };
        // e_shoff was checked against the file when parsing.
        let e_shoff = self.shoff;
        e_shoff + idx * entsize
    }

    fn section_index(&self, name: &str) -> Option<usize> {
        (1..self.shdrs.len()).find(|&i| {
            let off = self.shdrs[i].sh_name;
            c_str(self.shstrtab.get(off..).unwrap_or(&[])) == name.as_bytes()
        })
    }

    /// The sh_flags of the first section called `name`.
    pub fn section_flags(&self, name: &str) -> Option<u64> {
        self.section_index(name).map(|i| self.shdrs[i].sh_flags)
    }

    /// The bytes of the first section called `name`. `Ok(None)` when there is none; an
    /// error when it claims bytes past the end of the file.
    pub fn section(&self, name: &str) -> Result<Option<&'a [u8]>> {
        match self.section_index(name) {
            None => Ok(None),
            Some(i) => self.section_bytes(i).map(Some).ok_or_else(|| {
                Error::bad_elf(
                    self.path,
                    format!("section {name} lies past the end of the file (truncated?)"),
                )
            }),
        }
    }

    /// The NUL-separated strings of a section, as kmod splits them: leading and repeated
    /// NULs skipped, a last string without its NUL kept.
    pub fn strings(&self, name: &str) -> Result<Vec<&'a [u8]>> {
        let Some(mut s) = self.section(name)? else {
            return Ok(Vec::new());
        };
        while s.len() > 1 && s[0] == 0 {
            s = &s[1..];
        }
        if s.len() <= 1 {
            return Ok(Vec::new());
        }
        Ok(s.split(|&b| b == 0).filter(|p| !p.is_empty()).collect())
    }

    /// The .modinfo entries in file order, split at the first '=' (a key without '=' gets
    /// an empty value). Repeated keys are kept.
    pub fn modinfo(&self) -> Result<Vec<(String, String)>> {
        self.modinfo_where(|_| true)
    }

    /// The .modinfo pairs whose key (the bytes before the first '=') `keep` accepts.
    pub fn modinfo_where(&self, keep: impl Fn(&[u8]) -> bool) -> Result<Vec<(String, String)>> {
        Ok(self
            .strings(".modinfo")?
            .into_iter()
            .filter(|s| keep(s.split(|&b| b == b'=').next().unwrap_or_default()))
            .map(|s| {
                let s = String::from_utf8_lossy(s);
                match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (s.to_string(), String::new()),
                }
            })
            .collect())
    }

    fn symtab(&self) -> Result<Option<&(Vec<Sym>, &'a [u8])>> {
        if let Some(v) = self.syms.get() {
            return Ok(v.as_ref());
        }
        let (Some(strtab), Some(symtab)) = (self.section(".strtab")?, self.section(".symtab")?)
        else {
            return Ok(self.syms.get_or_init(|| None).as_ref());
        };
        let symlen = if self.is_64() { 24 } else { 16 };
        if symtab.len() % symlen != 0 {
            return Ok(self.syms.get_or_init(|| None).as_ref());
        }
        let count = symtab.len() / symlen;
        let syms = Sym::parse(symtab, 0, count, self.ctx)
            .map_err(|e| Error::bad_elf(self.path, format!(".symtab: {e}")))?;
        Ok(self.syms.get_or_init(|| Some((syms, strtab))).as_ref())
    }

    fn resolve_crc(&self, value: u64, shndx: usize) -> u64 {
        if shndx == SHN_ABS || shndx == SHN_UNDEF {
            return value;
        }
        let Some(sec) = self.section_bytes(shndx) else {
            return u64::MAX;
        };
        match usize::try_from(value)
            .ok()
            .and_then(|v| sec.get(v..v.checked_add(4)?))
        {
            Some(b) => self.read_uint(b, 4),
            None => u64::MAX,
        }
    }

    /// The exported symbols: from the __crc_ symbols of .symtab when there are any (with
    /// their CRCs), otherwise from __ksymtab_strings, in file order, as kmod reads them.
    pub fn exports(&self) -> Result<Vec<Export>> {
        if let Some((syms, strtab)) = self.symtab()? {
            if syms.iter().skip(1).all(|s| s.st_name < strtab.len()) {
                let out: Vec<Export> = syms
                    .iter()
                    .skip(1)
                    .filter_map(|s| {
                        // Most symbols are not CRCs: test the prefix before finding the end.
                        let name = strtab[s.st_name..].strip_prefix(b"__crc_")?;
                        let name = c_str(name);
                        Some(Export {
                            name: String::from_utf8_lossy(name).into_owned(),
                            crc: self.resolve_crc(s.st_value, s.st_shndx),
                        })
                    })
                    .collect();
                if !out.is_empty() {
                    return Ok(out);
                }
            }
        }
        Ok(self
            .strings("__ksymtab_strings")?
            .into_iter()
            .map(|s| Export {
                name: String::from_utf8_lossy(s).into_owned(),
                crc: 0,
            })
            .collect())
    }

    /// The entries of __versions in file order, each (CRC, symbol) with a leading '.'
    /// dropped from the name, as kmod's `--show-modversions` lists them. `Ok(None)` when
    /// the module has no __versions section; an error when its size is not a whole number
    /// of 64-byte entries.
    pub fn modversions(&self) -> Result<Option<Vec<(u64, String)>>> {
        let verlen = 64;
        let crclen = if self.is_64() { 8 } else { 4 };
        let Some(v) = self.section("__versions")? else {
            return Ok(None);
        };
        if v.len() % verlen != 0 {
            return Err(Error::bad_elf(
                self.path,
                format!(
                    "__versions holds {} bytes, not a multiple of {verlen}",
                    v.len()
                ),
            ));
        }
        Ok(Some(
            v.chunks(verlen)
                .map(|e| {
                    let name = c_str(&e[crclen..]);
                    let name = name.strip_prefix(b".").unwrap_or(name);
                    (
                        self.read_uint(&e[..crclen], crclen),
                        String::from_utf8_lossy(name).into_owned(),
                    )
                })
                .collect(),
        ))
    }

    /// The undefined symbols of .symtab in table order, each with its CRC from __versions,
    /// then the __versions entries no symbol named (module_layout), as kmod lists them.
    pub fn imports(&self) -> Result<Vec<Import>> {
        let Some((syms, strtab)) = self.symtab()? else {
            return Err(Error::bad_elf(
                self.path,
                "no symbol table (.symtab/.strtab)",
            ));
        };
        let verlen = 64; // struct modversion_info: crc + name, 64 bytes on 32 and 64 bits
        let crclen = if self.is_64() { 8 } else { 4 };
        let versions: Vec<(u64, &[u8])> = match self.section("__versions")? {
            Some(v) if v.len() % verlen == 0 => v
                .chunks(verlen)
                .map(|e| (self.read_uint(&e[..crclen], crclen), c_str(&e[crclen..])))
                .collect(),
            _ => Vec::new(),
        };
        // The first entry of each name, as a linear search would find it.
        let mut by_name: std::collections::HashMap<&[u8], usize> =
            std::collections::HashMap::with_capacity(versions.len());
        for (i, (_, n)) in versions.iter().enumerate() {
            by_name.entry(n).or_insert(i);
        }
        let mut visited = vec![false; versions.len()];
        let mut out = Vec::new();
        for s in syms.iter().skip(1) {
            if s.st_shndx != SHN_UNDEF {
                continue;
            }
            let name = strtab.get(s.st_name..).ok_or_else(|| {
                Error::bad_elf(
                    self.path,
                    format!("a symbol name lies past the end of .strtab ({})", s.st_name),
                )
            })?;
            let name = c_str(name);
            if name.is_empty() {
                continue;
            }
            let crc = match by_name.get(name).copied() {
                Some(i) => {
                    visited[i] = true;
                    versions[i].0
                }
                None => 0,
            };
            out.push(Import {
                name: String::from_utf8_lossy(name).into_owned(),
                crc,
                weak: s.st_bind() == STB_WEAK,
            });
        }
        for (i, (crc, name)) in versions.iter().enumerate() {
            if !visited[i] {
                out.push(Import {
                    name: String::from_utf8_lossy(name).into_owned(),
                    crc: *crc,
                    weak: false,
                });
            }
        }
        Ok(out)
    }
}

/// What `--force-modversion` and `--force-vermagic` do to a module image before
/// init_module, as kmod does: clear SHF_ALLOC on __versions (the kernel then ignores the
/// symbol versions) and blank the `vermagic=` string in .modinfo. `path` names the file in
/// errors.
pub fn strip_for_force(
    path: &Path,
    image: &mut [u8],
    modversions: bool,
    vermagic: bool,
) -> Result<()> {
    const SHF_ALLOC: u64 = 2;
    let (versions_flags, modinfo) = {
        let m = ElfModule::parse(path, image)?;
        let flags_at = m.section_index("__versions").map(|i| {
            let base = m.shdr_offset(i);
            if m.is_64() {
                (base + 8, 8usize, m.little())
            } else {
                (base + 8, 4usize, m.little())
            }
        });
        let modinfo = m.section_index(".modinfo").and_then(|i| {
            let sh = &m.shdrs[i];
            let start = usize::try_from(sh.sh_offset).ok()?;
            let len = usize::try_from(sh.sh_size).ok()?;
            (start.checked_add(len)? <= image.len()).then_some((start, len))
        });
        (flags_at, modinfo)
    };
    if modversions {
        if let Some((off, size, little)) = versions_flags {
            let b = image
                .get_mut(off..off + size)
                .ok_or_else(|| Error::bad_elf(path, "section header past the end"))?;
            let mut v = 0u64;
            for (i, x) in b.iter().enumerate() {
                v |= if little {
                    (*x as u64) << (8 * i)
                } else {
                    (*x as u64) << (8 * (size - 1 - i))
                };
            }
            v &= !SHF_ALLOC;
            for (i, x) in b.iter_mut().enumerate() {
                *x = if little {
                    (v >> (8 * i)) as u8
                } else {
                    (v >> (8 * (size - 1 - i))) as u8
                };
            }
        }
    }
    if vermagic {
        if let Some((start, len)) = modinfo {
            let sec = &mut image[start..start + len];
            let mut i = 0;
            while i < sec.len() {
                if sec[i] == 0 {
                    i += 1;
                    continue;
                }
                let end = sec[i..]
                    .iter()
                    .position(|&c| c == 0)
                    .map(|n| i + n)
                    .unwrap_or(sec.len());
                if sec[i..end].starts_with(b"vermagic=") {
                    sec[i..end].fill(0);
                    break;
                }
                i = end;
            }
        }
    }
    Ok(())
}

/// The bytes up to the first NUL (all of them when there is none).
fn c_str(b: &[u8]) -> &[u8] {
    // CStr's search is the vectorised memchr, not a byte loop.
    std::ffi::CStr::from_bytes_until_nul(b).map_or(b, |c| c.to_bytes())
}
