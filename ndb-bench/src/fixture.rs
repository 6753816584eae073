//! What the array and list tests work on, set up on the server before each
//! of them: the integer array, the two sorted arrays, the list.
//!
//! Owns: the requests that delete, create and fill them, over a blocking
//! connection of its own, before the test's clock starts. Must not touch:
//! the test's connections, the report.
//!
//! Each is made afresh for each test that uses it (deleted first), so every
//! test starts from the same state whatever ran before: `ndb-bench:iarr` of
//! `--container-size` slots, slot `i` holding `i`; `ndb-bench:siarr-a`
//! holding `0..size` and `ndb-bench:siarr-b` holding `0.9·size..1.9·size`,
//! so a tenth of each is in common; `ndb-bench:olst` of `size` items
//! `{"i":N}`. Items go in requests of at most [`FILL_MESSAGE_BYTES`], in
//! ascending order, so a sorted array merges each batch above the last.

use std::net::{SocketAddr, TcpStream};

use crate::args::Config;
use crate::frame;
use crate::reader::Reader;
use crate::request::{Fixture, IARR, OLST, SIARR_A, SIARR_B, ST_OK};
use crate::rng::Rng;
use crate::ws;

/// Most bytes of items in one filling request: well under the 8 KiB
/// message limit of the original server (as the preload's).
const FILL_MESSAGE_BYTES: usize = 7 * 1024;

/// The status of a command the server does not know (NemesisDB 0.7.4 and
/// servers without arrays and lists).
const ST_COMMAND_NOT_EXIST: u64 = 10;

/// The status of a missing array or list.
const ST_KEY_NOT_EXIST: u64 = 22;

/// The status of a capacity above the server's `arrays.maxCapacity`.
const ST_BOUNDS: u64 = 161;

/// One blocking connection for the setup.
struct Setup {
    stream: TcpStream,
    reader: Reader,
    rng: Rng,
    size: u64,
}

/// Sets up what `fixture` needs on the server of `config`.
///
/// # Errors
/// Why it could not, for the test's "skipped" line: the server's reply
/// to the request that failed, with what to do about it when known.
pub fn prepare(fixture: Fixture, config: &Config, addrs: &[SocketAddr]) -> Result<(), String> {
    let mut reader = Reader::with_capacity(64 * 1024);
    let stream = ws::open(&config.target, addrs, &mut reader)?;
    let mut setup = Setup { stream, reader, rng: Rng::from_os(u64::MAX), size: config.container_size };
    let size = setup.size;
    match fixture {
        Fixture::IntArray => setup.array("IARR", IARR, 0..size),
        Fixture::SortedPair => {
            let first = size - size / 10;
            setup.array("SIARR", SIARR_A, 0..size)?;
            setup.array("SIARR", SIARR_B, first..first + size)
        }
        Fixture::List => setup.list(),
    }
}

impl Setup {
    /// Sends `request`; returns the reply's status and text.
    fn call(&mut self, request: &str) -> Result<(Option<u64>, String), String> {
        let reply = ws::call(&mut self.stream, &mut self.reader, &mut self.rng, request.as_bytes())
            .map_err(|e| format!("setting up: {e}"))?;
        Ok((frame::scan_status(&reply), String::from_utf8_lossy(&reply).into_owned()))
    }

    /// Sends `request`, which must succeed (or answer one of `also`).
    fn must(&mut self, request: &str, also: &[u64]) -> Result<(), String> {
        match self.call(request)? {
            (Some(st), _) if st == ST_OK || also.contains(&st) => Ok(()),
            (Some(ST_COMMAND_NOT_EXIST), reply) => {
                Err(format!("the server has no arrays and lists (NemesisDB 0.9): {reply:.100}"))
            }
            (_, reply) => Err(format!("{request:.60} answered {reply:.100}")),
        }
    }

    /// Makes `name`, an array of `prefix` with `size` slots, holding
    /// `items` in order.
    fn array(&mut self, prefix: &str, name: &str, items: std::ops::Range<u64>) -> Result<(), String> {
        self.must(&format!(r#"{{"{prefix}_DELETE":{{"name":"{name}"}}}}"#), &[])?;
        let create = format!(r#"{{"{prefix}_CREATE":{{"name":"{name}","len":{}}}}}"#, self.size);
        match self.call(&create)? {
            (Some(ST_OK), _) => {}
            (Some(ST_BOUNDS), reply) => {
                return Err(format!(
                    "{prefix}_CREATE of {} slots answered {reply}: start the server with a version-6 config \
                     whose arrays.maxCapacity is at least {} (docs/bench.md), or lower --container-size",
                    self.size, self.size
                ));
            }
            (Some(ST_COMMAND_NOT_EXIST), reply) => {
                return Err(format!(
                    "the server has no arrays and lists (NemesisDB 0.9): {prefix}_CREATE answered {reply}"
                ));
            }
            (_, reply) => return Err(format!("{prefix}_CREATE answered {reply}")),
        }
        let mut batch = String::new();
        for i in items {
            if !batch.is_empty() {
                batch.push(',');
            }
            batch.push_str(&i.to_string());
            if batch.len() >= FILL_MESSAGE_BYTES {
                self.must(&format!(r#"{{"{prefix}_SET_RNG":{{"name":"{name}","items":[{batch}]}}}}"#), &[])?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.must(&format!(r#"{{"{prefix}_SET_RNG":{{"name":"{name}","items":[{batch}]}}}}"#), &[])?;
        }
        Ok(())
    }

    /// Makes the list of `size` items `{"i":N}`.
    fn list(&mut self) -> Result<(), String> {
        self.must(&format!(r#"{{"OLST_DELETE":{{"name":"{OLST}"}}}}"#), &[ST_KEY_NOT_EXIST])?;
        self.must(&format!(r#"{{"OLST_CREATE":{{"name":"{OLST}"}}}}"#), &[])?;
        let mut batch = String::new();
        for i in 0..self.size {
            if !batch.is_empty() {
                batch.push(',');
            }
            batch.push_str(&format!(r#"{{"i":{i}}}"#));
            if batch.len() >= FILL_MESSAGE_BYTES {
                self.must(&format!(r#"{{"OLST_ADD":{{"name":"{OLST}","items":[{batch}]}}}}"#), &[])?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            self.must(&format!(r#"{{"OLST_ADD":{{"name":"{OLST}","items":[{batch}]}}}}"#), &[])?;
        }
        Ok(())
    }
}
