//! `rprobe generate man DIR` and `rprobe generate completions SHELL DIR`: man pages and
//! shell completions made from the command-line definitions, for packagers (as ripgrep
//! does), plus the hidden `rprobe complete-modules` the completions call for module names.
//! Which commands get a page and a completion file is [`crate::registry`]'s.
//!
//! - [`man`]: the section-8 pages (clap_mangen) and the section-5 pages (roff in src/man/).
//! - [`completions`]: the bash, zsh and fish files (clap_complete plus module names).
//! - [`complete`]: `rprobe complete-modules`, run by those files at completion time.

pub(crate) mod complete;
mod completions;
mod man;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::builder::PossibleValue;

/// `rprobe generate`'s definition (for the man page and the completions).
pub(crate) fn command() -> clap::Command {
    let shell = clap::Arg::new("shell")
        .value_name("SHELL")
        .required(true)
        .value_parser([
            PossibleValue::new("bash"),
            PossibleValue::new("zsh"),
            PossibleValue::new("fish"),
        ]);
    let dir = |help: &'static str| {
        clap::Arg::new("dir")
            .value_name("DIR")
            .required(true)
            .value_hint(clap::ValueHint::DirPath)
            .help(help)
    };
    clap::Command::new("generate")
        .about("Write man pages or shell completions")
        .subcommand_required(true)
        .subcommand(
            clap::Command::new("man")
                .about("Write every man page (NAME.8 and NAME.5) into DIR")
                .arg(dir("The directory to write into (created when missing)")),
        )
        .subcommand(
            clap::Command::new("completions")
                .about("Write SHELL's completion files for every tool name into DIR")
                .arg(shell.help("bash (DIR/NAME), zsh (DIR/_NAME) or fish (DIR/NAME.fish)"))
                .arg(dir("The directory to write into (created when missing)")),
        )
}

/// How `generate` is called (its -h, and its usage error).
const USAGE: &str =
    "usage: rprobe generate man DIR\n       rprobe generate completions bash|zsh|fish DIR";

/// Runs `generate`; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let a: Vec<&OsStr> = args.iter().skip(1).map(OsString::as_os_str).collect();
    let word = |i: usize| a.get(i).and_then(|s| s.to_str());
    let res = match (a.as_slice(), word(0), word(1)) {
        ([_], Some("-h" | "--help"), _) => {
            crate::outln!(std::io::stdout(), "{USAGE}");
            return 0;
        }
        ([_, dir], Some("man"), _) => create(dir).and_then(|d| man::write(&d)),
        ([_, _, dir], Some("completions"), Some(shell @ ("bash" | "zsh" | "fish"))) => {
            create(dir).and_then(|d| completions::write(shell, &d))
        }
        _ => {
            crate::errln!("{USAGE}");
            return 2;
        }
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            crate::out::log("generate", rprobe_index::log::Level::Error, &e);
            1
        }
    }
}

/// DIR, created when missing.
fn create(dir: &OsStr) -> Result<PathBuf, String> {
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Writes a generated file; the error names it.
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}
