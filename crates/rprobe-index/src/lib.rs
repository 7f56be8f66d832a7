//! rprobe-index: everything about module files and the modules.* indexes.
//!
//! Module files (plain, gzip, xz, zstd) are opened and parsed into [`record`] values; the
//! depmod side computes dependencies from records and writes every modules.* index, text and
//! binary; the reader side answers lookups on those indexes for the resolver.

pub mod error;

// kmod's rules: names, the module directory, configuration files.
pub mod atomic;
pub mod conf;
pub mod fsx;
pub mod generation;
pub mod log;
pub mod moddir;
pub mod name;

// Module files (reader side): decompression, ELF parsing, modinfo, signatures, records.
pub mod compact;
pub mod decompress;
pub mod devname;
pub mod elf;
pub mod record;
pub mod signature;
pub mod xz;

// Indexes and depmod.
pub mod depmod;
pub mod index;

pub use error::{Error, Result};
