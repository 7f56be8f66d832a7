//! `-s/--syslog`: kmod's tools then send their messages to syslog(3) (ident = the tool's
//! name, facility LOG_DAEMON, "LEVEL: message\n" at that level's priority) instead of
//! standard error. Expected texts come from kmod's own tools: the same case run without -s
//! prints "TOOL: LEVEL: message\n" on stderr, which is the datagram after its timestamp.

use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::util::*;

/// A datagram socket at `path`, as syslogd binds /dev/log.
fn listen(path: &Path) -> UnixDatagram {
    let s = UnixDatagram::bind(path).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    s
}

/// Every datagram waiting on `s`.
fn received(s: &UnixDatagram) -> Vec<String> {
    let mut v = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = s.recv(&mut buf) {
        v.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    v
}

/// glibc's syslog datagram "<PRI>Mmm dd hh:mm:ss REST" split into (PRI, REST); the
/// timestamp's shape is checked.
fn split(d: &str) -> (u32, String) {
    let (pri, rest) = d
        .strip_prefix('<')
        .and_then(|d| d.split_once('>'))
        .unwrap_or_else(|| panic!("no <PRI>: {d:?}"));
    let stamp = rest.get(..15).unwrap_or_else(|| panic!("short: {d:?}"));
    let b = stamp.as_bytes();
    assert!(
        b[3] == b' ' && b[6] == b' ' && b[9] == b':' && b[12] == b':' && b[14].is_ascii_digit(),
        "timestamp {stamp:?} in {d:?}"
    );
    assert!(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            .contains(&&stamp[..3]),
        "month in {d:?}"
    );
    (
        pri.parse().unwrap_or_else(|_| panic!("PRI {pri:?}")),
        rest[16..].to_string(),
    )
}

/// Runs `rprobe TOOL ARGS` with `RPROBE_SYSLOG_SOCKET` naming `sock`.
fn rprobe_logged(sock: &Path, tool: &str, args: &[&str]) -> Output {
    Command::new(rprobe())
        .arg(tool)
        .args(args)
        .env("RPROBE_SYSLOG_SOCKET", sock)
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("rprobe")
}

/// kmod's `tool` (argv[0] the bare name) without -s: what it prints on stderr.
fn kmod_stderr(tool: &str, args: &[&str]) -> (String, i32) {
    let o = Command::new(kmod(tool))
        .arg0(tool)
        .args(args)
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("kmod");
    (String::from_utf8_lossy(&o.stderr).into_owned(), code(&o))
}

const LOG_DAEMON: u32 = 3 << 3;
const CRIT: u32 = 2;
const ERR: u32 = 3;
const WARNING: u32 = 4;

/// One case: kmod's stderr without -s must arrive on the socket, whole, at `prio`, and
/// rprobe's stderr must stay empty; the exit code is kmod's.
fn case(tool: &str, args: &[&str], prio: u32) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock = tmp.path().join("log");
    let s = listen(&sock);
    let (want, want_code) = kmod_stderr(tool, args);
    assert!(!want.is_empty(), "kmod {tool} {args:?} printed nothing");
    let mut sargs = vec!["-s"];
    sargs.extend(args);
    let r = rprobe_logged(&sock, tool, &sargs);
    assert_eq!(
        String::from_utf8_lossy(&r.stderr),
        "",
        "{tool} -s {args:?}: nothing on stderr"
    );
    assert_eq!(code(&r), want_code, "{tool} -s {args:?}: exit code");
    let got = received(&s);
    let lines: Vec<(u32, String)> = got.iter().map(|d| split(d)).collect();
    let want_lines: Vec<String> = want.split_inclusive('\n').map(String::from).collect();
    assert_eq!(
        lines.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(),
        want_lines,
        "{tool} -s {args:?}: datagrams after the timestamp are kmod's stderr lines"
    );
    for (p, l) in &lines {
        assert_eq!(
            *p,
            LOG_DAEMON | prio,
            "{tool} -s {args:?}: priority of {l:?}"
        );
    }
    // Without -s the same run keeps to stderr and sends nothing.
    let r = rprobe_logged(&sock, tool, args);
    assert_eq!(String::from_utf8_lossy(&r.stderr), want, "{tool} {args:?}");
    assert!(received(&s).is_empty(), "{tool} {args:?} without -s logged");
}

#[test]
fn modprobe_syslog_sends_kmods_fatal_error_and_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_str().expect("utf-8");
    // FATAL (LOG_CRIT): a missing module.
    case("modprobe", &["-d", root, "-S", "1.0", "nosuch"], CRIT);
    // WARNING: with -a kmod lowers the same message.
    case(
        "modprobe",
        &["-d", root, "-S", "1.0", "-a", "nosuch", "other"],
        WARNING,
    );
    // ERROR: no module named.
    case("modprobe", &["-d", root, "-S", "1.0"], ERR);
}

#[test]
fn rmmod_and_insmod_syslog_send_their_errors() {
    case("rmmod", &["nosuch_rprobe_test"], ERR);
    case("rmmod", &[], ERR);
    // kmod 30's insmod ignores -s (kmod 33+ logs like the others); the text is kmod 30's.
    case("insmod", &["/nonexistent/rprobe-test.ko"], ERR);
    case("insmod", &[], ERR);
}

#[test]
fn quiet_modprobe_syslog_sends_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock = tmp.path().join("log");
    let s = listen(&sock);
    let root = tmp.path().to_str().expect("utf-8");
    let r = rprobe_logged(&sock, "modprobe", &["-s", "-q", "-d", root, "nosuch"]);
    assert_eq!(code(&r), 1);
    assert!(r.stderr.is_empty());
    assert!(received(&s).is_empty());
}

/// Runs `prog ARGS` (argv[0] = `name`) in a private mount namespace whose /dev/log is the
/// socket `sock` (a tmpfs /dev when the host has no /dev/log).
fn with_dev_log(sock: &Path, prog: &Path, name: &str, args: &[&str]) -> Output {
    let script = r#"
set -e
sock=$1; prog=$2; name=$3; shift 3
if [ ! -e /dev/log ]; then mount -t tmpfs rprobe-test /dev; : > /dev/log; fi
mount --bind "$sock" /dev/log
set +e
exec -a "$name" "$prog" "$@"
"#;
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "bash", "-c", script, "sh"])
        .arg(sock)
        .arg(prog)
        .arg(name)
        .args(args)
        .env_remove("RPROBE_SYSLOG_SOCKET")
        .env_remove("MODPROBE_OPTIONS")
        .output()
        .expect("unshare")
}

/// The real path (glibc's syslog to /dev/log, no test override): kmod's modprobe and rmmod
/// and rprobe's send the same datagrams but for the timestamp.
#[test]
fn modprobe_syslog_through_dev_log_as_kmods() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sock = tmp.path().join("log");
    let s = listen(&sock);
    let root = tmp.path().to_str().expect("utf-8");
    for (tool, args) in [
        ("modprobe", vec!["-s", "-d", root, "-S", "1.0", "nosuch"]),
        (
            "modprobe",
            vec!["-s", "-d", root, "-S", "1.0", "-a", "x1", "x2"],
        ),
        ("modprobe", vec!["-s", "-d", root]),
        ("rmmod", vec!["-s", "nosuch_rprobe_test"]),
    ] {
        let k = with_dev_log(&sock, &kmod(tool), tool, &args);
        let ke = String::from_utf8_lossy(&k.stderr).into_owned();
        assert!(
            !ke.contains("mount") && !ke.contains("unshare"),
            "the namespace could not be made (root is needed): {ke}"
        );
        let want: Vec<(u32, String)> = received(&s).iter().map(|d| split(d)).collect();
        assert!(!want.is_empty(), "kmod logged nothing for {args:?}: {ke}");
        let mut rargs = vec![tool];
        rargs.extend(&args);
        let r = with_dev_log(&sock, &rprobe(), "rprobe", &rargs);
        let got: Vec<(u32, String)> = received(&s).iter().map(|d| split(d)).collect();
        assert_eq!(got, want, "{tool} {args:?}");
        assert_eq!(code(&r), code(&k), "{tool} {args:?}");
        assert_eq!(String::from_utf8_lossy(&r.stderr), ke, "{tool} {args:?}");
    }
}

/// kmod's depmod has no -s (neither 30 nor 34): rprobe's refuses it in getopt's words too.
#[test]
fn depmod_has_no_syslog_option_as_in_kmod() {
    let (want, want_code) = kmod_stderr("depmod", &["-s"]);
    assert_eq!(want, "depmod: invalid option -- 's'\n");
    let o = Command::new(rprobe())
        .args(["depmod", "-s"])
        .output()
        .expect("rprobe");
    assert_eq!(String::from_utf8_lossy(&o.stderr), want);
    assert_eq!(code(&o), want_code);
}
