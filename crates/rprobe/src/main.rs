//! rprobe: one binary that acts as modprobe, depmod, modinfo, insmod, rmmod, lsmod, kmod and an
//! initramfs builder. The tool is picked by the name the binary was called by (argv[0]),
//! or, when called as `rprobe`, by a first argument naming a tool; otherwise it is modprobe.
//!
//! This crate stays thin: argument parsing, output formatting and exit codes. The work is
//! done by the library crates.

use std::ffi::OsString;
use std::path::Path;

use registry::{Reach, Tool};
use rprobe_index::generation::Generation;

#[macro_use]
mod out;

mod coldplug;
mod depmod;
mod generate;
mod getopt;
mod graph;
mod initramfs;
mod insmod;
mod json;
mod kmod;
mod lsmod;
mod modinfo;
mod modprobe;
mod progress;
mod registry;
mod rmmod;
mod why;

/// Parses a tool's arguments as kmod's getopt_long reads them (abbreviated long options,
/// getopt's words for a bad option), then with clap; on failure prints the message and
/// returns the exit code (0 for --help, else `code`), as kmod's tools exit on a bad option.
pub(crate) fn parse_args<T: clap::Parser>(
    tool: &str,
    raw: &[OsString],
    code: i32,
) -> Result<T, i32> {
    parse_args_matches(tool, raw, code).map(|(t, _)| t)
}

/// [`parse_args`], also returning the arguments as getopt saw them, one option per item
/// (`-q`, `--verbose`, `--config=DIR`), in the order given, up to and including any `--`.
pub(crate) fn parse_args_matches<T: clap::Parser>(
    tool: &str,
    raw: &[OsString],
    code: i32,
) -> Result<(T, Vec<OsString>), i32> {
    parse_args_with(tool, raw, code, T::command())
}

/// [`parse_args_matches`] against `cmd`, T's definition with changes of this generation
/// (options one kmod generation removed no longer match).
pub(crate) fn parse_args_with<T: clap::Parser>(
    tool: &str,
    raw: &[OsString],
    code: i32,
    mut cmd: clap::Command,
) -> Result<(T, Vec<OsString>), i32> {
    let raw = getopt::check(&mut cmd, raw).map_err(|msg| {
        crate::errln!("{msg}");
        code
    })?;
    parse_checked(tool, raw, code, cmd)
}

/// [`parse_args_with`] for arguments getopt's rules have already rewritten
/// ([`getopt::check`]).
fn parse_checked<T: clap::Parser>(
    tool: &str,
    raw: Vec<OsString>,
    code: i32,
    cmd: clap::Command,
) -> Result<(T, Vec<OsString>), i32> {
    let parsed = cmd
        .try_get_matches_from(&raw)
        .and_then(|m| T::from_arg_matches(&m).map(|t| (t, raw)));
    parsed.map_err(|e| {
        if e.kind() == clap::error::ErrorKind::DisplayHelp {
            let _ = e.print();
            0
        } else {
            crate::errln!("{tool}: ERROR: {}", e.kind());
            code
        }
    })
}

/// [`parse_args_matches`] for a tool whose words after the options can be thousands
/// (`modprobe -a` over every module): clap parses the options alone, and the words (every
/// argument that is not an option, and all after `--`) come back as they were, in order.
/// When a word is not UTF-8 clap parses everything, for its error, and the words are
/// `None` (take them from `T`).
#[expect(
    clippy::type_complexity,
    reason = "the parse, the options as given, the words"
)]
pub(crate) fn parse_options_and_words<T: clap::Parser>(
    tool: &str,
    mut raw: Vec<OsString>,
    code: i32,
) -> Result<(T, Vec<OsString>, Option<Vec<String>>), i32> {
    let mut cmd = T::command();
    let items = getopt::check_items(&mut cmd, &raw).map_err(|msg| {
        crate::errln!("{msg}");
        code
    })?;
    // After getopt's rewrite every option is one item starting with '-' (its value
    // attached); anything else ("-" alone included) is a word, as is everything after
    // "--". `modprobe -a` can have thousands of words, so no second list of them is
    // made: options are moved out of `raw`, and each word is moved to the front of
    // `raw` as it is met (`n` of them so far). The runs name arguments in rising order,
    // so a word only ever moves down, over places already read.
    let mut options: Vec<OsString> = Vec::new();
    let mut n = 0;
    let mut rest = false;
    for item in items {
        match item {
            getopt::Item::Given(run) => {
                for k in run {
                    let Some(a) = raw.get_mut(k) else { continue };
                    let option = a.len() > 1 && a.as_encoded_bytes().starts_with(b"-");
                    // raw[0] is argv[0], never a word.
                    if k > 0 && (rest || !option) {
                        raw.swap(n, k);
                        n += 1;
                    } else if *a == "--" {
                        rest = true;
                    } else {
                        options.push(std::mem::take(a));
                    }
                }
            }
            // What the rewrite made is an option ('-' and more), and never after "--".
            getopt::Item::New(a) => options.push(a.into()),
        }
    }
    // The rest (argv[0] and the options, taken; "--"; option values the rewrite joined
    // to their option) dropped.
    raw.truncate(n);
    // As Strings, in the same allocation (same size and alignment: collected in place).
    let mut not_utf8: Vec<(usize, OsString)> = Vec::new();
    let mut j = 0;
    let words: Vec<String> = raw
        .into_iter()
        .map(|a| {
            j += 1;
            a.into_string().unwrap_or_else(|a| {
                not_utf8.push((j - 1, a));
                String::new()
            })
        })
        .collect();
    if not_utf8.is_empty() {
        // The options are getopt's rewrite already: clap parses them as they are.
        let (t, options) = parse_checked::<T>(tool, options, code, cmd)?;
        return Ok((t, options, Some(words)));
    }
    // A word is not UTF-8: clap parses everything, for its error (the words after "--",
    // as they all are positionals).
    let mut all = options.clone();
    all.push("--".into());
    let first = all.len();
    all.extend(words.into_iter().map(OsString::from));
    for (j, a) in not_utf8 {
        if let Some(slot) = all.get_mut(first + j) {
            *slot = a;
        }
    }
    let (t, _) = parse_checked::<T>(tool, all, code, cmd)?;
    Ok((t, options, None))
}

/// The last component of a program path, as kmod names itself in messages (its basename).
pub(crate) fn basename(arg: &std::ffi::OsStr) -> Option<String> {
    Path::new(arg)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

/// A getopt switch for a definition built at run time (`-S`, `--long`, no value); counted
/// when `count` (a repeatable -v), else a flag.
pub(crate) fn switch(id: &'static str, short: char, long: &'static str, count: bool) -> clap::Arg {
    clap::Arg::new(id).short(short).long(long).action(if count {
        clap::ArgAction::Count
    } else {
        clap::ArgAction::SetTrue
    })
}

/// Picks the tool and the argument vector it sees (argv[0] first, named as kmod names it):
/// a multi-call tool named by argv[0], else a tool named by the first argument, else modprobe.
fn dispatch(mut args: Vec<OsString>) -> (&'static Tool, Vec<OsString>) {
    let argv0 = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|a| a.to_str())
        .unwrap_or("rprobe")
        .to_string();
    if let Some(tool) = registry::find(&argv0) {
        if tool.reach == Reach::MultiCall {
            return (tool, args);
        }
    }
    if args.len() > 1 {
        if let Some(tool) = args[1].to_str().and_then(registry::find) {
            let name = args.remove(1);
            args[0] = name;
            return (tool, args);
        }
    }
    if !args.is_empty() {
        args[0] = OsString::from(registry::DEFAULT.name);
    }
    (registry::DEFAULT, args)
}

/// The kmod generation this process behaves as (RPROBE_KMOD, else the build default),
/// read once in main.
static GENERATION: std::sync::OnceLock<Generation> = std::sync::OnceLock::new();

/// The kmod generation this process behaves as.
pub(crate) fn generation() -> Generation {
    *GENERATION.get_or_init(Generation::build_default)
}

fn main() -> std::process::ExitCode {
    let (tool, args) = dispatch(std::env::args_os().collect());
    match Generation::from_env() {
        Ok(g) => {
            let _ = GENERATION.set(g);
        }
        Err(e) => {
            let name = args
                .first()
                .and_then(|a| basename(a))
                .unwrap_or_else(|| "rprobe".into());
            errln!("{name}: ERROR: {e}");
            return std::process::ExitCode::from(1);
        }
    }
    // A closed standard output rises here from wherever it was met (out::check).
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (tool.main)(args)));
    let code = match run {
        Ok(_) | Err(_) if out::PIPE_CLOSED.load(std::sync::atomic::Ordering::Relaxed) => 141,
        Ok(code) => code,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn argv0_picks_the_tool() {
        assert_eq!(dispatch(v(&["/sbin/lsmod"])).0.name, "lsmod");
        assert_eq!(dispatch(v(&["depmod", "-a"])).0.name, "depmod");
        let (t, a) = dispatch(v(&["rprobe", "modinfo", "x"]));
        assert_eq!(t.name, "modinfo");
        assert_eq!(a, v(&["modinfo", "x"]));
        assert_eq!(dispatch(v(&["/usr/bin/kmod", "list"])).0.name, "kmod");
        let (t, a) = dispatch(v(&["rprobe", "kmod", "static-nodes"]));
        assert_eq!(t.name, "kmod");
        assert_eq!(a, v(&["kmod", "static-nodes"]));
        let (t, a) = dispatch(v(&["rprobe", "-D", "ext4"]));
        assert_eq!(t.name, "modprobe");
        assert_eq!(a, v(&["modprobe", "-D", "ext4"]));
    }
}
