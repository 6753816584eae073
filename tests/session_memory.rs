//! A million live sessions: they fit in a small, measured footprint, they
//! all expire, and expiring or ending them gives the memory back. The heap
//! is measured with a counting allocator, so this file holds one test only
//! (tests in one binary share the allocator).
//!
//! The figure is printed: `cargo test --test session_memory -- --nocapture`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::sessions::Budget;
use ndb::internals::store::{ServerInfo, Store};

/// The system allocator, counting live heap bytes.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SESSIONS: usize = 1_000_000;

fn run(store: &mut Store, request: &str, now: Instant, out: &mut Vec<u8>) {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, now, &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
}

#[test]
fn a_million_sessions_fit_expire_and_give_their_memory_back() {
    let t0 = Instant::now();
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    let mut out = Vec::with_capacity(256);
    let before = LIVE_BYTES.load(Ordering::Relaxed);

    // A million empty sessions, with a timer each, created over ten seconds.
    let request = r#"{"SH_NEW":{"expiry":{"duration":60,"deleteSession":true}}}"#;
    for i in 0..SESSIONS {
        run(&mut store, request, t0 + Duration::from_micros(i as u64 * 10), &mut out);
    }
    let used = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let per_session = used as f64 / SESSIONS as f64;
    eprintln!("{SESSIONS} empty expiring sessions: {used} heap bytes, {per_session:.1} bytes per session");
    assert_eq!(store.sessions().len(), SESSIONS);
    // Table slot (48 B, in chunks that never leave more than one partly
    // empty), index (4 to 8 B) plus timer (32 B in a Vec that may be up to
    // twice its length): at most ~120 B.
    assert!(per_session < 130.0, "{per_session:.1} bytes per empty session");

    // A session's key map exists only while it holds keys; measure one that
    // does, in a store of its own.
    let t1 = t0 + Duration::from_secs(11);
    let mut tokens_with_keys = 0;
    run(&mut store, r#"{"SH_INFO_ALL":{}}"#, t1, &mut out);
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        format!(r#"{{"SH_INFO_ALL_RSP":{{"st":1,"totalKeys":0,"totalSessions":{SESSIONS}}}}}"#)
    );
    let with_keys_before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut probe = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    for _ in 0..1_000 {
        run(&mut probe, r#"{"SH_NEW":{}}"#, t1, &mut out);
        let token: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let token = token["SH_NEW_RSP"]["tkn"].as_u64().unwrap();
        run(&mut probe, &format!(r#"{{"SH_SET":{{"keys":{{"user":"u-12345"}},"tkn":{token}}}}}"#), t1, &mut out);
        tokens_with_keys += 1;
    }
    let with_one_key = (LIVE_BYTES.load(Ordering::Relaxed) - with_keys_before) as f64 / f64::from(tokens_with_keys);
    eprintln!("a session holding one small key: {with_one_key:.0} heap bytes");
    drop(probe);

    // All of them expire, in budgeted turns, and the memory comes back.
    let mut now = t0;
    let mut turns = 0;
    while let Some(next) = store.next_deadline() {
        now = now.max(next);
        store.expire(now);
        turns += 1;
    }
    assert!(store.sessions().is_empty());
    assert!(now <= t0 + Duration::from_secs(71), "{:?}", now - t0);
    eprintln!("expired in {turns} turns");
    store.expire_within(now, &mut Budget::UNLIMITED.clone());
    let left = LIVE_BYTES.load(Ordering::Relaxed).saturating_sub(before);
    // The session table keeps its buckets until the next SH_END_ALL; every
    // timer node and every session's own memory is gone.
    run(&mut store, r#"{"SH_END_ALL":{}}"#, now, &mut out);
    let after_end_all = LIVE_BYTES.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!("after expiry: {left} bytes still held; after SH_END_ALL: {after_end_all}");
    assert!(after_end_all < 64 * 1024, "{after_end_all} bytes leaked");
}
