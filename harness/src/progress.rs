//! The live progress line, in the workshop's style:
//! `[ 42%] 4200/10000 calls | 909 calls/s | Success: 93.4% | 4.6s`.
//! On a terminal it rewrites one line every second; otherwise it prints every 10 s.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use workers::Interval;

pub struct Progress {
    planned: Option<u64>,
    start: Instant,
    calls: u64,
    successes: u64,
    tty: bool,
    last_line: Instant,
}

impl Progress {
    pub fn new(planned: Option<u64>) -> Self {
        Progress {
            planned,
            start: Instant::now(),
            calls: 0,
            successes: 0,
            tty: std::io::stderr().is_terminal(),
            last_line: Instant::now(),
        }
    }

    pub fn line(&self) -> String {
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { self.calls as f64 / elapsed } else { 0.0 };
        let success = if self.calls > 0 { self.successes as f64 * 100.0 / self.calls as f64 } else { 0.0 };
        let (pct, of) = match self.planned {
            Some(p) if p > 0 => {
                (format!("{:>3.0}%", (self.calls as f64 * 100.0 / p as f64).min(100.0)), format!("/{p}"))
            }
            _ => ("  ?%".to_string(), String::new()),
        };
        format!("[{pct}] {}{of} calls | {rate:>5.0} calls/s | Success: {success:>5.1}% | {elapsed:.1}s", self.calls)
    }

    pub fn update(&mut self, interval: &Interval) {
        self.calls += interval.stats.calls;
        self.successes += interval.stats.successes;
        let due = self.last_line.elapsed() >= Duration::from_secs(10);
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{}", self.line());
        } else if due {
            let _ = writeln!(err, "{}", self.line());
            self.last_line = Instant::now();
        }
    }

    /// A line of its own now, then the progress line again.
    pub fn say(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { writeln!(err, "\r{line}") } else { writeln!(err, "{line}") };
    }

    pub fn finish(&self) {
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { writeln!(err, "\r{}", self.line()) } else { writeln!(err, "{}", self.line()) };
    }
}
