//! The log of a build without the `env-logger` feature: one plain line per
//! record on stderr, `[LEVEL target] message`, with no timestamp (the
//! service manager's journal adds one) and no colour.
//!
//! Owns: the process's `log` logger in that build. `RUST_LOG` is read once
//! at start-up as a single level (`error`, `warn`, `info`, `debug`,
//! `trace` or `off`, any case); anything else, or nothing, means `info`.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

/// Writes each record as one line on stderr.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            // One locked write per line, so lines of other threads never
            // interleave within it; a closed stderr loses the line only.
            let mut line = std::io::stderr().lock();
            let _ = writeln!(line, "[{} {}] {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// The process's logger.
static LOGGER: Stderr = Stderr;

/// Installs the logger at the level `RUST_LOG` names (default `info`).
pub fn init() {
    let level = std::env::var("RUST_LOG").ok().and_then(|v| v.trim().parse::<LevelFilter>().ok());
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level.unwrap_or(LevelFilter::Info));
    }
}
