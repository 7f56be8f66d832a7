//! The binary's only way to standard output and standard error. A closed pipe on standard
//! output ends the process quietly with status 141, as a C tool killed by SIGPIPE reports
//! it to its shell; a failed write to standard error is ignored (there is no one to tell).

/// Ends the process quietly when `r` is a write into a closed pipe; other write errors are
/// ignored, as kmod's tools ignore them.
pub fn check(r: std::io::Result<()>) {
    if let Err(e) = r {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
    }
}

/// Writes formatted text and a newline to a writer (standard output when none is named);
/// a closed pipe ends the process.
#[macro_export]
macro_rules! outln {
    () => { $crate::outln!(std::io::stdout(), "") };
    ($w:expr, $($t:tt)*) => {{
        #[allow(unused_imports)]
        use std::io::Write as _;
        $crate::out::check(($w).write_fmt(format_args!("{}\n", format_args!($($t)*))))
    }};
}

/// Writes formatted text to standard output; a closed pipe ends the process.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        $crate::out::check(std::io::stdout().write_fmt(format_args!($($t)*)))
    }};
}

/// Writes formatted text and a newline to standard error, ignoring failure.
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = std::io::stderr().write_fmt(format_args!("{}\n", format_args!($($t)*)));
    }};
}

/// Writes formatted text to standard error as it is (no newline added), ignoring failure.
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = std::io::stderr().write_fmt(format_args!($($t)*));
    }};
}
