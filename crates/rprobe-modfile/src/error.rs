//! The one error type of rprobe-modfile: a module file that cannot be read or is not a
//! usable module.

use std::path::PathBuf;

use nix::errno::Errno;
use rprobe_index::error::{errno_text, io_text};

/// What is wrong with a file that is not a usable ELF module, typed so that kmod's words for
/// it ([`Error::kmod_words`]) never depend on matching text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadElfKind {
    /// No ELF magic: not an ELF file at all (kmod: ENOEXEC).
    NotElf,
    /// Shorter than an ELF identification block.
    Truncated,
    /// Any other fault in its structure, in words.
    Other(String),
}

impl std::fmt::Display for BadElfKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadElfKind::NotElf => f.write_str("no ELF magic (not an ELF file)"),
            BadElfKind::Truncated => f.write_str("truncated ELF header"),
            BadElfKind::Other(reason) => f.write_str(reason),
        }
    }
}

/// Every failure of rprobe-modfile. Each variant names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{path}: empty file, not a kernel module")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A compressed stream that does not decode (truncated or corrupt).
    #[error("{path}: corrupt or truncated {codec} stream: {message}")]
    Decompress {
        /// The file.
        path: PathBuf,
        /// gzip, xz or zstd.
        codec: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// Decompression stopped at the size cap.
    #[error("{path}: decompressed size exceeds the limit of {limit} bytes (not a module, or a decompression bomb)")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in bytes.
        limit: u64,
    },
    /// A compressed file larger than the decompression cap: refused before reading it.
    #[error("{path}: compressed file of {size} bytes exceeds the limit of {limit} bytes")]
    InputTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size on disk.
        size: u64,
        /// The cap in bytes.
        limit: u64,
    },
    /// Not an ELF file, or an ELF file whose structure is broken.
    #[error("{path}: not a valid kernel module: {kind}")]
    BadElf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        kind: BadElfKind,
    },
    /// A zstd module whose frame does not declare its decompressed size, read as kmod 34
    /// reads it (one shot, sized by that field).
    #[error("{path}: zstd frame without its decompressed size (kmod 34: Failed to determine decompression size)")]
    UnsizedZstd {
        /// The module file.
        path: PathBuf,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::BadElf`] for `path`, of kind [`BadElfKind::Other`].
    pub fn bad_elf(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::bad_elf_kind(path, BadElfKind::Other(reason.into()))
    }

    /// An [`Error::BadElf`] for `path` of the given kind.
    pub fn bad_elf_kind(path: impl Into<PathBuf>, kind: BadElfKind) -> Error {
        Error::BadElf {
            path: path.into(),
            kind,
        }
    }

    /// The errno kmod reports for this failure: the I/O error's own code (EIO when it has
    /// none), ENOEXEC for a file that is not ELF at all, EINVAL for any other file that is
    /// not a usable module (empty, broken ELF, a stream that does not decode, too large).
    pub fn errno(&self) -> Errno {
        match self {
            Error::Io { source, .. } => source.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
            Error::BadElf {
                kind: BadElfKind::NotElf,
                ..
            } => Errno::ENOEXEC,
            _ => Errno::EINVAL,
        }
    }

    /// kmod's words for a module file that cannot be read (the strerror of
    /// [`Error::errno`]), unchanged, then once, in parentheses, what is actually wrong,
    /// without the path (the message around it names the file): "Exec format error (not an
    /// ELF file)", "Invalid argument (empty file)", "Invalid argument (corrupt or truncated
    /// xz stream: ...)". An I/O error is its strerror alone.
    pub fn kmod_words(&self) -> String {
        match self {
            Error::Io { source, .. } => io_text(source),
            e => e.with_detail(&errno_text(e.errno())),
        }
    }

    /// [`Error::kmod_words`] with the file named in the parentheses ("Invalid argument
    /// (/x.ko.xz: corrupt or truncated xz stream: ...)"), for messages that name the module
    /// and not its file.
    pub fn kmod_words_naming_file(&self) -> String {
        match self {
            Error::Io { .. } => self.kmod_words(),
            e => format!(
                "{} ({})",
                errno_text(e.errno()),
                parenthesised(&e.to_string())
            ),
        }
    }

    /// `words` (kmod's text for this failure, as the caller's tool prints it) followed by
    /// [`Error::detail`] in parentheses when there is one.
    pub fn with_detail(&self, words: &str) -> String {
        match self.detail() {
            Some(d) => format!("{words} ({d})"),
            None => words.to_string(),
        }
    }

    /// What is actually wrong, in rprobe's words and without the path, for the parentheses
    /// after kmod's words: None for an I/O error (its strerror says it all).
    pub fn detail(&self) -> Option<String> {
        let detail = match self {
            Error::Io { .. } => return None,
            Error::BadElf {
                kind: BadElfKind::NotElf,
                ..
            } => "not an ELF file".to_string(),
            Error::Empty { .. } => "empty file".to_string(),
            Error::BadElf { path, .. }
            | Error::Decompress { path, .. }
            | Error::UnsizedZstd { path }
            | Error::TooLarge { path, .. }
            | Error::InputTooLarge { path, .. } => {
                let text = self.to_string();
                let prefix = format!("{}: ", path.display());
                text.strip_prefix(&prefix).unwrap_or(&text).to_string()
            }
        };
        Some(parenthesised(&detail))
    }

    /// The line kmod 34's libkmod logs (at error level) when it cannot read a module file,
    /// where rprobe reproduces it, with the libkmod function that logs it (kmod's default
    /// logger names it; the tools' loggers do not): the one-shot zstd decoder's refusal of
    /// a frame without its size.
    pub fn library_words(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Error::UnsizedZstd { .. } => Some((
                "kmod_file_load_zstd",
                "zstd: Failed to determine decompression size",
            )),
            _ => None,
        }
    }
}

/// `text` made fit to stand inside parentheses: parentheses of its own would read as the
/// end of the explanation.
fn parenthesised(text: &str) -> String {
    text.replace(" (", ": ").replace(')', "")
}

/// Result with rprobe-modfile's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
