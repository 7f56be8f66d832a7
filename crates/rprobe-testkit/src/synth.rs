//! Synthetic kernel modules for tests: relocatable ELF files written with the `object`
//! crate, carrying chosen .modinfo entries, exported symbols (__ksymtab_strings and
//! __crc_ symbols), undefined symbols with CRCs in __versions, and optionally a signature
//! trailer; written into a module tree in any compression.

use std::io::Write;
use std::path::{Path, PathBuf};

use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};

/// How a synthetic module file is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// .ko
    None,
    /// .ko.gz
    Gzip,
    /// .ko.xz
    Xz,
    /// .ko.zst
    Zstd,
}

impl Codec {
    /// The file name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Codec::None => ".ko",
            Codec::Gzip => ".ko.gz",
            Codec::Xz => ".ko.xz",
            Codec::Zstd => ".ko.zst",
        }
    }

    /// Compresses bytes with this codec.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            Codec::None => data.to_vec(),
            Codec::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(data).expect("in-memory gzip");
                e.finish().expect("in-memory gzip")
            }
            Codec::Xz => {
                let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(data).expect("in-memory xz");
                e.finish().expect("in-memory xz")
            }
            Codec::Zstd => zstd::encode_all(data, 3).expect("in-memory zstd"),
        }
    }
}

/// A module to synthesise. Build with the methods, then [`SynthModule::elf`] or
/// [`SynthModule::write`].
#[derive(Clone, Debug)]
pub struct SynthModule {
    /// The module name (file base name).
    pub name: String,
    /// .modinfo entries, in order.
    pub modinfo: Vec<(String, String)>,
    /// Exported symbols with CRCs.
    pub exports: Vec<(String, u32)>,
    /// Needed symbols with CRCs (None: no __versions entry).
    pub imports: Vec<(String, Option<u32>)>,
    /// Signature trailer: (signer, key id, signature bytes), X509 id type, sha256.
    pub signature: Option<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    /// Target: x86_64 (default), i386, or big-endian ppc64.
    pub arch: Architecture,
    /// Leave out the .modinfo section entirely.
    pub no_modinfo: bool,
    /// Drop the NUL after the last .modinfo string.
    pub modinfo_unterminated: bool,
}

impl SynthModule {
    /// A module with `name=` and a vermagic in its modinfo, nothing else.
    pub fn new(name: &str) -> SynthModule {
        SynthModule {
            name: name.to_string(),
            modinfo: vec![
                ("name".into(), name.replace('-', "_")),
                (
                    "vermagic".into(),
                    "6.1.0-synth SMP mod_unload modversions ".into(),
                ),
            ],
            exports: Vec::new(),
            imports: Vec::new(),
            signature: None,
            arch: Architecture::X86_64,
            no_modinfo: false,
            modinfo_unterminated: false,
        }
    }

    /// Adds a .modinfo entry.
    pub fn info(mut self, key: &str, value: &str) -> Self {
        self.modinfo.push((key.into(), value.into()));
        self
    }

    /// Exports a symbol (with a CRC).
    pub fn export(mut self, sym: &str) -> Self {
        let crc = sym
            .bytes()
            .fold(0x1234_5678u32, |a, b| a.rotate_left(5) ^ b as u32);
        self.exports.push((sym.into(), crc));
        self
    }

    /// Needs a symbol, with the CRC the exporter has.
    pub fn import(mut self, sym: &str) -> Self {
        let crc = sym
            .bytes()
            .fold(0x1234_5678u32, |a, b| a.rotate_left(5) ^ b as u32);
        self.imports.push((sym.into(), Some(crc)));
        self
    }

    /// Needs a symbol with a chosen CRC (None: no __versions entry).
    pub fn import_crc(mut self, sym: &str, crc: Option<u32>) -> Self {
        self.imports.push((sym.into(), crc));
        self
    }

    /// Appends a signature trailer.
    pub fn signed(mut self, signer: &[u8], key_id: &[u8], sig: &[u8]) -> Self {
        self.signature = Some((signer.to_vec(), key_id.to_vec(), sig.to_vec()));
        self
    }

    /// The module's ELF image (with its signature trailer, if any).
    pub fn elf(&self) -> Vec<u8> {
        let endian = match self.arch {
            Architecture::PowerPc64 | Architecture::S390x | Architecture::Sparc64 => {
                Endianness::Big
            }
            _ => Endianness::Little,
        };
        let is64 = !matches!(self.arch, Architecture::I386 | Architecture::Arm);
        let mut obj = Object::new(BinaryFormat::Elf, self.arch, endian);
        if !self.no_modinfo {
            let sec = obj.add_section(Vec::new(), b".modinfo".to_vec(), SectionKind::ReadOnlyData);
            let mut data = Vec::new();
            for (k, v) in &self.modinfo {
                data.extend_from_slice(format!("{k}={v}").as_bytes());
                data.push(0);
            }
            if self.modinfo_unterminated {
                data.pop();
            }
            obj.set_section_data(sec, data, 1);
        }
        let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        obj.set_section_data(text, vec![0xc3; 16], 16);
        if !self.exports.is_empty() {
            let sec = obj.add_section(
                Vec::new(),
                b"__ksymtab_strings".to_vec(),
                SectionKind::ReadOnlyData,
            );
            let mut data = Vec::new();
            for (s, _) in &self.exports {
                data.extend_from_slice(s.as_bytes());
                data.push(0);
            }
            obj.set_section_data(sec, data, 1);
            for (s, crc) in &self.exports {
                obj.add_symbol(Symbol {
                    name: s.as_bytes().to_vec(),
                    value: 0,
                    size: 1,
                    kind: SymbolKind::Text,
                    scope: SymbolScope::Dynamic,
                    weak: false,
                    section: SymbolSection::Section(text),
                    flags: SymbolFlags::None,
                });
                obj.add_symbol(Symbol {
                    name: format!("__crc_{s}").into_bytes(),
                    value: *crc as u64,
                    size: 0,
                    kind: SymbolKind::Data,
                    scope: SymbolScope::Dynamic,
                    weak: false,
                    section: SymbolSection::Absolute,
                    flags: SymbolFlags::None,
                });
            }
        }
        let mut versions = Vec::new();
        let entry = 64usize;
        let crclen = if is64 { 8 } else { 4 };
        for (s, crc) in &self.imports {
            obj.add_symbol(Symbol {
                name: s.as_bytes().to_vec(),
                value: 0,
                size: 0,
                kind: SymbolKind::Unknown,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Undefined,
                flags: SymbolFlags::None,
            });
            if let Some(crc) = crc {
                let mut e = vec![0u8; entry];
                let c = *crc as u64;
                let bytes: Vec<u8> = match (endian, crclen) {
                    (Endianness::Little, 8) => c.to_le_bytes().to_vec(),
                    (Endianness::Big, 8) => c.to_be_bytes().to_vec(),
                    (Endianness::Little, _) => (c as u32).to_le_bytes().to_vec(),
                    (Endianness::Big, _) => (c as u32).to_be_bytes().to_vec(),
                };
                e[..crclen].copy_from_slice(&bytes);
                let n = s.len().min(entry - crclen - 1);
                e[crclen..crclen + n].copy_from_slice(&s.as_bytes()[..n]);
                versions.extend_from_slice(&e);
            }
        }
        if !versions.is_empty() {
            let sec = obj.add_section(
                Vec::new(),
                b"__versions".to_vec(),
                SectionKind::ReadOnlyData,
            );
            obj.set_section_data(sec, versions, 8);
        }
        let mut elf = obj
            .write()
            .unwrap_or_else(|e| panic!("object cannot write {}: {e}", self.name));
        if let Some((signer, key, sig)) = &self.signature {
            elf.extend_from_slice(signer);
            elf.extend_from_slice(key);
            elf.extend_from_slice(sig);
            elf.extend_from_slice(&[0, 4, 1, signer.len() as u8, key.len() as u8, 0, 0, 0]);
            elf.extend_from_slice(&(sig.len() as u32).to_be_bytes());
            elf.extend_from_slice(b"~Module signature appended~\n");
        }
        elf
    }

    /// Writes the module as DIR/SUBDIR/NAME.ko[.codec]; returns the path.
    pub fn write(&self, dir: &Path, subdir: &str, codec: Codec) -> PathBuf {
        let d = dir.join(subdir);
        std::fs::create_dir_all(&d).expect("create synthetic tree directory");
        let p = d.join(format!("{}{}", self.name, codec.suffix()));
        std::fs::write(&p, codec.compress(&self.elf())).expect("write synthetic module");
        p
    }
}

/// A synthetic lib/modules/VERSION tree under a root directory.
pub struct SynthTree {
    /// The root (what -b takes).
    pub root: PathBuf,
    /// The kernel release.
    pub version: String,
}

impl SynthTree {
    /// Creates root/lib/modules/VERSION.
    pub fn new(root: &Path, version: &str) -> SynthTree {
        let t = SynthTree {
            root: root.to_path_buf(),
            version: version.to_string(),
        };
        std::fs::create_dir_all(t.moddir()).expect("create module directory");
        t
    }

    /// root/lib/modules/VERSION.
    pub fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }

    /// Adds a module under kernel/SUBDIR (or another top directory given in `subdir`,
    /// e.g. "updates"); returns its path.
    pub fn add(&self, m: &SynthModule, subdir: &str, codec: Codec) -> PathBuf {
        m.write(&self.moddir(), subdir, codec)
    }

    /// Writes a file (modules.builtin, modules.order, ...) in the module directory.
    pub fn file(&self, name: &str, content: &str) {
        std::fs::write(self.moddir().join(name), content).expect("write tree file");
    }
}
