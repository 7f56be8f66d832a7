//! `rprobe generate man DIR` and `rprobe generate completions SHELL DIR`: man pages and
//! shell completions made from the command-line definitions, for packagers (as ripgrep
//! does), plus the hidden `rprobe complete-modules` the completions call for module names.
//!
//! Man pages: one section-8 page per name the binary answers to (rprobe, modprobe, depmod,
//! modinfo, insmod, rmmod, lsmod, kmod, rprobe-initramfs, rprobe-coldplug, rprobe-why,
//! rprobe-graph), rendered by
//! clap_mangen from the same definitions the tools parse with, and three section-5 pages
//! written here (modprobe.d, depmod.d, modules.dep), all in one flat DIR.
//!
//! Completions: bash (DIR/NAME, as bash-completion's directory wants), zsh (DIR/_NAME, an
//! fpath function) and fish (DIR/NAME.fish). Module names are completed at completion time
//! by `rprobe complete-modules`, which reads modules.dep of the module directory the
//! command line names (-d/-b and -S/-k) or of the running kernel.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::builder::PossibleValue;

use crate::registry::{self, ModuleArgs, Reach};

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

/// `rprobe complete-modules`'s definition.
pub(crate) fn complete_modules_command() -> clap::Command {
    clap::Command::new("complete-modules")
        .about("Print the module names of a module directory, one a line (for completions)")
        .arg(
            clap::Arg::new("dirname")
                .short('d')
                .long("dirname")
                .value_name("DIR")
                .value_hint(clap::ValueHint::DirPath)
                .help("The root directory holding lib/modules (default /)"),
        )
        .arg(
            clap::Arg::new("release")
                .short('S')
                .long("set-version")
                .value_name("VERSION")
                .help("The kernel release (default: the running kernel's)"),
        )
        .arg(
            clap::Arg::new("loaded")
                .long("loaded")
                .action(clap::ArgAction::SetTrue)
                .help("Print the loaded modules (/proc/modules, or $RPROBE_PROC_MODULES) instead"),
        )
}

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
        ([_, dir], Some("man"), _) => create(dir).and_then(|d| write_man(&d)),
        ([_, _, dir], Some("completions"), Some(shell @ ("bash" | "zsh" | "fish"))) => {
            create(dir).and_then(|d| write_completions(shell, &d))
        }
        _ => {
            crate::errln!("{USAGE}");
            return 2;
        }
    };
    match res {
        Ok(()) => 0,
        Err(e) => {
            crate::errln!("generate: ERROR: {e}");
            1
        }
    }
}

fn create(dir: &OsStr) -> Result<PathBuf, String> {
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_man(dir: &Path) -> Result<(), String> {
    for cmd in registry::paged_commands() {
        let name = cmd.get_name().to_string();
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd)
            .section("8")
            .source(format!("rprobe {}", env!("CARGO_PKG_VERSION")))
            .manual("System Administration")
            .render(&mut buf)
            .map_err(|e| format!("{name}.8: {e}"))?;
        let mut page = String::from_utf8_lossy(&buf).into_owned();
        if name == "rprobe" {
            // clap_mangen names subcommands' pages BIN-SUB(8): right for rprobe's own
            // commands; kmod's tools' pages carry the tools' own names, and a command
            // without a page is named as typed.
            for tool in registry::TOOLS {
                let named = match tool.reach {
                    Reach::MultiCall => format!("{}(8)", tool.name),
                    Reach::Subcommand | Reach::Hidden => continue,
                    Reach::Unpaged => format!("rprobe {}", tool.name),
                };
                page = page.replace(&format!("rprobe\\-{}(8)", tool.name), &named);
            }
        }
        page.push_str(GENERATIONS);
        page.push_str(SEE_ALSO);
        write(&dir.join(format!("{name}.8")), page.as_bytes())?;
    }
    for (name, body) in SECTION5 {
        let page = format!(
            ".TH {} 5 \"\" \"rprobe {}\" \"File Formats\"\n{}{}",
            name.to_uppercase(),
            env!("CARGO_PKG_VERSION"),
            body,
            SEE_ALSO
        );
        write(&dir.join(format!("{name}.5")), page.as_bytes())?;
    }
    Ok(())
}

/// The closing section of every page.
const SEE_ALSO: &str =
    ".SH \"SEE ALSO\"\n\\fBrprobe\\fR(8), \\fBmodprobe\\fR(8), \\fBdepmod\\fR(8), \
\\fBmodinfo\\fR(8), \\fBinsmod\\fR(8), \\fBrmmod\\fR(8), \\fBlsmod\\fR(8), \\fBkmod\\fR(8), \
\\fBmodprobe.d\\fR(5), \\fBdepmod.d\\fR(5), \\fBmodules.dep\\fR(5)\n";

/// Every section-8 page ends with which kmod rprobe behaves as and what that changes.
const GENERATIONS: &str = r#".SH "KMOD 30 AND KMOD 34"
rprobe behaves as one of two kmod versions: kmod 30 (Debian 12) or kmod 34.2 (Debian 13,
Fedora, Arch). \fBRPROBE_KMOD=30\fR or \fBRPROBE_KMOD=34\fR in the environment picks
one; without it, the version fixed when rprobe was built (\fBRPROBE_KMOD_DEFAULT\fR; the
package is built for the kmod of the system it targets), else 34. Any other value is an
error. Both versions' index files are read in either mode. In kmod 34 mode:
.IP \(bu 2
\fBdepmod\fR writes the binary indexes (\fI*.bin\fR) root first, as kmod 34 does
(kmod 30 writes them root last; the two read each other's), always writes
\fImodules.weakdep\fR, places a module listed twice in \fImodules.order\fR by its
first line (kmod 30: its last), and refuses \fB\-u\fR, \fB\-q\fR and \fB\-r\fR,
which kmod 30 ignores with a warning.
.IP \(bu 2
Configuration is also read from /usr/lib/modprobe.d and /usr/lib/depmod.d;
\fI*.alias\fR files in modprobe.d are not read.
.IP \(bu 2
\fBmodprobe\fR loads a module from a file named by an argument that starts with
\fB/\fR or \fB./\fR; a module without the section asked for by
\fB\-\-dump\-modversions\fR or \fB\-\-show\-exports\fR is "No data available".
.IP \(bu 2
\fBinsmod\fR takes \fB\-v\fR and not \fB\-p\fR, and quotes module options holding
spaces as modprobe does; \fBlsmod\fR takes \fB\-s \-v \-V \-h\fR and refuses
arguments; \fBkmod help\fR uses kmod 34's words.
.IP \(bu 2
\fBrmmod\fR names the holders of a module in use on one line, as kmod 30 and kmod's
later fix do (kmod 34.0 to 34.2 garble that message; rprobe does not copy it).
"#;

/// The section-5 pages: file formats rprobe reads and writes, in rprobe's words.
const SECTION5: [(&str, &str); 3] = [
    ("modprobe.d", MODPROBE_D),
    ("depmod.d", DEPMOD_D),
    ("modules.dep", MODULES_DEP),
];

const MODPROBE_D: &str = r#".SH NAME
modprobe.d \- configuration of module loading and removal
.SH SYNOPSIS
.nf
/etc/modprobe.d/*.conf
/run/modprobe.d/*.conf
/usr/local/lib/modprobe.d/*.conf
/usr/lib/modprobe.d/*.conf   (kmod 34 mode)
/lib/modprobe.d/*.conf
.fi
.SH DESCRIPTION
\fBmodprobe\fR(8) reads these files before it resolves a name, and so do
\fBmodinfo\fR(8) and \fBrprobe initramfs\fR for the parts they need.
Files ending in \fI.conf\fR are read from each directory above (or from the
paths given with \fB\-C\fR); in kmod 30 mode files ending in \fI.alias\fR too, and
/usr/lib/modprobe.d only in kmod 34 mode (see \fBrprobe\fR(8)); files are sorted by their name, and a name seen in an
earlier directory hides a file of the same name in a later one, so a file in
/etc/modprobe.d can replace a packaged one.
The module directory's \fImodules.softdep\fR and \fImodules.weakdep\fR are read as
two more files.
.PP
Each line holds one command and its arguments, separated by spaces or tabs.
Empty lines and lines starting with \fB#\fR are skipped; a backslash at the end of
a line joins it with the next one.
Module names are compared with \fB\-\fR and \fB_\fR treated as the same character.
A line that cannot be read is reported and skipped; the rest of the file still counts.
.SH COMMANDS
.TP
\fBalias\fR \fIPATTERN\fR \fIMODULE\fR
Gives a module another name. \fIPATTERN\fR may hold shell wildcards
(\fB*\fR, \fB?\fR, \fB[...]\fR); a name that matches it loads \fIMODULE\fR.
Aliases written here are looked up before those the modules declare themselves
(\fImodules.alias\fR).
.TP
\fBoptions\fR \fIMODULE\fR \fIPARAMETER\fR[\fB=\fR\fIVALUE\fR]...
Parameters passed to \fIMODULE\fR each time it is loaded, before those given on the
command line. Several lines for one module add up.
.TP
\fBinstall\fR \fIMODULE\fR \fICOMMAND\fR...
Runs \fICOMMAND\fR through /bin/sh instead of inserting \fIMODULE\fR. In the command,
\fB$CMDLINE_OPTS\fR stands for the parameters given on the command line.
\fBmodprobe \-i\fR ignores these commands.
.TP
\fBremove\fR \fIMODULE\fR \fICOMMAND\fR...
The same as \fBinstall\fR, for \fBmodprobe \-r\fR.
.TP
\fBblacklist\fR \fIMODULE\fR
The aliases \fIMODULE\fR declares are not used to load it: a device that names one of
them no longer pulls it in. Loading it by its own name, or as a dependency, still works.
\fBmodprobe \-b\fR also refuses blacklisted modules asked for by name.
.TP
\fBsoftdep\fR \fIMODULE\fR [\fBpre:\fR \fIMODULE\fR...] [\fBpost:\fR \fIMODULE\fR...]
Modules to load before (\fBpre:\fR) and after (\fBpost:\fR) \fIMODULE\fR when it is
loaded, and to remove around it when it is removed, for needs its symbols do not show.
A missing soft dependency is not an error.
.TP
\fBweakdep\fR \fIMODULE\fR \fIMODULE\fR...
Modules \fIMODULE\fR may need at run time; they are not loaded with it, but tools that
build images (initramfs generators) take them along.
.PP
\fBinclude\fR and \fBconfig\fR, commands of old versions, are reported and ignored.
.SH "KERNEL COMMAND LINE"
The kernel command line (/proc/cmdline) adds to the configuration:
\fBmodprobe.blacklist=\fR\fIM1\fR,\fIM2\fR... blacklists modules, and
\fIMODULE\fR\fB.\fR\fIPARAMETER\fR\fB=\fR\fIVALUE\fR adds an option for \fIMODULE\fR
(quote the value with \fB"\fR to include spaces).
.SH EXAMPLE
.nf
# load the realtek driver for the name "eth0"
alias eth0 r8169
options snd_hda_intel power_save=1
softdep xfs pre: crc32c_generic
blacklist pcspkr
install dummy /bin/true
.fi
"#;

const DEPMOD_D: &str = r#".SH NAME
depmod.d \- configuration of module index generation
.SH SYNOPSIS
.nf
/etc/depmod.d/*.conf
/run/depmod.d/*.conf
/usr/local/lib/depmod.d/*.conf
/usr/lib/depmod.d/*.conf   (kmod 34 mode)
/lib/depmod.d/*.conf
.fi
.SH DESCRIPTION
\fBdepmod\fR(8) reads these files (or the paths given with \fB\-C\fR) to decide which
module files under /lib/modules/\fIVERSION\fR it indexes when two files give the same
module name, and which it leaves out. Files are gathered as for \fBmodprobe.d\fR(5):
sorted by name, the first of equal names winning. Empty lines and lines starting with
\fB#\fR are skipped; a trailing backslash joins a line with the next. A line that cannot be
read is reported and skipped.
.SH COMMANDS
.TP
\fBsearch\fR \fIDIRECTORY\fR...
The order in which subdirectories of the module directory are preferred when a module
name appears more than once: a module in a directory listed earlier wins over one listed
later. \fBbuilt\-in\fR names the kernel's own tree (kernel/), \fBexternal\fR names the
directories given by \fBexternal\fR lines. Directories not listed rank after the listed
ones. Several \fBsearch\fR lines add up, earlier lines first.
.TP
\fBoverride\fR \fIMODULE\fR \fIVERSION\fR \fIDIRECTORY\fR
For kernels matching \fIVERSION\fR, the copy of \fIMODULE\fR found in \fIDIRECTORY\fR
(relative to the module directory) wins over every other copy.
.TP
\fBexternal\fR \fIVERSION\fR \fIDIRECTORY\fR
For kernels matching \fIVERSION\fR, also index the modules under the absolute path
\fIDIRECTORY\fR, outside the module directory; their rank is given by \fBexternal\fR in
\fBsearch\fR.
.TP
\fBexclude\fR \fINAME\fR...
Skip directories with these names while walking the tree.
.PP
A \fIVERSION\fR of \fB*\fR matches every kernel; any other is a POSIX extended regular
expression, which matches when it is found anywhere in the kernel release. Patterns with
back-references, or so large that their automaton would exceed 64 KiB, match nothing.
.SH EXAMPLE
.nf
search updates extra built\-in
override e1000e * updates/net
exclude .git
.fi
"#;

const MODULES_DEP: &str = r#".SH NAME
modules.dep, modules.dep.bin \- module dependency index and the other modules.* files
.SH SYNOPSIS
/lib/modules/\fIVERSION\fR/modules.*
.SH DESCRIPTION
\fBdepmod\fR(8) writes these files into a kernel's module directory from the modules
found there; \fBmodprobe\fR(8), \fBmodinfo\fR(8), \fBrprobe initramfs\fR, udev and the
kernel's own loaders read them. They are generated: edit the modules or the
configuration (\fBdepmod.d\fR(5)) and run depmod again, never the files.
Each \fI.bin\fR file holds the same lookup table as its text sibling, as a compact prefix
tree for lookups without reading the whole file; the text files are for people and for
tools that read text.
.PP
Module paths in these files are relative to the module directory unless the module lives
outside it (an \fBexternal\fR directory), in which case the path is absolute.
Module names are written with \fB_\fR where a file name has \fB\-\fR.
rprobe writes each file under a temporary name and renames it into place, so a reader
never sees a half-written index.
.SH FILES
.TP
\fBmodules.dep\fR, \fBmodules.dep.bin\fR
One line per module: its path, a colon, then the paths of every module it needs,
directly or not, in the order they must be loaded last to first (a module's direct
needs come before theirs). A module that needs nothing has nothing after the colon.
.TP
\fBmodules.alias\fR, \fBmodules.alias.bin\fR
\fBalias\fR \fIPATTERN\fR \fIMODULE\fR lines: the device and feature names each module
declares (its \fIalias\fR fields), with shell wildcards.
.TP
\fBmodules.symbols\fR, \fBmodules.symbols.bin\fR
\fBalias symbol:\fR\fINAME\fR \fIMODULE\fR lines: which module exports each symbol.
.TP
\fBmodules.softdep\fR
The \fBsoftdep\fR (and \fBweakdep\fR) lines the modules declare themselves, in
\fBmodprobe.d\fR(5) syntax.
.TP
\fBmodules.devname\fR
Modules that provide a device node before they are loaded: the module name, the node
name under /dev, and its type and numbers (\fBc\fR or \fBb\fR \fIMAJOR\fR:\fIMINOR\fR).
\fBkmod static\-nodes\fR reads it.
.TP
\fBmodules.builtin\fR, \fBmodules.builtin.bin\fR
The modules compiled into the kernel image (the text file comes with the kernel; the
index is made from it).
.TP
\fBmodules.builtin.alias.bin\fR
The aliases of built-in modules, from \fImodules.builtin.modinfo\fR.
.TP
\fBmodules.order\fR, \fBmodules.builtin.modinfo\fR
Written by the kernel's build, read by depmod: the order modules were built in, and the
information fields of built-in modules.
.SH EXAMPLE
.nf
kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko
kernel/lib/libcrc32c.ko:
.fi
"#;

/// Writes SHELL's completion file for every command into `dir`.
fn write_completions(shell: &str, dir: &Path) -> Result<(), String> {
    for mut cmd in registry::paged_commands() {
        let name = cmd.get_name().to_string();
        let mut out = Vec::new();
        let (file, extra) = match shell {
            "zsh" => {
                clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, &name, &mut out);
                (format!("_{name}"), zsh_modules(&name))
            }
            "fish" => {
                clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, &name, &mut out);
                (format!("{name}.fish"), fish_modules(&name))
            }
            _ => {
                clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, &name, &mut out);
                (name.clone(), bash_modules(&cmd, &name))
            }
        };
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if let Some(extra) = extra {
            text = extra.apply(text);
        }
        write(&dir.join(file), text.as_bytes())?;
    }
    Ok(())
}

/// A change to a generated completion file: text appended, and for zsh the dispatch of
/// clap's function replaced by ours.
struct Extra {
    /// Text appended at the end.
    append: String,
    /// (what, by what) replacements in the lines of clap's text that specify a positional
    /// argument (zsh's `_arguments` specs starting with `':` or `'*:`).
    replace: Vec<(String, String)>,
}

impl Extra {
    fn apply(self, text: String) -> String {
        let mut out = String::with_capacity(text.len() + self.append.len());
        for line in text.split_inclusive('\n') {
            let t = line.trim_start();
            if t.starts_with("':") || t.starts_with("'*:") {
                let mut l = line.to_string();
                for (a, b) in &self.replace {
                    l = l.replace(a, b);
                }
                out.push_str(&l);
            } else {
                out.push_str(line);
            }
        }
        out.push_str(&self.append);
        out
    }
}

/// The options of `cmd` that take a value, as spelled on the command line.
fn value_options(cmd: &clap::Command) -> Vec<String> {
    let mut v = Vec::new();
    for a in cmd.get_arguments() {
        if a.is_positional() || !a.get_action().takes_values() {
            continue;
        }
        if let Some(s) = a.get_short() {
            v.push(format!("-{s}"));
        }
        if let Some(l) = a.get_long() {
            v.push(format!("--{l}"));
        }
    }
    v
}

/// A shell-safe function name suffix for a command name.
fn ident(name: &str) -> String {
    name.replace('-', "_")
}

/// bash: a completion function that offers module names for words that are not options
/// (nor an option's value) and hands everything else to clap's function.
fn bash_modules(cmd: &clap::Command, name: &str) -> Option<Extra> {
    let m = registry::module_args(name)?;
    let id = ident(name);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n# Module names, from rprobe complete-modules (added by rprobe)."
    );
    let _ = writeln!(s, "_rprobe_modules_{id}() {{");
    let _ = writeln!(
        s,
        "    local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\""
    );
    let _ = writeln!(
        s,
        "    case \"$cur\" in -*) {name_fn} \"$@\"; return ;; esac",
        name_fn = clap_bash_fn(name)
    );
    let _ = writeln!(
        s,
        "    case \"$prev\" in {}) {} \"$@\"; return ;; esac",
        shell_alternatives(&value_options(cmd)),
        clap_bash_fn(name)
    );
    let _ = writeln!(s, "    local args=() i");
    module_dir_args(&mut s, m, 1, "COMP_CWORD", "COMP_WORDS");
    let _ = writeln!(
        s,
        "    COMPREPLY=($(compgen -W \"$(rprobe complete-modules \"${{args[@]}}\" 2>/dev/null)\" -- \"$cur\"))"
    );
    let _ = writeln!(s, "}}");
    let _ = writeln!(
        s,
        "complete -F _rprobe_modules_{id} -o bashdefault -o default {name}"
    );
    Some(Extra {
        append: s,
        replace: Vec::new(),
    })
}

/// Shell lines (bash and zsh share the syntax) that fill `args` with what
/// `complete-modules` needs: `--loaded`, or the -d/-S values the command line so far gives
/// (words `first`..`cur` of the array `words`).
fn module_dir_args(s: &mut String, m: &ModuleArgs, first: u32, cur: &str, words: &str) {
    if m.loaded {
        let _ = writeln!(s, "    args=(--loaded)");
        return;
    }
    let _ = writeln!(s, "    for ((i = {first}; i < {cur}; i++)); do");
    let _ = writeln!(s, "        case \"${{{words}[i]}}\" in");
    for (opts, flag) in [(m.root, "-d"), (m.release, "-S")] {
        let _ = writeln!(
            s,
            "            {}) args+=({flag} \"${{{words}[i+1]}}\") ;;",
            shell_alternatives(opts)
        );
    }
    let _ = writeln!(s, "        esac");
    let _ = writeln!(s, "    done");
}

/// The name of the function clap_complete's bash script defines for `name`.
fn clap_bash_fn(name: &str) -> String {
    format!("_{name}")
}

/// `a|b|c` for a shell case pattern (a pattern that never matches when empty).
fn shell_alternatives(v: &[impl AsRef<str>]) -> String {
    if v.is_empty() {
        return "''".into();
    }
    v.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join("|")
}

/// zsh: the positional arguments complete module names through `_rprobe_modules_NAME`.
fn zsh_modules(name: &str) -> Option<Extra> {
    let m = registry::module_args(name)?;
    let id = ident(name);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n# Module names, from rprobe complete-modules (added by rprobe)."
    );
    let _ = writeln!(s, "_rprobe_modules_{id}() {{");
    let _ = writeln!(s, "    local -a args mods");
    let _ = writeln!(s, "    local i");
    module_dir_args(&mut s, m, 2, "CURRENT", "words");
    let _ = writeln!(
        s,
        "    mods=(${{(f)\"$(rprobe complete-modules \"${{args[@]}}\" 2>/dev/null)\"}})"
    );
    let _ = writeln!(s, "    compadd -a mods");
    let _ = writeln!(s, "}}");
    Some(Extra {
        append: s,
        // clap_complete writes a positional without a value hint as '...:_default'; every
        // positional of these tools is a module name (or a module's parameters).
        replace: vec![(":_default'".into(), format!(":_rprobe_modules_{id}'"))],
    })
}

/// fish: module names for arguments that are not options.
fn fish_modules(name: &str) -> Option<Extra> {
    let m = registry::module_args(name)?;
    let id = ident(name);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n# Module names, from rprobe complete-modules (added by rprobe)."
    );
    let _ = writeln!(s, "function __rprobe_modules_{id}");
    let _ = writeln!(s, "    set -l args");
    if m.loaded {
        let _ = writeln!(s, "    set args --loaded");
    } else {
        let _ = writeln!(s, "    set -l words (commandline -opc)");
        let _ = writeln!(s, "    for i in (seq 2 (count $words))");
        let _ = writeln!(s, "        switch $words[$i]");
        for (opts, flag) in [(m.root, "-d"), (m.release, "-S")] {
            if opts.is_empty() {
                continue;
            }
            let _ = writeln!(s, "            case {}", opts.join(" "));
            let _ = writeln!(s, "                set -l j (math $i + 1)");
            let _ = writeln!(
                s,
                "                test $j -le (count $words); and set -a args {flag} $words[$j]"
            );
        }
        let _ = writeln!(s, "        end");
        let _ = writeln!(s, "    end");
    }
    let _ = writeln!(s, "    rprobe complete-modules $args 2>/dev/null");
    let _ = writeln!(s, "end");
    // modinfo also takes module files: file names stay offered beside module names.
    let files = if name == "modinfo" { "" } else { " -f" };
    let _ = writeln!(
        s,
        "complete -c {name}{files} -n 'not string match -q -- \"-*\" (commandline -ct)' -a '(__rprobe_modules_{id})'"
    );
    Some(Extra {
        append: s,
        replace: Vec::new(),
    })
}

/// Runs the hidden `complete-modules`: prints module names, one a line, sorted.
pub fn complete_modules(args: Vec<OsString>) -> i32 {
    let m = match complete_modules_command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => {
            crate::errln!("complete-modules: ERROR: {}", e.kind());
            return 2;
        }
    };
    let mut names: Vec<String> = if m.get_flag("loaded") {
        rprobe_load::HostPaths::from_env()
            .loaded_modules()
            .unwrap_or_default()
    } else {
        let dir = rprobe_index::moddir::tool_module_dir(
            m.get_one::<String>("dirname").map(String::as_str),
            m.get_one::<String>("release").map(String::as_str),
        );
        let dir = Path::new(&dir);
        let mut v = Vec::new();
        for (file, head) in [("modules.dep", true), ("modules.builtin", false)] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            for line in text.lines() {
                let path = if head {
                    line.split(':').next().unwrap_or("")
                } else {
                    line
                };
                let path = path.trim();
                if !path.is_empty() {
                    v.push(rprobe_index::name::modname_from_path(Path::new(path)));
                }
            }
        }
        v
    };
    names.sort();
    names.dedup();
    let mut out = std::io::stdout().lock();
    for n in names {
        crate::outln!(out, "{n}");
    }
    0
}
