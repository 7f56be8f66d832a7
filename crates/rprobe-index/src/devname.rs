//! Lines of modules.devname as `kmod static-nodes` reads them: `MODULE DEVNAME TYPEMAJ:MIN`
//! (type 'c' or 'b'), with C scanf's rules for spacing and numbers.

/// One device node a module provides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevnameEntry {
    /// The module name.
    pub module: String,
    /// The node's path under /dev.
    pub devname: String,
    /// 'c' (character) or 'b' (block).
    pub kind: char,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

/// Parses one line as kmod does (`sscanf("%s %s %c%u:%u")`, then type 'c' or 'b'); None
/// when kmod calls it an invalid entry. Text after the minor number is ignored.
pub fn parse_line(line: &[u8]) -> Option<DevnameEntry> {
    let mut s = Scan { b: line, i: 0 };
    let module = s.word()?;
    let devname = s.word()?;
    s.skip_space();
    let kind = char::from(*s.b.get(s.i)?);
    s.i += 1;
    let major = s.unsigned()?;
    if s.b.get(s.i) != Some(&b':') {
        return None;
    }
    s.i += 1;
    let minor = s.unsigned()?;
    if kind != 'c' && kind != 'b' {
        return None;
    }
    Some(DevnameEntry {
        module: String::from_utf8_lossy(module).into_owned(),
        devname: String::from_utf8_lossy(devname).into_owned(),
        kind,
        major,
        minor,
    })
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn skip_space(&mut self) {
        while self
            .b
            .get(self.i)
            .is_some_and(|c| c.is_ascii_whitespace() || *c == 0x0b)
        {
            self.i += 1;
        }
    }

    /// scanf's %s: skip white space, then one or more other bytes.
    fn word(&mut self) -> Option<&'a [u8]> {
        self.skip_space();
        let start = self.i;
        while self
            .b
            .get(self.i)
            .is_some_and(|c| !(c.is_ascii_whitespace() || *c == 0x0b))
        {
            self.i += 1;
        }
        (self.i > start).then(|| &self.b[start..self.i])
    }

    /// scanf's %u: white space, an optional sign, decimal digits; out-of-range values and
    /// negative ones wrap as strtoul's result stored in an unsigned int.
    fn unsigned(&mut self) -> Option<u32> {
        self.skip_space();
        let neg = match self.b.get(self.i) {
            Some(b'-') => {
                self.i += 1;
                true
            }
            Some(b'+') => {
                self.i += 1;
                false
            }
            _ => false,
        };
        let start = self.i;
        let mut v: u64 = 0;
        let mut overflow = false;
        while let Some(d) = self.b.get(self.i).filter(|c| c.is_ascii_digit()) {
            match v
                .checked_mul(10)
                .and_then(|x| x.checked_add(u64::from(d - b'0')))
            {
                Some(x) => v = x,
                None => overflow = true,
            }
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        if overflow {
            v = u64::MAX;
        } else if neg {
            v = v.wrapping_neg();
        }
        // The low 32 bits, as C converts an unsigned long to unsigned int.
        Some((v & 0xffff_ffff) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmod_reads_these_lines() {
        let e = parse_line(b"fuse fuse c10:229\n").expect("valid");
        assert_eq!(
            (e.module.as_str(), e.devname.as_str(), e.kind),
            ("fuse", "fuse", 'c')
        );
        assert_eq!((e.major, e.minor), (10, 229));
        let e = parse_line(b"  q\tw  b 1: 2 extra").expect("valid");
        assert_eq!((e.kind, e.major, e.minor), ('b', 1, 2));
        assert_eq!(parse_line(b"x y z1:2\n"), None);
        assert_eq!(parse_line(b"bad line\n"), None);
        assert_eq!(parse_line(b"\n"), None);
        assert_eq!(parse_line(b"a b c10 :2\n"), None);
        assert_eq!(parse_line(b"a b c-1:2").map(|e| e.major), Some(u32::MAX));
    }
}
