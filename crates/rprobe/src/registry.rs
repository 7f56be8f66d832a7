//! The tools this binary acts as, in one table: main's dispatch, `rprobe`'s own command
//! (its list of tools in rprobe(8) and in the `rprobe` completions), the man pages and the
//! completion files are all made from [`TOOLS`], so a tool added here is reachable,
//! documented and completed at once.

use std::ffi::OsString;

/// How a tool is reached, and which man page documents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reach {
    /// One of kmod's tools: the binary is it when called by its name (an installed link
    /// such as /sbin/modprobe) or as `rprobe NAME`; its page is NAME(8).
    MultiCall,
    /// rprobe's own command, reached only as `rprobe NAME`; its page is rprobe-NAME(8).
    Subcommand,
    /// Reached only as `rprobe NAME` and documented in rprobe(8) alone (no page).
    Unpaged,
    /// Reached only as `rprobe NAME`, for the completion scripts; documented nowhere.
    Hidden,
}

/// How a tool's command line names the module directory: its options for the root
/// directory and for the kernel release (as `complete-modules` gets them: -d and -S), or
/// that module names come from the loaded modules (rmmod).
#[derive(Debug)]
pub(crate) struct ModuleArgs {
    /// The tool's spellings of the root option.
    pub root: &'static [&'static str],
    /// The tool's spellings of the kernel release option.
    pub release: &'static [&'static str],
    /// Names of loaded modules (/proc/modules) instead of installed ones.
    pub loaded: bool,
}

/// A tool this binary can act as.
#[derive(Debug)]
pub(crate) struct Tool {
    /// Its name: the argv[0] or first argument that picks it.
    pub name: &'static str,
    /// Its line in rprobe(8)'s list of tools and in the `rprobe` completions.
    pub summary: &'static str,
    /// Its clap definition (renamed where used: NAME under `rprobe`, its page's name alone).
    pub command: fn() -> clap::Command,
    /// Runs it on an argument vector whose first item is its name; returns the exit code.
    pub main: fn(Vec<OsString>) -> i32,
    /// How it is reached and documented.
    pub reach: Reach,
    /// The name of its section-8 page, also the command its completion file completes
    /// (NAME for kmod's tools, rprobe-NAME for rprobe's own; none for the others).
    pub page: Option<&'static str>,
    /// Whether its arguments are module names, and how its command line names the module
    /// directory they come from (for the completions).
    pub modules: Option<ModuleArgs>,
}

/// Module names from the installed modules, with modprobe's -d/-S spellings.
const MODPROBE_MODULES: ModuleArgs = ModuleArgs {
    root: &["-d", "--dirname"],
    release: &["-S", "--set-version"],
    loaded: false,
};

/// Every tool, in the order rprobe(8) lists them.
pub(crate) const TOOLS: &[Tool] = &[
    Tool {
        name: "modprobe",
        summary: "Load or remove modules and what they need (the default tool)",
        command: crate::modprobe::command,
        main: crate::modprobe::main,
        reach: Reach::MultiCall,
        page: Some("modprobe"),
        modules: Some(MODPROBE_MODULES),
    },
    Tool {
        name: "depmod",
        summary: "Write the modules.* index files of a module directory",
        command: crate::depmod::command,
        main: crate::depmod::main,
        reach: Reach::MultiCall,
        page: Some("depmod"),
        modules: None,
    },
    Tool {
        name: "modinfo",
        summary: "Show what a module file declares",
        command: crate::modinfo::command,
        main: crate::modinfo::main,
        reach: Reach::MultiCall,
        page: Some("modinfo"),
        modules: Some(ModuleArgs {
            root: &["-b", "--basedir"],
            release: &["-k", "--set-version"],
            loaded: false,
        }),
    },
    Tool {
        name: "insmod",
        summary: "Insert one module file, nothing else",
        command: crate::insmod::command,
        main: crate::insmod::main,
        reach: Reach::MultiCall,
        page: Some("insmod"),
        modules: None,
    },
    Tool {
        name: "rmmod",
        summary: "Remove one loaded module",
        command: crate::rmmod::command,
        main: crate::rmmod::main,
        reach: Reach::MultiCall,
        page: Some("rmmod"),
        modules: Some(ModuleArgs {
            root: &[],
            release: &[],
            loaded: true,
        }),
    },
    Tool {
        name: "lsmod",
        summary: "List the loaded modules",
        command: crate::lsmod::command,
        main: crate::lsmod::main,
        reach: Reach::MultiCall,
        page: Some("lsmod"),
        modules: None,
    },
    Tool {
        name: "kmod",
        summary: "kmod's own command: list, static-nodes, help",
        command: crate::kmod::command,
        main: crate::kmod::main,
        reach: Reach::MultiCall,
        page: Some("kmod"),
        modules: None,
    },
    Tool {
        name: "initramfs",
        summary: "Build a reproducible initramfs image with a module closure",
        command: crate::initramfs::command,
        main: crate::initramfs::main,
        reach: Reach::Subcommand,
        page: Some("rprobe-initramfs"),
        modules: None,
    },
    Tool {
        name: "coldplug",
        summary: "Load the drivers of every device present, without udev",
        command: crate::coldplug::command,
        main: crate::coldplug::main,
        reach: Reach::Subcommand,
        page: Some("rprobe-coldplug"),
        modules: None,
    },
    Tool {
        name: "why",
        summary: crate::why::ABOUT,
        command: crate::why::command,
        main: crate::why::main,
        reach: Reach::Subcommand,
        page: Some("rprobe-why"),
        modules: None,
    },
    Tool {
        name: "graph",
        summary: crate::graph::ABOUT,
        command: crate::graph::command,
        main: crate::graph::main,
        reach: Reach::Subcommand,
        page: Some("rprobe-graph"),
        modules: None,
    },
    Tool {
        name: "generate",
        summary: "Write man pages or shell completions",
        command: crate::generate::command,
        main: crate::generate::main,
        reach: Reach::Unpaged,
        page: None,
        modules: None,
    },
    Tool {
        name: "complete-modules",
        summary: "Print the module names of a module directory, one a line (for completions)",
        command: crate::generate::complete::command,
        main: crate::generate::complete::main,
        reach: Reach::Hidden,
        page: None,
        modules: None,
    },
];

/// The tool for a first argument that names none: modprobe, first in [`TOOLS`].
pub(crate) const DEFAULT: &Tool = &TOOLS[0];

/// The tool named `name`, if any.
pub(crate) fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

impl Tool {
    /// Its clap definition named as its page, for the page and the completion file.
    fn paged_command(&self) -> Option<clap::Command> {
        self.page.map(|p| (self.command)().name(p))
    }
}

/// `rprobe` itself: the multi-call binary, with every tool as a subcommand.
pub(crate) fn rprobe_command() -> clap::Command {
    let mut cmd = clap::Command::new("rprobe")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Linux kernel-module toolkit: modprobe, depmod, modinfo, insmod, rmmod, lsmod and kmod in one binary")
        .long_about(
            "rprobe is one binary that acts as each of kmod's tools. Called by the name of a \
             tool (through a link named modprobe, depmod, modinfo, insmod, rmmod, lsmod or \
             kmod) it is that tool, with the same options, output, files and exit codes. \
             Called as rprobe, a first argument naming a tool picks it (rprobe depmod -a); \
             any other first argument makes it modprobe (rprobe ext4). It also builds \
             initramfs images with a module closure and writes its own man pages and shell \
             completions.",
        )
        .disable_version_flag(true)
        // `rprobe help` is modprobe loading "help", not clap's help command.
        .disable_help_subcommand(true)
        .subcommand_value_name("TOOL");
    for t in TOOLS {
        cmd = cmd.subcommand(
            (t.command)()
                .name(t.name)
                .about(t.summary)
                .hide(t.reach == Reach::Hidden),
        );
    }
    cmd
}

/// Every command a section-8 page and a completion file are made for, named as installed:
/// `rprobe` first, then each tool that has a page.
pub(crate) fn paged_commands() -> Vec<clap::Command> {
    std::iter::once(rprobe_command())
        .chain(TOOLS.iter().filter_map(Tool::paged_command))
        .collect()
}

/// The module-name arguments of the command whose page is `page` (`None`: it takes none).
pub(crate) fn module_args(page: &str) -> Option<&'static ModuleArgs> {
    TOOLS
        .iter()
        .find(|t| t.page == Some(page))
        .and_then(|t| t.modules.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modprobe_is_the_default_and_names_are_unique() {
        assert_eq!(DEFAULT.name, "modprobe");
        let mut names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
    }

    #[test]
    fn pages_follow_the_reach() {
        for t in TOOLS {
            let want = match t.reach {
                Reach::MultiCall => Some(t.name.to_string()),
                Reach::Subcommand => Some(format!("rprobe-{}", t.name)),
                Reach::Unpaged | Reach::Hidden => None,
            };
            assert_eq!(t.page.map(str::to_string), want, "{}", t.name);
        }
    }
}
