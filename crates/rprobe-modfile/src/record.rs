//! The record read from one module file: a plain value (serialisable, computed per file,
//! keyed by the file's identity) that depmod, modinfo and the resolver work from, so that an
//! incremental depmod can cache it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decompress::{self, Compression};
use crate::elf::{ElfModule, Export, Import};
use crate::signature::{self, SignatureInfo};
use crate::Result;

/// Everything module tools need from one module file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// The path it was read from.
    pub path: PathBuf,
    /// The module name as kmod derives it from the file name.
    pub name: String,
    /// How the file is stored.
    pub compression: Compression,
    /// .modinfo key/value pairs in file order, repeated keys kept.
    pub modinfo: Vec<(String, String)>,
    /// False when the module has no .modinfo section at all.
    pub has_modinfo: bool,
    /// Exported symbols.
    pub exports: Vec<Export>,
    /// Needed symbols with CRCs.
    pub imports: Vec<Import>,
    /// The appended signature, if any.
    pub signature: Option<SignatureInfo>,
    /// False for a zstd file without its decompressed size in the frame header (see
    /// [`decompress::zstd_size_declared`]), which kmod 34 cannot read.
    pub size_declared: bool,
}

impl ModuleRecord {
    /// The modinfo pairs followed by the signature's fields as kmod's modinfo shows them
    /// (sig_id, signer, sig_key, sig_hashalgo, signature; binary values in [`hex`]).
    pub fn info_with_signature(&self) -> Vec<(String, String)> {
        let mut info = self.modinfo.clone();
        if let Some(sig) = &self.signature {
            info.push(("sig_id".into(), sig.id_type.clone()));
            info.push((
                "signer".into(),
                String::from_utf8_lossy(&sig.signer).into_owned(),
            ));
            info.push(("sig_key".into(), hex(&sig.key_id)));
            info.push(("sig_hashalgo".into(), sig.hash_algo.clone()));
            info.push(("signature".into(), hex(&sig.signature)));
        }
        info
    }

    /// The values of a modinfo key, in file order.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.modinfo
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The vermagic string, if the module has one.
    pub fn vermagic(&self) -> Option<&str> {
        self.values("vermagic").next()
    }
}

/// What to read of a module: modinfo tools need no symbols, depmod needs them all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read exports and imports (needs .symtab).
    pub symbols: bool,
    /// Read the signature trailer.
    pub signature: bool,
    /// Keep only these .modinfo keys (None: all of them); the others are never copied out
    /// of the module.
    pub modinfo_keys: Option<&'static [&'static str]>,
    /// Refuse a zstd file that does not declare its decompressed size, as kmod 34 does
    /// ([`rprobe_index::generation::Generation::zstd_needs_declared_size`]).
    pub zstd_needs_size: bool,
}

impl ReadOptions {
    /// Everything.
    pub const ALL: ReadOptions = ReadOptions {
        symbols: true,
        signature: true,
        modinfo_keys: None,
        zstd_needs_size: false,
    };
}

/// Reads everything from a module file.
pub fn read_module(path: &Path) -> Result<ModuleRecord> {
    read_module_with(path, ReadOptions::ALL)
}

/// Reads what `opts` asks for from a module file.
pub fn read_module_with(path: &Path, opts: ReadOptions) -> Result<ModuleRecord> {
    // An uncompressed module read without its signature: only the sections the record
    // needs ([`crate::compact`]); anything unexpected is read whole below.
    if !opts.signature {
        if let Some(image) = compact_image(path) {
            return record_from_image(path, Compression::None, &image, opts);
        }
    }
    let file = decompress::open(path)?;
    if opts.zstd_needs_size && !file.size_declared {
        return Err(unsized_zstd(path));
    }
    let mut rec = record_from_image(path, file.compression, &file.bytes, opts)?;
    rec.size_declared = file.size_declared;
    Ok(rec)
}

/// kmod 34's refusal of a zstd file without its decompressed size.
pub fn unsized_zstd(path: &Path) -> crate::Error {
    crate::Error::UnsizedZstd { path: path.into() }
}

/// The compact image of a plain module file within the size cap, when it is one.
fn compact_image(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    if size == 0 || size > decompress::max_size() {
        return None;
    }
    crate::compact::read(&file, size)
}

/// Builds the record of a module image already in memory.
pub fn record_from_image(
    path: &Path,
    compression: Compression,
    image: &[u8],
    opts: ReadOptions,
) -> Result<ModuleRecord> {
    let elf = ElfModule::parse(path, image)?;
    let has_modinfo = elf.section(".modinfo")?.is_some();
    let mut modinfo = elf.modinfo_where(|k| {
        opts.modinfo_keys
            .is_none_or(|keys| keys.iter().any(|w| w.as_bytes() == k))
    })?;
    if opts.modinfo_keys.is_some() {
        modinfo.shrink_to_fit();
    }
    let (exports, imports) = if opts.symbols {
        (elf.exports()?, elf.imports()?)
    } else {
        (Vec::new(), Vec::new())
    };
    let signature = if opts.signature {
        signature::read(image)
    } else {
        None
    };
    Ok(ModuleRecord {
        path: path.into(),
        name: rprobe_index::name::modname_from_path(path),
        compression,
        modinfo,
        has_modinfo,
        exports,
        imports,
        signature,
        size_declared: true,
    })
}

/// Bytes as kmod prints key ids and signatures: `XX:XX:...`, a line break and two tabs
/// after every 20 bytes.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        s.push_str(&format!("{x:02X}"));
        if i + 1 < b.len() {
            s.push(':');
            if (i + 1) % 20 == 0 {
                s.push_str("\n\t\t");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_wraps_every_20_bytes() {
        let b: Vec<u8> = (0..21).collect();
        let h = super::hex(&b);
        assert!(h.starts_with("00:01:"));
        assert!(h.contains("13:\n\t\t14"));
        assert!(!h.ends_with(':'));
    }

    use super::*;
    use proptest::prelude::*;
    use rprobe_testkit::synth::SynthModule;

    fn module() -> Vec<u8> {
        SynthModule::new("victim")
            .info("alias", "pci:v*d*")
            .info("parm", "x:int")
            .export("exported_fn")
            .import("needed_fn")
            .signed(b"Signer", &[1, 2], &[3; 16])
            .elf()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Damaged modules give a record or an error naming the file, never a panic.
        #[test]
        fn damaged_modules_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
                                       cut in any::<usize>()) {
            let mut m = module();
            for (i, b) in flips {
                let n = m.len();
                m[i % n] ^= b | 1;
            }
            let keep = cut % (m.len() + 1);
            m.truncate(keep.max(1));
            let p = Path::new("damaged.ko");
            if let Err(e) = record_from_image(p, Compression::None, &m, ReadOptions::ALL) {
                prop_assert!(e.to_string().contains("damaged.ko"), "{e}");
            }
        }
    }

    #[test]
    fn force_strips_vermagic_and_versions() {
        for arch in [
            object::Architecture::X86_64,
            object::Architecture::I386,
            object::Architecture::PowerPc64,
        ] {
            let mut sm = SynthModule::new("forced").import("needed_fn");
            sm.arch = arch;
            let mut m = sm.elf();
            let p = Path::new("forced.ko");
            crate::elf::strip_for_force(p, &mut m, true, true).unwrap();
            let e = crate::elf::ElfModule::parse(p, &m).unwrap();
            let info = e.modinfo().unwrap();
            assert!(
                info.iter().all(|(k, _)| k != "vermagic"),
                "{arch:?}: {info:?}"
            );
            assert!(
                info.iter().any(|(k, _)| k == "name"),
                "{arch:?}: the rest stays"
            );
            assert_eq!(
                e.section_flags("__versions").map(|f| f & 2),
                Some(0),
                "{arch:?}"
            );
        }
    }

    #[test]
    fn synthetic_module_reads_back() {
        let m = module();
        let r = record_from_image(
            Path::new("victim.ko"),
            Compression::None,
            &m,
            ReadOptions::ALL,
        )
        .unwrap();
        assert_eq!(r.name, "victim");
        assert_eq!(r.values("alias").collect::<Vec<_>>(), ["pci:v*d*"]);
        assert_eq!(r.exports[0].name, "exported_fn");
        assert!(r
            .imports
            .iter()
            .any(|i| i.name == "needed_fn" && i.crc != 0));
        assert_eq!(
            r.signature.as_ref().map(|s| s.signer.as_slice()),
            Some(&b"Signer"[..])
        );
    }
}
