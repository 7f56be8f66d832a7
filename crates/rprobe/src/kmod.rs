//! `kmod`: kmod's own command — `kmod list` (lsmod), `kmod static-nodes` (the device nodes
//! of modules.devname, which systemd's kmod-static-nodes.service turns into /dev entries),
//! `kmod help`, `kmod --version` — with kmod's words, output formats and exit codes.
//! Like kmod 30, `kmod TOOL` for the compatibility tools (modprobe, depmod, ...) is an
//! invalid command: those answer to their own names.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use rprobe_index::devname::{parse_line, DevnameEntry};
use rprobe_index::generation::Generation;

/// The environment variable naming a module directory to read modules.devname from instead
/// of /lib/modules/RELEASE (for tests; kmod has no such option).
pub const MODULE_DIR_ENV: &str = "RPROBE_MODULE_DIR";

/// kmod's commands with their help lines: kmod 30's words, then kmod 34's (commit 38641ee
/// lower-cased "show" and made "outputs" "output").
fn commands() -> [(&'static str, &'static str); 3] {
    let kmod34 = crate::generation() == Generation::Kmod34;
    [
        (
            "help",
            if kmod34 {
                "show help message"
            } else {
                "Show help message"
            },
        ),
        ("list", "list currently loaded modules"),
        (
            "static-nodes",
            if kmod34 {
                "output the static-node information installed with the currently running kernel"
            } else {
                "outputs the static-node information installed with the currently running kernel"
            },
        ),
    ]
}

/// `--version`: rprobe's version, then the feature line of the kmod generation it behaves
/// as (kmod 30's autotools names; kmod 34's meson names, with what rprobe reads: zlib too).
pub(crate) fn print_version() {
    crate::outln!(
        std::io::stdout(),
        "rprobe kmod version {}",
        env!("CARGO_PKG_VERSION")
    );
    let features = match crate::generation() {
        Generation::Kmod30 => "+ZSTD +XZ +ZLIB +LIBCRYPTO -EXPERIMENTAL",
        Generation::Kmod34 => "+ZSTD +XZ +ZLIB +OPENSSL",
    };
    crate::outln!(std::io::stdout(), "{features}");
}

const COMPAT: [&str; 6] = ["lsmod", "rmmod", "insmod", "modinfo", "modprobe", "depmod"];

/// kmod's help, naming the program as `argv0` names it (kmod uses its basename).
fn help(argv0: &str) {
    let name = crate::basename(argv0.as_ref()).unwrap_or_default();
    let mut s = format!(
        "kmod - Manage kernel modules: list, load, unload, etc\nUsage:\n\t{name} [options] command [command_options]\n\n\
         Options:\n\t-V, --version     show version\n\t-h, --help        show this help\n\nCommands:\n"
    );
    for (c, h) in commands() {
        s.push_str(&format!("  {c:<12} {h}\n"));
    }
    s.push_str("\nkmod also handles gracefully if called from following symlinks:\n");
    for c in COMPAT {
        s.push_str(&format!("  {c:<12} compat {c} command\n"));
    }
    crate::out!("{s}");
}

/// kmod's top-level options.
fn top_command() -> clap::Command {
    clap::Command::new("kmod")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(crate::switch("help", 'h', "help", false))
        .arg(crate::switch("version", 'V', "version", false))
}

/// Runs `kmod` with `raw` (argv[0] first); returns the exit code.
pub fn main(raw: Vec<OsString>) -> i32 {
    let argv0 = raw
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kmod".into());
    // Options stop at the first argument that is not one (getopt's "+"), or after "--".
    let mut end = 1;
    let mut skip_dashes = false;
    while let Some(a) = raw.get(end) {
        let b = a.as_encoded_bytes();
        if b == b"--" {
            skip_dashes = true;
            break;
        }
        if b.len() < 2 || b[0] != b'-' {
            break;
        }
        end += 1;
    }
    let opts = match crate::getopt::check(&mut top_command(), &raw[..end]) {
        Ok(o) => o,
        Err(msg) => {
            crate::errln!("{msg}");
            return 1;
        }
    };
    for o in opts.iter().skip(1) {
        match o.to_str() {
            Some("-h" | "--help") => {
                help(&argv0);
                return 0;
            }
            Some("-V" | "--version") => {
                print_version();
                return 0;
            }
            _ => {}
        }
    }
    let rest = &raw[end + usize::from(skip_dashes)..];
    let Some(cmd) = rest.first() else {
        crate::errln!("missing command");
        help(&argv0);
        return 1;
    };
    // kmod hands a command the arguments after its own name (argv + 1), not those after
    // its options: after `kmod -- list` the command's argv[0] is "--".
    let shifted = raw[1..].to_vec();
    match cmd.to_str() {
        Some("help") => {
            // kmod 30 names the program after the command's argv[0] ("help"), kmod 34
            // after itself.
            match crate::generation() {
                Generation::Kmod30 => help(&shifted[0].to_string_lossy()),
                Generation::Kmod34 => help(&argv0),
            }
            0
        }
        Some("list") => crate::lsmod::main(shifted),
        Some("static-nodes") => static_nodes(rest.to_vec()),
        _ => {
            crate::errln!("invalid command '{}'", cmd.to_string_lossy());
            help(&argv0);
            1
        }
    }
}

/// `kmod static-nodes` options.
#[derive(clap::Parser, Debug)]
#[command(
    name = "static-nodes",
    disable_version_flag = true,
    disable_help_flag = true
)]
struct StaticArgs {
    /// Write the output to FILE (its parent directories are created).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// human (default), tmpfiles (systemd-tmpfiles) or devname (modules.devname's own).
    #[arg(short = 'f', long = "format")]
    format: Vec<String>,
    /// Show this help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Count)]
    help: u8,
}

const FORMATS: [(&str, &str); 3] = [
    ("human", "(default) a human readable format. Do not parse."),
    (
        "tmpfiles",
        "the tmpfiles.d(5) format used by systemd-tmpfiles.",
    ),
    ("devname", "the modules.devname format."),
];

fn static_help() {
    let mut s = String::from(
        "Usage:\n\tkmod static-nodes [options]\n\n\
         kmod static-nodes outputs the static-node information of the currently running kernel.\n\n\
         Options:\n\t-f, --format=FORMAT  choose format to use: see \"Formats\"\n\
         \t-o, --output=FILE    write output to file\n\t-h, --help           show this help\n\nFormats:\n",
    );
    for (n, d) in FORMATS {
        s.push_str(&format!("\t{n:<12} {d}\n"));
    }
    crate::out!("{s}");
}

/// One entry in `format`.
fn write_entry(format: &str, e: &DevnameEntry, out: &mut String) {
    match format {
        "tmpfiles" => {
            if let Some(i) = e.devname.rfind('/') {
                out.push_str(&format!("d /dev/{} 0755 - - -\n", &e.devname[..i]));
            }
            out.push_str(&format!(
                "{}! /dev/{} 0600 - - - {}:{}\n",
                e.kind, e.devname, e.major, e.minor
            ));
        }
        "devname" => out.push_str(&format!(
            "{} {} {}{}:{}\n",
            e.module, e.devname, e.kind, e.major, e.minor
        )),
        _ => out.push_str(&format!(
            "Module: {}\n\tDevice node: /dev/{}\n\t\tType: {} device\n\t\tMajor: {}\n\t\tMinor: {}\n",
            e.module,
            e.devname,
            if e.kind == 'c' { "character" } else { "block" },
            e.major,
            e.minor
        )),
    }
}

/// `kmod static-nodes`; returns the exit code.
fn static_nodes(raw: Vec<OsString>) -> i32 {
    let (format, output) = match static_options(&raw) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Some((dir, shown)) = devname_dir() else {
        return 1;
    };
    let input = match read_devname(&dir, &shown) {
        Ok(Some(t)) => t,
        Ok(None) => return 0,
        Err(code) => return code,
    };
    let file = match output.as_deref().map(create_output).transpose() {
        Ok(f) => f,
        Err(code) => return code,
    };
    let (text, code) = format_nodes(&input, &format);
    match write_nodes(file, &text, &shown) {
        0 => code,
        failed => failed,
    }
}

/// The options in the order given (a bad format stops at once, -h prints help and ends):
/// the format and the output file. Err: the exit code to end with, after the message or
/// the help.
fn static_options(raw: &[OsString]) -> Result<(String, Option<PathBuf>), i32> {
    use clap::Parser as _;
    let opts = match crate::getopt::check(&mut <StaticArgs as clap::CommandFactory>::command(), raw)
    {
        Ok(o) => o,
        Err(msg) => {
            crate::errln!("{msg}");
            return Err(1);
        }
    };
    let mut format = "human".to_string();
    let mut output: Option<PathBuf> = None;
    for o in opts.iter().skip(1) {
        let s = o.to_string_lossy();
        if let Some(f) = s.strip_prefix("--format=") {
            if !FORMATS.iter().any(|(n, _)| *n == f) {
                crate::errln!("Unknown format: '{f}'.");
                static_help();
                return Err(1);
            }
            format = f.to_string();
        } else if let Some(f) = o.as_encoded_bytes().strip_prefix(b"--output=") {
            output = Some(PathBuf::from(std::ffi::OsStr::from_bytes(f)));
        } else if s == "-h" || s == "--help" {
            static_help();
            return Err(0);
        } else if s == "--" {
            break;
        }
    }
    // Parsed for clap's checks too (the definition feeds man pages and completions).
    if let Err(e) = StaticArgs::try_parse_from(&opts) {
        crate::errln!("static-nodes: ERROR: {}", e.kind());
        return Err(1);
    }
    Ok((format, output))
}

/// The directory holding modules.devname (`RPROBE_MODULE_DIR`, else the running kernel's)
/// and its name as messages show it; None after kmod's message when uname fails.
fn devname_dir() -> Option<(PathBuf, String)> {
    match std::env::var_os(MODULE_DIR_ENV) {
        Some(d) => {
            let d = PathBuf::from(d);
            let shown = d.display().to_string();
            Some((d, shown))
        }
        None => match rprobe_index::moddir::kernel_release() {
            Some(r) => {
                let d = format!("{}/{r}", rprobe_index::moddir::MODULE_DIRECTORY);
                Some((PathBuf::from(&d), d))
            }
            None => {
                crate::errln!("Error: uname failed!");
                None
            }
        },
    }
}

/// modules.devname's bytes; None (after kmod's warning) when there is none, Err with the
/// exit code (after kmod's message) when it cannot be read.
fn read_devname(dir: &Path, shown: &str) -> Result<Option<Vec<u8>>, i32> {
    match std::fs::read(dir.join("modules.devname")) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::errln!("Warning: {shown}/modules.devname not found - ignoring");
            Ok(None)
        }
        Err(e) => {
            crate::errln!(
                "Error: could not open {shown}/modules.devname - {}",
                rprobe_index::error::io_text(&e)
            );
            Err(1)
        }
    }
}

/// The output file, created with its parent directories (0755); Err with the exit code
/// after kmod's message.
fn create_output(out: &Path) -> Result<std::fs::File, i32> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
        {
            crate::errln!(
                "Error: could not create parent directory for {} - {}.",
                out.display(),
                rprobe_index::error::io_text(&e)
            );
            return Err(1);
        }
    }
    std::fs::File::create(out).map_err(|e| {
        crate::errln!(
            "Error: could not create {} - {}",
            out.display(),
            rprobe_index::error::io_text(&e)
        );
        1
    })
}

/// Every entry of modules.devname in `format` (comment lines skipped), and the exit code:
/// 1 when a line was invalid (each reported as it is met).
fn format_nodes(input: &[u8], format: &str) -> (String, i32) {
    let mut code = 0;
    let mut text = String::new();
    for line in input.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'#') {
            continue;
        }
        match parse_line(line) {
            Some(e) => write_entry(format, &e, &mut text),
            None => {
                // The line as read, its newline included (none after a last line without).
                crate::err!(
                    "Error: invalid devname entry: {}",
                    String::from_utf8_lossy(line)
                );
                code = 1;
            }
        }
    }
    (text, code)
}

/// Writes the text to the output file, else to stdout; 1 after kmod's message when the
/// file cannot be written.
fn write_nodes(file: Option<std::fs::File>, text: &str, shown: &str) -> i32 {
    match file {
        Some(mut f) => {
            if let Err(e) = f.write_all(text.as_bytes()) {
                crate::errln!(
                    "Error: could not write {} - {}",
                    shown,
                    rprobe_index::error::io_text(&e)
                );
                return 1;
            }
        }
        None => crate::out!("{text}"),
    }
    0
}

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::DirBuilderExt as _;

/// The clap definition of this tool, for man pages and completions.
pub fn command() -> clap::Command {
    top_command()
        .about("Manage kernel modules: list, static-nodes, help")
        .disable_help_subcommand(true)
        .subcommand(clap::Command::new("help").about("Show help message"))
        .subcommand(
            crate::lsmod::command()
                .name("list")
                .about("list currently loaded modules"),
        )
        .subcommand(<StaticArgs as clap::CommandFactory>::command().about(
            "outputs the static-node information installed with the currently running kernel",
        ))
}
