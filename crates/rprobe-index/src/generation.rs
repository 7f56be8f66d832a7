//! Which kmod rprobe behaves as: kmod 30 (Debian 12) or kmod 34 (Debian 13, Fedora, Arch).
//!
//! The two generations write different index files and differ in options and messages
//! (docs/kmod34.md lists what rprobe follows). The choice is made once per process:
//! `RPROBE_KMOD=30` or `RPROBE_KMOD=34` in the environment, else the default fixed when
//! rprobe was built (`RPROBE_KMOD_DEFAULT`, as kmod fixes its directories at build time),
//! else 34. Every difference is a method here, so the tools ask "what does this
//! generation do", never "which generation is this".
//!
//! ```
//! use rprobe_index::generation::Generation;
//! use rprobe_index::index::Layout;
//! assert_eq!(Generation::parse("34").unwrap().index_layout(), Layout::PreOrder);
//! assert!(Generation::parse("35").is_err());
//! ```

use crate::index::Layout;
use crate::{Error, Result};

/// The environment variable that picks the generation at run time.
pub const ENV: &str = "RPROBE_KMOD";

/// A kmod generation whose visible behaviour rprobe reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Generation {
    /// kmod 30, as Debian 12 ships it.
    Kmod30,
    /// kmod 34.2, as Debian 13 ships it.
    Kmod34,
}

/// The build-time default: `RPROBE_KMOD_DEFAULT` when rprobe was compiled, else 34. An
/// unknown value fails the build.
const BUILD_DEFAULT: Generation = match option_env!("RPROBE_KMOD_DEFAULT") {
    None => Generation::Kmod34,
    Some(v) => match Generation::parse_const(v) {
        Some(g) => g,
        None => panic!("RPROBE_KMOD_DEFAULT must be 30 or 34"),
    },
};

impl Default for Generation {
    /// The build-time default, as for a process without RPROBE_KMOD.
    fn default() -> Generation {
        BUILD_DEFAULT
    }
}

impl Generation {
    /// The generation fixed at build time (`RPROBE_KMOD_DEFAULT`, else 34).
    pub const fn build_default() -> Generation {
        BUILD_DEFAULT
    }

    /// The generation this process behaves as: [`ENV`] when set, else
    /// [`Generation::build_default`]. An unknown or empty value is an error.
    pub fn from_env() -> Result<Generation> {
        match std::env::var_os(ENV) {
            None => Ok(BUILD_DEFAULT),
            Some(v) => Generation::parse(&v.to_string_lossy()),
        }
    }

    /// Parses "30" or "34".
    pub fn parse(value: &str) -> Result<Generation> {
        Generation::parse_const(value).ok_or_else(|| Error::UnknownGeneration {
            value: value.to_string(),
        })
    }

    const fn parse_const(v: &str) -> Option<Generation> {
        match v.as_bytes() {
            b"30" => Some(Generation::Kmod30),
            b"34" => Some(Generation::Kmod34),
            _ => None,
        }
    }

    /// The version number, as RPROBE_KMOD spells it.
    pub fn number(self) -> u32 {
        match self {
            Generation::Kmod30 => 30,
            Generation::Kmod34 => 34,
        }
    }

    /// How depmod lays out the .bin indexes: kmod 34 writes the root first (kmod commit
    /// dada048), kmod 30 last. Readers take either.
    pub fn index_layout(self) -> Layout {
        match self {
            Generation::Kmod30 => Layout::PostOrder,
            Generation::Kmod34 => Layout::PreOrder,
        }
    }

    /// Whether depmod always writes modules.weakdep (kmod 33 and later, commit 05828b4).
    pub fn writes_weakdep(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether `weakdep` is a modprobe.d directive (kmod 33 and later, commit 05828b4);
    /// kmod 30 reports such a line as bad. rprobe still keeps the line in kmod 30 mode (for
    /// initramfs closures) but reports it as kmod 30 does.
    pub fn knows_weakdep_lines(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether the first of duplicate modules.order lines sets a module's place (kmod 34,
    /// commits a1186fa and 19c0df1); kmod 30 let the last one set it.
    pub fn order_first_wins(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether modprobe.d and depmod.d are also read from DISTCONFDIR (/usr/lib; kmod 32,
    /// commit 8463809).
    pub fn reads_distconfdir(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether modprobe.d files named `*.alias` are read besides `*.conf` (kmod 30; kmod
    /// 33 reads `*.conf` only, commit 29cc8c2).
    pub fn reads_alias_files(self) -> bool {
        self == Generation::Kmod30
    }

    /// Whether modprobe takes an argument starting with `/` or `./` as a module file
    /// (kmod 31, commit 883d931); kmod 30 looks every argument up as a name or alias.
    pub fn modprobe_takes_paths(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether insmod quotes module options holding spaces as modprobe does (`opt="a b"`;
    /// kmod 34, commit b6b04af); kmod 30's insmod joins its arguments as they are.
    pub fn insmod_quotes_options(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether insmod takes -v/--verbose and refuses -p (kmod 34, commits ca8f04e and
    /// e102d2c); kmod 30 ignores -p and has no -v.
    pub fn insmod_takes_verbose(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether lsmod reads options (-s, -v, -V, -h) and says "too many arguments
    /// provided." for an argument (kmod 34, commit 6313d40); kmod 30 prints its usage for
    /// any argument.
    pub fn lsmod_takes_options(self) -> bool {
        self == Generation::Kmod34
    }

    /// The errno libkmod reports for a module without the ELF section asked for
    /// (`__versions`, `__ksymtab_strings`, `.modinfo`): ENOENT in kmod 30, ENODATA ("No
    /// data available") from kmod 31 on (commit 5c004af).
    pub fn missing_section_errno(self) -> nix::errno::Errno {
        match self {
            Generation::Kmod30 => nix::errno::Errno::ENOENT,
            Generation::Kmod34 => nix::errno::Errno::ENODATA,
        }
    }

    /// Whether a zstd module must declare its decompressed size in its frame header (kmod
    /// 34 decompresses in one shot, commit 72c0aa3; kmod 30 streams and takes any frame).
    pub fn zstd_needs_declared_size(self) -> bool {
        self == Generation::Kmod34
    }

    /// Whether depmod still accepts the options kmod 34 removed (`-u`, `-q`, `-r` and
    /// their long forms; commit af54b73), ignoring them as kmod 30 does.
    pub fn depmod_accepts_removed_options(self) -> bool {
        self == Generation::Kmod30
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_refuse() {
        assert_eq!(Generation::parse("30").unwrap(), Generation::Kmod30);
        assert_eq!(Generation::parse("34").unwrap(), Generation::Kmod34);
        for bad in ["", "3", "31", "34.2", " 34", "kmod34"] {
            let e = Generation::parse(bad).unwrap_err();
            assert!(e.to_string().contains("RPROBE_KMOD"), "{e}");
        }
        assert_eq!(Generation::Kmod30.index_layout(), Layout::PostOrder);
        assert!(!Generation::Kmod30.writes_weakdep());
    }
}
