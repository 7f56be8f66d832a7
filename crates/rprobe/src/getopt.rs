//! kmod's tools read their options with glibc's getopt_long: long options may be shortened
//! to any unambiguous prefix, and a bad option is reported in getopt's words
//! (`modprobe: unrecognized option '--bogus'`). This module checks the arguments the way
//! getopt_long does, against a tool's clap definition, and rewrites them into a form clap
//! reads the same way (full long names, values attached), so clap never has to report an
//! option error in its own words.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// One option as getopt_long sees it.
struct Opt {
    /// The clap argument id (options sharing it are the same option, as getopt's `val`).
    id: String,
    /// Long names, the primary first, then aliases (kmod's tables list them in that order).
    longs: Vec<String>,
    /// Short names.
    shorts: Vec<char>,
    /// Whether it takes a value (getopt's required_argument).
    takes_value: bool,
    /// Hidden options are rprobe's own: matched only by their full name.
    hidden: bool,
}

fn options(cmd: &clap::Command) -> Vec<Opt> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional())
        .map(|a| {
            let mut longs: Vec<String> = a.get_long().map(str::to_string).into_iter().collect();
            longs.extend(
                a.get_all_aliases()
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_string),
            );
            let mut shorts: Vec<char> = a.get_short().into_iter().collect();
            shorts.extend(a.get_all_short_aliases().unwrap_or_default());
            Opt {
                id: a.get_id().to_string(),
                longs,
                shorts,
                takes_value: a.get_action().takes_values(),
                hidden: a.is_hide_set(),
            }
        })
        .collect()
}

/// What getopt_long would say about `raw` (argv[0] first, which prefixes its messages), or
/// the arguments rewritten for clap: long options spelled in full with `=VALUE` attached,
/// bundled short options split, option values attached to their option. `cmd` is built
/// here (clap's `build`, which parsing with it would do anyway).
pub fn check(cmd: &mut clap::Command, raw: &[OsString]) -> Result<Vec<OsString>, String> {
    Ok(check_items(cmd, raw)?
        .into_iter()
        .flat_map(|item| match item {
            Item::Given(r) => raw[r].to_vec(),
            Item::New(a) => vec![a.into()],
        })
        .collect())
}

/// A piece of getopt's rewrite ([`check_items`]).
pub enum Item {
    /// The arguments at these indexes of the input, as they were given (one item for a
    /// run of them: `modprobe -a` can have thousands).
    Given(std::ops::Range<usize>),
    /// An argument the rewrite made.
    New(Box<std::ffi::OsStr>),
}

/// Adds `raw[k]`, as given, to the rewrite: to the run before it when that ends at `k`.
fn given(out: &mut Vec<Item>, k: usize) {
    if let Some(Item::Given(r)) = out.last_mut() {
        if r.end == k {
            r.end += 1;
            return;
        }
    }
    out.push(Item::Given(k..k + 1));
}

/// [`check`] without copies: the arguments kept as they were are named by their index, so
/// a caller that owns them can move them (`modprobe -a` can have thousands).
pub fn check_items(cmd: &mut clap::Command, raw: &[OsString]) -> Result<Vec<Item>, String> {
    cmd.build();
    let opts = options(cmd);
    let argv0 = raw
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out: Vec<Item> = Vec::new();
    if !raw.is_empty() {
        given(&mut out, 0);
    }
    let mut i = 1;
    while i < raw.len() {
        let arg = &raw[i];
        let bytes = arg.as_bytes();
        i += 1;
        if bytes == b"--" {
            for k in i - 1..raw.len() {
                given(&mut out, k);
            }
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            given(&mut out, i - 1);
            continue;
        }
        let text = arg.to_string_lossy();
        if let Some(body) = text.strip_prefix("--") {
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let (opt, full) = find_long(&opts, name).map_err(|e| match e {
                LongErr::Unknown => format!("{argv0}: unrecognized option '--{body}'"),
                LongErr::Ambiguous(list) => {
                    let mut m = format!("{argv0}: option '--{body}' is ambiguous; possibilities:");
                    for l in list {
                        m.push_str(&format!(" '--{l}'"));
                    }
                    m
                }
            })?;
            match (opt.takes_value, value) {
                (false, Some(_)) => {
                    return Err(format!(
                        "{argv0}: option '--{full}' doesn't allow an argument"
                    ))
                }
                (false, None) => out.push(Item::New(OsString::from(format!("--{full}")).into())),
                (true, Some(_)) => {
                    let v = &bytes[bytes.iter().position(|&b| b == b'=').unwrap_or(0) + 1..];
                    out.push(Item::New(joined(&format!("--{full}="), v).into()));
                }
                (true, None) => {
                    let Some(v) = raw.get(i) else {
                        return Err(format!("{argv0}: option '--{full}' requires an argument"));
                    };
                    i += 1;
                    out.push(Item::New(
                        joined(&format!("--{full}="), v.as_bytes()).into(),
                    ));
                }
            }
            continue;
        }
        // A bundle of short options: "-nvq", "-Cdir", "-C dir".
        let mut k = 1;
        while k < bytes.len() {
            let c = char::from(bytes[k]);
            let Some(opt) = opts
                .iter()
                .find(|o| bytes[k].is_ascii() && o.shorts.contains(&c))
            else {
                let shown = if bytes[k].is_ascii() {
                    c.to_string()
                } else {
                    String::from_utf8_lossy(&bytes[k..k + 1]).into_owned()
                };
                return Err(format!("{argv0}: invalid option -- '{shown}'"));
            };
            k += 1;
            if !opt.takes_value {
                out.push(Item::New(OsString::from(format!("-{c}")).into()));
                continue;
            }
            let value: &[u8] = if k < bytes.len() {
                &bytes[k..]
            } else if let Some(v) = raw.get(i) {
                i += 1;
                v.as_bytes()
            } else {
                return Err(format!("{argv0}: option requires an argument -- '{c}'"));
            };
            out.push(Item::New(
                match opt.longs.first() {
                    Some(l) => joined(&format!("--{l}="), value),
                    None => joined(&format!("-{c}"), value),
                }
                .into(),
            ));
            break;
        }
    }
    Ok(out)
}

/// `prefix` followed by the raw bytes of `v` (as they came from the command line).
fn joined(prefix: &str, v: &[u8]) -> OsString {
    let mut b = prefix.as_bytes().to_vec();
    b.extend_from_slice(v);
    OsString::from_vec(b)
}

enum LongErr {
    Unknown,
    Ambiguous(Vec<String>),
}

/// getopt_long's long-option match: an exact name wins; else the one option whose names
/// start with `name` (several names of one option are not ambiguous); else the first match
/// and every later one that is a different option, in table order.
fn find_long<'a>(opts: &'a [Opt], name: &str) -> Result<(&'a Opt, String), LongErr> {
    for o in opts {
        if let Some(l) = o.longs.iter().find(|l| *l == name) {
            return Ok((o, l.clone()));
        }
    }
    if name.is_empty() {
        return Err(LongErr::Unknown);
    }
    let mut first: Option<(&Opt, &String)> = None;
    let mut ambiguous: Vec<String> = Vec::new();
    for o in opts.iter().filter(|o| !o.hidden) {
        for l in o.longs.iter().filter(|l| l.starts_with(name)) {
            match first {
                None => first = Some((o, l)),
                Some((f, fl)) => {
                    if f.id != o.id || f.takes_value != o.takes_value {
                        if ambiguous.is_empty() {
                            ambiguous.push(fl.clone());
                        }
                        ambiguous.push(l.clone());
                    }
                }
            }
        }
    }
    match first {
        _ if !ambiguous.is_empty() => Err(LongErr::Ambiguous(ambiguous)),
        Some((o, l)) => Ok((o, l.clone())),
        None => Err(LongErr::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> clap::Command {
        clap::Command::new("t")
            .arg(
                clap::Arg::new("all")
                    .short('a')
                    .long("all")
                    .action(clap::ArgAction::SetTrue),
            )
            .arg(
                clap::Arg::new("show")
                    .short('c')
                    .long("showconfig")
                    .alias("show-config")
                    .action(clap::ArgAction::SetTrue),
            )
            .arg(clap::Arg::new("sv").short('S').long("set-version"))
            .arg(clap::Arg::new("rest").num_args(0..))
    }

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn getopt_words() {
        let c = cmd();
        let e = |a: &[&str]| check(&mut c.clone(), &v(a)).unwrap_err();
        assert_eq!(e(&["t", "--bogus=1"]), "t: unrecognized option '--bogus=1'");
        assert_eq!(e(&["t", "-aZ"]), "t: invalid option -- 'Z'");
        assert_eq!(e(&["t", "-S"]), "t: option requires an argument -- 'S'");
        assert_eq!(
            e(&["t", "--set"]),
            "t: option '--set-version' requires an argument"
        );
        assert_eq!(
            e(&["t", "--al=1"]),
            "t: option '--all' doesn't allow an argument"
        );
        assert_eq!(
            e(&["t", "--s"]),
            "t: option '--s' is ambiguous; possibilities: '--showconfig' '--set-version'"
        );
    }

    #[test]
    fn rewrites_for_clap() {
        let c = cmd();
        assert_eq!(
            check(
                &mut c.clone(),
                &v(&["t", "--show-c", "-acS", "-x", "m", "--", "-z"])
            )
            .unwrap(),
            v(&[
                "t",
                "--show-config",
                "-a",
                "-c",
                "--set-version=-x",
                "m",
                "--",
                "-z"
            ])
        );
    }

    /// Found by the property below: an option's name after `--` is a positional (here a
    /// surplus one, which lsmod answers with its usage line), even when the same option
    /// stands before `--`.
    #[test]
    fn option_names_after_dashes_stay_positional() {
        let mut c = crate::lsmod::command();
        c.build();
        let out = check(&mut c, &v(&["tool", "--js", "--", "--json"])).unwrap();
        assert_eq!(out, v(&["tool", "--json", "--", "--json"]));
        let e = c.try_get_matches_from(&out).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    /// Every tool's real option table, with argument lists mixing its option names (whole,
    /// shortened, bundled, with and without values), `--`, `-` and arbitrary bytes: the
    /// check never panics, says getopt's words when it refuses, and when it accepts, the
    /// rewritten list never makes clap report an option error of its own.
    mod property {
        use super::*;
        use proptest::prelude::*;

        fn tools() -> Vec<clap::Command> {
            let mut v = vec![
                crate::modprobe::command(),
                crate::depmod::command(),
                crate::modinfo::command(),
                crate::insmod::command(),
                crate::rmmod::command(),
                crate::lsmod::command(),
                crate::coldplug::command(),
                crate::initramfs::command(),
            ];
            for c in &mut v {
                c.build();
            }
            v
        }

        fn spellings(cmd: &clap::Command) -> Vec<String> {
            let mut v = vec!["--".to_string(), "-".to_string(), "--=".to_string()];
            for a in cmd.get_arguments().filter(|a| !a.is_positional()) {
                if let Some(l) = a.get_long() {
                    v.push(format!("--{l}"));
                    v.push(format!("--{l}=x"));
                    v.push(format!("--{}", &l[..l.len().div_ceil(2)]));
                }
                if let Some(c) = a.get_short() {
                    v.push(format!("-{c}"));
                    v.push(format!("-{c}v"));
                }
            }
            v
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn never_panics_and_clap_never_speaks(
                tool in 0usize..8,
                picks in proptest::collection::vec((any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 0..6), 0u8..4), 0..8),
            ) {
                let cmds = tools();
                let cmd = &cmds[tool];
                let words = spellings(cmd);
                let mut raw: Vec<OsString> = vec!["tool".into()];
                for (i, bytes, how) in picks {
                    let w = i.get(&words).clone();
                    raw.push(match how {
                        0 => OsString::from_vec(bytes),
                        1 => {
                            let mut b = w.into_bytes();
                            b.extend(bytes);
                            OsString::from_vec(b)
                        }
                        _ => w.into(),
                    });
                }
                match check(&mut cmd.clone(), &raw) {
                    Err(msg) => prop_assert!(msg.starts_with("tool: "), "{msg}"),
                    Ok(out) => {
                        prop_assert_eq!(&out[0], &raw[0]);
                        // Clap may still refuse a value or a surplus positional (the tools
                        // answer those with kmod's usage lines), never an option.
                        if let Err(e) = cmd.clone().try_get_matches_from(&out) {
                            use clap::error::{ContextKind, ContextValue, ErrorKind};
                            let arg = match e.get(ContextKind::InvalidArg) {
                                Some(ContextValue::String(a)) => a.clone(),
                                _ => String::new(),
                            };
                            // An argument after "--" is a surplus positional, whatever
                            // it looks like (the same word may also stand before "--",
                            // as an option clap accepted: `--json -- --json`).
                            let before_dashes = out
                                .iter()
                                .take_while(|a| a.as_bytes() != b"--")
                                .any(|a| a.to_string_lossy() == arg);
                            let after_dashes = out
                                .iter()
                                .skip_while(|a| a.as_bytes() != b"--")
                                .skip(1)
                                .any(|a| a.to_string_lossy() == arg);
                            let option_error = e.kind() == ErrorKind::NoEquals
                                || (e.kind() == ErrorKind::UnknownArgument
                                    && arg.starts_with('-')
                                    && arg != "-"
                                    && before_dashes
                                    && !after_dashes);
                            prop_assert!(!option_error, "{raw:?} -> {out:?}: {e}");
                        }
                    }
                }
            }
        }
    }
}
