//! /proc/modules and lsmod: the loaded modules' rows, as kmod's lsmod reads them, and its
//! table's layout.

use crate::HostPaths;

/// One line of /proc/modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcModule {
    /// Name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Use count.
    pub refcnt: i64,
    /// Modules using it ("-" when none).
    pub used_by: Vec<String>,
}

/// Parses /proc/modules text.
pub fn parse_proc_modules(text: &str) -> Vec<ProcModule> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_string();
            let size = w.next()?.parse().ok()?;
            let refcnt = w.next()?.parse().ok()?;
            let users = w.next().unwrap_or("-");
            let used_by = users
                .split(',')
                .filter(|s| !s.is_empty() && *s != "-")
                .map(str::to_string)
                .collect();
            Some(ProcModule {
                name,
                size,
                refcnt,
                used_by,
            })
        })
        .collect()
}

/// One row of lsmod's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsmodRow {
    /// The module name.
    pub name: String,
    /// Its size in bytes (a negative errno when it could not be read, as kmod shows it).
    pub size: i64,
    /// Its use count (a negative errno when it could not be read).
    pub refcnt: i64,
    /// The modules holding it.
    pub holders: Vec<String>,
}

/// lsmod's rows as kmod's lsmod finds them: the modules of /proc/modules in its order;
/// size from SYS/module/NAME/coresize (else /proc/modules), the use count from
/// SYS/module/NAME/refcnt and the holders from SYS/module/NAME/holders in directory order
/// (libkmod's kmod_module_get_size, _get_refcnt, _get_holders). A value that cannot be read
/// is given as kmod shows it, a negative errno; a holders directory that cannot be opened is
/// reported through `error` and gives none.
pub fn lsmod_rows_sysfs(
    proc_modules: &str,
    host: &HostPaths,
    error: &mut dyn FnMut(String),
) -> Vec<LsmodRow> {
    let mut rows = Vec::new();
    for m in parse_proc_modules(proc_modules) {
        let dir = host.module_dir(&m.name);
        let mut said = |_: &'static str, msg: String| error(msg);
        let size = host
            .module_size(&m.name, &mut said)
            .unwrap_or_else(|e| -(e as i64));
        let refcnt = host
            .module_refcnt(&m.name, &mut said)
            .unwrap_or_else(|e| -(e as i64));
        let holders_dir = dir.join("holders");
        let holders = match std::fs::read_dir(&holders_dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) => {
                let why = rprobe_index::error::io_text(&e);
                error(format!("could not open '{}': {why}", holders_dir.display()));
                Vec::new()
            }
        };
        rows.push(LsmodRow {
            name: m.name,
            size,
            refcnt,
            holders,
        });
    }
    rows
}

/// lsmod's rows from /proc/modules text alone (its size, use count and users columns).
pub fn lsmod_rows(proc_modules: &str) -> Vec<LsmodRow> {
    parse_proc_modules(proc_modules)
        .into_iter()
        .map(|m| LsmodRow {
            name: m.name,
            size: i64::try_from(m.size).unwrap_or(i64::MAX),
            refcnt: m.refcnt,
            holders: m.used_by,
        })
        .collect()
}

/// lsmod's table for some rows, in kmod's format.
pub fn lsmod_format(rows: &[LsmodRow]) -> String {
    let mut o = String::from("Module                  Size  Used by\n");
    for m in rows {
        o.push_str(&format!("{:<19} {:>8}  {}", m.name, m.size, m.refcnt));
        let mut first = true;
        for u in &m.holders {
            o.push_str(if first { " " } else { "," });
            o.push_str(u);
            first = false;
        }
        o.push('\n');
    }
    o
}

/// lsmod's output as kmod's lsmod makes it, from [`lsmod_rows_sysfs`].
pub fn lsmod_text_sysfs(
    proc_modules: &str,
    host: &HostPaths,
    error: &mut dyn FnMut(String),
) -> String {
    lsmod_format(&lsmod_rows_sysfs(proc_modules, host, error))
}

/// lsmod's output for /proc/modules text, as kmod's lsmod prints it.
pub fn lsmod_text(proc_modules: &str) -> String {
    lsmod_format(&lsmod_rows(proc_modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsmod_format() {
        let t = lsmod_text("ext4 1019904 1 - Live 0x0\njbd2 192512 1 ext4, Live 0x0\nmbcache 16384 1 ext4,jbd2, Live 0x0\n");
        assert_eq!(
            t,
            "Module                  Size  Used by\next4                 1019904  1\njbd2                  192512  1 ext4\nmbcache                16384  1 ext4,jbd2\n"
        );
    }
}
