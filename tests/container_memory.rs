//! A million items in an array of each type and in a list: what they cost
//! on the heap per item, that the store's own accounting
//! (`Containers::bytes`) never counts less than that, and that deleting
//! them gives the memory back. The heap is measured with a counting
//! allocator, so this file holds one test only (tests in one binary share
//! the allocator); resident memory (`VmRSS`) is printed beside it. Each
//! type runs in a child process of its own (the test binary, run again),
//! so that its resident figure does not reuse memory another type freed.
//!
//! The figures are printed: `cargo test --release --test container_memory
//! -- --nocapture`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::containers::Limits;
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

const ITEMS: u64 = 1_000_000;
const BATCH: u64 = 10_000;

fn run(store: &mut Store, request: &str) {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, Instant::now(), &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(r#""st":1"#), "{request:.60}: {text:.200}");
}

/// Resident memory in bytes, where the OS says.
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

fn live() -> u64 {
    LIVE_BYTES.load(Ordering::Relaxed) as u64
}

/// Waits (with a deadline) until the `ndb-free` thread has given the heap
/// back to `target` bytes or less.
fn settle_to(target: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while live() > target && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    live()
}

/// A type's prefix, its `i`-th item, and the most bytes an item may take.
type Case = (&'static str, fn(u64) -> String, f64);

const CASES: [Case; 5] = [
    ("IARR", |i| i.to_string(), 8.0),
    ("SIARR", |i| i.to_string(), 8.0),
    // 16-byte strings.
    ("STRARR", |i| format!(r#""s{i:015}""#), 32.0),
    ("OARR", |i| format!(r#"{{"id":{i}}}"#), 64.0),
    ("OLST", |i| format!(r#"{{"id":{i}}}"#), 64.0),
];

/// The variable that makes a child process run one case.
const CASE_VAR: &str = "NDB_CONTAINER_MEMORY_CASE";

#[test]
fn a_million_items_cost_what_the_docs_say_and_come_back() {
    if let Ok(prefix) = std::env::var(CASE_VAR) {
        let case = CASES.iter().find(|case| case.0 == prefix).expect("a known case");
        measure(case);
        return;
    }
    println!("{:<8} {:>12} {:>12} {:>12} {:>12}", "type", "heap/item", "counted/item", "RSS/item", "after delete");
    for (prefix, _, _) in CASES {
        let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                "a_million_items_cost_what_the_docs_say_and_come_back",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CASE_VAR, prefix)
            .output()
            .expect("run the case");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{prefix}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        // The harness prints the test's name on the line the figures start.
        let marker = format!("{prefix:<8} ");
        let line = stdout.lines().find_map(|l| l.find(&marker).map(|at| &l[at..])).expect("a figure line");
        println!("{}", line.trim_end_matches(" ok").trim_end());
    }
}

fn measure(&(prefix, item, most_per_item): &Case) {
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    store.set_container_limits(Limits { max_capacity: ITEMS, array_max_response: 10_000, list_max_response: 10_000 });
    // Warm up what a first request allocates once (the free thread's
    // channel, the namespaces' tables).
    run(&mut store, r#"{"IARR_CREATE":{"name":"warm","len":1}}"#);
    run(&mut store, r#"{"IARR_DELETE":{"name":"warm"}}"#);
    {
        let (heap_before, rss_before, counted_before) = (live(), rss(), store.containers().bytes());
        let create = if prefix == "OLST" {
            r#"{"OLST_CREATE":{"name":"m"}}"#.to_owned()
        } else {
            format!(r#"{{"{prefix}_CREATE":{{"name":"m","len":{ITEMS}}}}}"#)
        };
        run(&mut store, &create);
        let op = if prefix == "OLST" { "ADD" } else { "SET_RNG" };
        for start in (0..ITEMS).step_by(BATCH as usize) {
            let items: Vec<String> = (start..start + BATCH).map(item).collect();
            run(&mut store, &format!(r#"{{"{prefix}_{op}":{{"name":"m","items":[{}]}}}}"#, items.join(",")));
        }
        let heap_total = live() - heap_before;
        let heap = heap_total as f64 / ITEMS as f64;
        let counted_total = store.containers().bytes() - counted_before;
        let counted = counted_total as f64 / ITEMS as f64;
        let resident = rss().zip(rss_before).map(|(a, b)| a.saturating_sub(b) as f64 / ITEMS as f64);
        run(&mut store, &format!(r#"{{"{prefix}_DELETE":{{"name":"m"}}}}"#));
        let left = settle_to(heap_before + 64 * 1024).saturating_sub(heap_before);
        println!(
            "{prefix:<8} {heap:>10.1} B {counted:>10.1} B {:>10} {:>10} B",
            resident.map_or("-".to_owned(), |r| format!("{r:.1} B")),
            left
        );
        // Per item, plus a fixed overhead per container (its namespace
        // entry, name and the table's growth): at most 4 KiB.
        assert!(
            heap_total as f64 <= most_per_item * ITEMS as f64 + 4096.0,
            "{prefix}: {heap_total} bytes on the heap for {ITEMS} items"
        );
        // The accounting a memory cap will use never counts less than the
        // allocations (it models glibc's chunks, so it counts a little
        // more), but for the namespace table's first allocation.
        assert!(counted_total + 4096 >= heap_total, "{prefix}: counted {counted_total} < heap {heap_total}");
        assert!(left <= 64 * 1024, "{prefix}: {left} bytes left after DELETE");
        assert_eq!(store.containers().bytes(), counted_before, "{prefix}: the count returns");
    }
}
