//! Arbitrary text as a modprobe.d file and as a kernel command line, then every query
//! the resolver makes of the configuration and `modprobe -c`'s dump.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rprobe_index::name::{alias_normalize, normalize};
use rprobe_resolve::config::fnmatch;
use rprobe_resolve::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The last line doubles as a kernel command line.
    let cmdline = text.lines().last().unwrap_or_default();
    let mut c = Config::default();
    c.parse(&text, "fuzz.conf");
    c.parse_kcmdline(cmdline);
    let names: Vec<String> = c
        .aliases
        .iter()
        .map(|(a, _)| a.clone())
        .chain(c.blacklist.iter().cloned())
        .chain(c.options.iter().map(|(m, _)| m.clone()))
        .take(16)
        .collect();
    for n in &names {
        let _ = c.options_for(n, Some(n));
        let _ = c.install_for(n);
        let _ = c.remove_for(n);
        let _ = c.softdep_for(n);
        let _ = c.is_blacklisted(n);
        let _ = normalize(n);
        let _ = alias_normalize(n);
        let _ = fnmatch(n, cmdline);
    }
    let _ = c.show();
});
