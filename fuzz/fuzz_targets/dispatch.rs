//! The dispatch path, as the server runs it, on arbitrary messages: each
//! gets exactly one well-formed reply, and nothing panics. Time moves
//! 250 ms per message, with active expiry after each, so sessions expire
//! mid-sequence.
//!
//! Input: messages separated by 0xFF (a byte never found in UTF-8); a
//! message that is not UTF-8 goes in as a binary message. The first byte
//! picks the status numbering.
#![no_main]

use testkit::replies as common;

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ndb::internals::conn::Message;
use ndb::internals::protocol::{Protocol, Reply};
use ndb::internals::server::dispatch;
use ndb::internals::store::{Executed, ServerInfo, Store};

fuzz_target!(|bytes: &[u8]| {
    let Some((&first, messages)) = bytes.split_first() else { return };
    let protocol = if first & 1 == 0 { Protocol::V07 } else { Protocol::V09 };
    // Saves stay off: a fuzzer must not write files.
    let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
    let start = Instant::now();
    let mut out = Vec::new();
    for (i, message) in messages.split(|&b| b == 0xFF).enumerate() {
        let now = start + Duration::from_millis(i as u64 * 250);
        let text = std::str::from_utf8(message).ok();
        let message = match text {
            Some(text) => Message::Text(text),
            None => Message::Binary(message),
        };
        // As the server's turns do: serve, then expire what is due.
        store.start(now);
        let before = out.len();
        if let Executed::Later(_) = dispatch(&mut store, protocol, message, now, &mut out) {
            // A load (saves are off) or a KV_FIND: run it here, as the job
            // thread would (a KV_FIND's snapshot may take several steps),
            // against a directory that does not exist.
            while store.has_queued_jobs() {
                if let Some((id, job)) = store.next_job() {
                    let done = ndb::internals::persist::run(std::path::Path::new("/nonexistent/ndb-fuzz"), job);
                    store.finish(id, done, now, &mut Reply::new(&mut out, protocol));
                }
                store.work(now);
                store.take_applied(&mut Reply::new(&mut out, protocol));
            }
        }
        store.expire(now);
        let key = common::check_reply(&out[before..]);
        match text {
            Some(text) => common::check_reply_names_request(text, &key),
            None => assert_eq!(key, "ERR"),
        }
    }
});
