//! The man pages: one section-8 page per command [`crate::registry`] gives a page (rendered
//! by clap_mangen from the definitions the tools parse with, closed by the kmod-generation
//! and SEE ALSO sections), and the section-5 pages for the files rprobe reads and writes
//! (roff in src/man/, with the configuration directories filled in from
//! [`rprobe_index::moddir::config_dirs`]).

use std::path::Path;

use rprobe_index::generation::Generation;
use rprobe_index::moddir::{config_dirs, DISTCONFDIR};

use super::write as write_file;
use crate::registry::{self, Reach};

/// Writes every page into `dir`.
pub(super) fn write(dir: &Path) -> Result<(), String> {
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
        page.push_str(&fill(GENERATIONS));
        page.push_str(SEE_ALSO);
        write_file(&dir.join(format!("{name}.8")), page.as_bytes())?;
    }
    for (name, body) in SECTION5 {
        let body = fill(body).replace("@CONFIG_FILES@", &config_files(name));
        let page = format!(
            ".TH {} 5 \"\" \"rprobe {}\" \"File Formats\"\n{}{}",
            name.to_uppercase(),
            env!("CARGO_PKG_VERSION"),
            body,
            SEE_ALSO
        );
        write_file(&dir.join(format!("{name}.5")), page.as_bytes())?;
    }
    Ok(())
}

/// The closing section of every page.
const SEE_ALSO: &str =
    ".SH \"SEE ALSO\"\n\\fBrprobe\\fR(8), \\fBmodprobe\\fR(8), \\fBdepmod\\fR(8), \
\\fBmodinfo\\fR(8), \\fBinsmod\\fR(8), \\fBrmmod\\fR(8), \\fBlsmod\\fR(8), \\fBkmod\\fR(8), \
\\fBmodprobe.d\\fR(5), \\fBdepmod.d\\fR(5), \\fBmodules.dep\\fR(5)\n";

/// Every section-8 page ends with which kmod rprobe behaves as and what that changes.
/// Every section-8 page ends with which kmod rprobe behaves as and what that changes.
const GENERATIONS: &str = include_str!("../man/kmod-generations.roff");

/// The section-5 pages: file formats rprobe reads and writes, in rprobe's words.
const SECTION5: [(&str, &str); 3] = [
    ("modprobe.d", include_str!("../man/modprobe.d.5.roff")),
    ("depmod.d", include_str!("../man/depmod.d.5.roff")),
    ("modules.dep", include_str!("../man/modules.dep.5.roff")),
];

/// A page's text with its placeholders for build-time paths filled in: `@DISTCONFDIR@`.
fn fill(text: &str) -> String {
    text.replace("@DISTCONFDIR@", DISTCONFDIR)
}

/// The files read for configuration `kind` (modprobe.d, depmod.d), one a line in kmod's
/// order, a directory only kmod 34 reads marked so; the page's `@CONFIG_FILES@`.
fn config_files(kind: &str) -> String {
    let kmod30 = config_dirs(kind, Generation::Kmod30);
    config_dirs(kind, Generation::Kmod34)
        .iter()
        .map(|d| {
            let mark = if kmod30.contains(d) {
                ""
            } else {
                "   (kmod 34 mode)"
            };
            format!("{}/*.conf{mark}", d.display())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        for (name, body) in SECTION5 {
            let page = fill(body).replace("@CONFIG_FILES@", &config_files(name));
            assert!(!page.contains('@'), "{name}");
        }
        assert!(!fill(GENERATIONS).contains('@'));
        assert_eq!(
            config_files("depmod.d").lines().count(),
            config_dirs("depmod.d", Generation::Kmod34).len()
        );
    }
}
