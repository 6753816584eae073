//! Helpers shared by the benchmarks that drive a `Store` the way the server
//! does, from request text to reply bytes.

use std::time::Instant;

use ndb::protocol::{Protocol, Reply, decode};
use ndb::store::Store;

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
