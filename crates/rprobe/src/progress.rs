//! A one-line progress indicator on standard error for the long runs (depmod, initramfs),
//! shown only when standard error is a terminal: redirected or piped output stays exactly
//! kmod's. The line is redrawn every 100 ms from a thread and erased when the run ends, so
//! a run shorter than that prints nothing at all. `RPROBE_NO_PROGRESS` turns it off.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running indicator; dropping it stops the thread and erases the line.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts an indicator whose line `render` makes (called every 100 ms; None draws
/// nothing), or nothing when standard error is not a terminal.
pub fn start(render: impl Fn() -> Option<String> + Send + 'static) -> Option<Ticker> {
    if !std::io::stderr().is_terminal() || std::env::var_os("RPROBE_NO_PROGRESS").is_some() {
        return None;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut drawn = false;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            if flag.load(Ordering::Relaxed) {
                break;
            }
            if let Some(line) = render() {
                // Carriage return, the line, then erase what a longer line left.
                crate::err!("\r{line}\x1b[K");
                drawn = true;
            }
        }
        if drawn {
            crate::err!("\r\x1b[K");
        }
    });
    Some(Ticker {
        stop,
        thread: Some(thread),
    })
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The line for a depmod run: "TOOL: reading modules DONE/TOTAL" once the tree is scanned.
pub fn modules_line(
    tool: &'static str,
    p: &Arc<rprobe_depmod::Progress>,
) -> impl Fn() -> Option<String> + Send + 'static {
    let p = p.clone();
    move || {
        let total = p.total.load(Ordering::Relaxed);
        let done = p.done.load(Ordering::Relaxed);
        (total > 0).then(|| format!("{tool}: reading modules {done}/{total}"))
    }
}
