//! Message levels: the one type every library and the binary use for a diagnostic's
//! severity. The values are syslog(3)'s priorities, as kmod's log callback receives them;
//! each level has the word kmod's tools print before a message.

/// A message's severity, most severe first (syslog priorities: 2 to 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// LOG_CRIT: kmod's tools say "FATAL" and stop.
    Fatal = 2,
    /// LOG_ERR: "ERROR".
    Error = 3,
    /// LOG_WARNING: "WARNING".
    Warning = 4,
    /// LOG_NOTICE: "NOTICE".
    Notice = 5,
    /// LOG_INFO: "INFO".
    Info = 6,
    /// LOG_DEBUG: "DEBUG".
    Debug = 7,
}

impl Level {
    /// The word kmod's tools print for the level.
    pub fn word(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// The syslog priority (2 to 7).
    pub fn priority(self) -> i32 {
        self as i32
    }

    /// The level of a syslog priority; below 2 counts as [`Level::Fatal`], above 7 as
    /// [`Level::Debug`].
    pub fn from_priority(p: i32) -> Level {
        match p {
            i32::MIN..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warning,
            5 => Level::Notice,
            6 => Level::Info,
            _ => Level::Debug,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_round_trip_and_order() {
        for p in 2..=7 {
            assert_eq!(Level::from_priority(p).priority(), p);
        }
        assert!(Level::Fatal < Level::Warning);
        assert_eq!(Level::from_priority(0), Level::Fatal);
        assert_eq!(Level::Warning.word(), "WARNING");
    }
}
