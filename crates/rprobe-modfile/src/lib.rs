//! rprobe-modfile: reading kernel module files.
//!
//! A module file (plain, gzip, xz or zstd) is opened and decompressed ([`decompress`]),
//! parsed as ELF ([`elf`], or only the sections a record needs: [`compact`]), and turned
//! into a [`record::ModuleRecord`]: its modinfo, symbols and [`signature`]. Module names
//! and the kmod generation's rules come from rprobe-index.

pub mod error;

pub mod compact;
pub mod decompress;
pub mod elf;
pub mod record;
pub mod signature;
pub mod xz;

pub use error::{BadElfKind, Error, Result};
