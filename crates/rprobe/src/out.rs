//! The binary's only way to standard output and standard error. A closed pipe on standard
//! output ends the tool quietly with status 141, as a C tool killed by SIGPIPE reports it
//! to its shell: the closed pipe rises to `main` (see [`ClosedPipe`]), which returns the
//! status; a failed write to standard error is ignored (there is no one to tell).

/// Standard output was closed under the tool. [`check`] carries it up to `main` by
/// unwinding (`resume_unwind`, which prints nothing and runs every destructor on the way),
/// and `main` turns it into status 141; no code between needs to pass it along.
pub struct ClosedPipe;

/// Set when a worker thread met the closed pipe: it cannot unwind into `main`, so `main`
/// looks here when the tool returns.
pub static PIPE_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ends the tool quietly when `r` is a write into a closed pipe (see [`ClosedPipe`]);
/// other write errors are ignored, as kmod's tools ignore them.
pub fn check(r: std::io::Result<()>) {
    if let Err(e) = r {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            PIPE_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            if std::thread::current().name() == Some("main") {
                std::panic::resume_unwind(Box::new(ClosedPipe));
            }
        }
    }
}

/// Writes formatted text and a newline to a writer (standard output when none is named);
/// a closed pipe ends the process.
#[macro_export]
macro_rules! outln {
    () => { $crate::outln!(std::io::stdout(), "") };
    ($w:expr, $($t:tt)*) => {{
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

/// Writes formatted text and a newline to standard error in one write, ignoring failure.
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => {{
        $crate::out::to_stderr(&format!("{}\n", format_args!($($t)*)));
    }};
}

/// Writes formatted text to standard error as it is (no newline added) in one write,
/// ignoring failure.
#[macro_export]
macro_rules! err {
    ($($t:tt)*) => {{
        $crate::out::to_stderr(&format!($($t)*));
    }};
}

/// Writes a whole message to standard error with one write call, as C's unbuffered stderr
/// writes one fprintf (a message never interleaves with another process's), ignoring
/// failure.
///
/// The write goes straight to write(2), as C's does: std's `Stderr` would take its lock
/// for each message, and `modprobe -a` can print thousands.
pub fn to_stderr(msg: &str) {
    let mut rest = msg.as_bytes();
    while !rest.is_empty() {
        match nix::unistd::write(std::io::stderr(), rest) {
            Ok(0) => return,
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

use rprobe_index::log::Level;

/// Where kmod-style log messages ("TOOL: LEVEL: message") go: standard error unless a tool's
/// `-s` opened the system log.
enum Sink {
    /// syslog(3): glibc's /dev/log client, as kmod's tools use it.
    Syslog,
    /// A datagram socket named by `RPROBE_SYSLOG_SOCKET` (tests), written in glibc's format.
    Socket(std::os::unix::net::UnixDatagram, &'static str),
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

/// kmod's `log_open(true)`: from now on log messages go to the system log, as
/// `openlog(TOOL, LOG_CONS, LOG_DAEMON)` and `syslog(PRIORITY, "LEVEL: message\n")`, instead of
/// standard error. `RPROBE_SYSLOG_SOCKET=PATH` sends them to that datagram socket instead of
/// /dev/log (for tests); if it cannot be reached, messages stay on standard error.
pub fn open_syslog(ident: &'static std::ffi::CStr) {
    let sink = match std::env::var_os("RPROBE_SYSLOG_SOCKET") {
        Some(path) => {
            let sock = std::os::unix::net::UnixDatagram::unbound()
                .and_then(|s| s.connect(&path).map(|()| s));
            match sock {
                Ok(s) => Sink::Socket(s, ident.to_str().unwrap_or("rprobe")),
                Err(_) => return,
            }
        }
        None => {
            use nix::syslog::{openlog, Facility, LogFlags};
            if openlog(Some(ident), LogFlags::LOG_CONS, Facility::LOG_DAEMON).is_err() {
                return;
            }
            Sink::Syslog
        }
    };
    let _ = SINK.set(sink);
}

/// syslog's severity for a level.
fn severity(level: Level) -> nix::syslog::Severity {
    use nix::syslog::Severity;
    match level {
        Level::Fatal => Severity::LOG_CRIT,
        Level::Error => Severity::LOG_ERR,
        Level::Warning => Severity::LOG_WARNING,
        Level::Notice => Severity::LOG_NOTICE,
        Level::Info => Severity::LOG_INFO,
        Level::Debug => Severity::LOG_DEBUG,
    }
}

/// glibc's syslog timestamp ("Mmm dd hh:mm:ss", day padded with a space), in UTC.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let name = MONTHS
        .get(usize::try_from(month.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{name} {day:>2} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Runs `f` with an empty line buffer, kept per thread so that a run of messages (a
/// warning per name under `modprobe -a`) allocates none.
fn with_line(f: impl FnOnce(&mut String)) {
    thread_local! {
        static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    LINE.with(|l| match l.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            f(&mut line);
        }
        // Formatting the message logged another (a Display that logs): its own buffer.
        Err(_) => f(&mut String::new()),
    })
}

/// Prints an error line of libkmod's default logger as kmod 34 words it ("libkmod: ERROR:
/// FUNCTION: message"): always on standard error, where that logger writes whatever the
/// tool's own log does (it reports before the tool sets its log up, or in tools that set
/// none).
pub fn library_error(function: &str, msg: &str) {
    to_stderr(&format!("libkmod: ERROR: {function}: {msg}\n"));
}

/// A log message's text: anything displayable (`format_args!`, a string, an error), or
/// [`Parts`].
pub trait Message {
    /// Appends the text to `line`.
    fn append_to(&self, line: &mut String);
}

impl<T: std::fmt::Display + ?Sized> Message for T {
    fn append_to(&self, line: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(line, "{self}");
    }
}

/// A message made of pieces copied one after another, without formatting: for the
/// messages printed once per name (`modprobe -a` over thousands).
pub struct Parts<'a>(pub &'a [&'a str]);

impl Message for Parts<'_> {
    fn append_to(&self, line: &mut String) {
        self.0.iter().for_each(|p| line.push_str(p));
    }
}

/// Prints one of kmod's log messages: `TOOL: LEVEL: msg` on standard error, or
/// `LEVEL: msg` at LEVEL's priority in the system log after [`open_syslog`]. `msg` is
/// formatted straight into the line that is written (`format_args!` costs no copy), and
/// the line goes out in one write.
pub fn log(tool: &str, level: Level, msg: impl Message) {
    let word = level.word();
    match SINK.get() {
        None => with_line(|line| {
            for part in [tool, ": ", word, ": "] {
                line.push_str(part);
            }
            msg.append_to(line);
            line.push('\n');
            to_stderr(line);
        }),
        Some(Sink::Syslog) => {
            let p = nix::syslog::Priority::new(severity(level), nix::syslog::Facility::LOG_DAEMON);
            let mut line = format!("{word}: ");
            msg.append_to(&mut line);
            line.push('\n');
            let _ = nix::syslog::syslog(p, &line);
        }
        Some(Sink::Socket(s, ident)) => {
            let pri = nix::syslog::Facility::LOG_DAEMON as i32 | severity(level) as i32;
            let mut line = format!("<{pri}>{} {ident}: {word}: ", timestamp());
            msg.append_to(&mut line);
            line.push('\n');
            let _ = s.send(line.as_bytes());
        }
    }
}
