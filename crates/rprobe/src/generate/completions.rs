//! The completion files: bash (DIR/NAME, as bash-completion's directory wants), zsh
//! (DIR/_NAME, an fpath function) and fish (DIR/NAME.fish), one per command
//! [`crate::registry`] gives a page. clap_complete writes them; for the tools whose
//! arguments are module names, a function added here offers the names
//! `rprobe complete-modules` prints for the module directory the command line names
//! (-d/-b and -S/-k) or the running kernel's.

use std::fmt::Write as _;
use std::path::Path;

use super::write as write_file;
use crate::registry::{self, ModuleArgs};

/// Writes SHELL's completion file for every command into `dir`.
pub(super) fn write(shell: &str, dir: &Path) -> Result<(), String> {
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
        write_file(&dir.join(file), text.as_bytes())?;
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
