//! Helpers shared by the benchmarks: a deterministic random source, and a
//! `Store` driven the way the server drives it, from request text to reply
//! bytes. Each benchmark uses part of it.

#![allow(dead_code)]

use std::time::Instant;

use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::Store;

/// Runs one request at `now`, as the server's dispatch does, and returns
/// its reply (empty when the request became a job).
pub fn run(store: &mut Store, request: &str, now: Instant) -> String {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, now, &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
    String::from_utf8(out).expect("UTF-8 reply")
}

/// A small deterministic generator (xorshift64) so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
