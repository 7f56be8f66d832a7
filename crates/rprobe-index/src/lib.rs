//! rprobe-index: kmod's rules and the modules.* indexes.
//!
//! The base every other crate builds on: module names, the module directory, configuration
//! files, the kmod generation being reproduced, file status and log levels; and the index
//! format in one home: the binary trie (read and written, [`index::trie`]), the text
//! indexes and the lookups the resolver asks of them ([`index`]), and the lines of
//! modules.devname ([`devname`]). Module files are read by rprobe-modfile; depmod, which
//! writes the indexes, is rprobe-depmod.

pub mod error;

// kmod's rules: names, the module directory, configuration files.
pub mod conf;
pub mod fsx;
pub mod generation;
pub mod log;
pub mod moddir;
pub mod name;

// The modules.* indexes: the trie format, lookups, modules.devname.
pub mod devname;
pub mod index;

pub use error::{Error, Result};
