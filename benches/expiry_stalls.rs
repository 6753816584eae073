//! The longest single stop that expiry causes in an event loop, which a
//! throughput benchmark cannot show. Prints one table; no divan.
//!
//! - wheel: a million timers with random deadlines over an hour, fired the
//!   way a loop does it (sleep until `next_deadline`, then poll). Unbounded
//!   `poll` cascades a whole slot in one call; `poll_bounded` with a budget
//!   per turn stops inside it.
//! - store: 200,000 sessions due within one second (created over a second)
//!   and within one millisecond (created at once), and a million sessions
//!   with random deadlines over an hour, each drained with `Store::expire`
//!   once per turn (the server's budget) and, for comparison, with no limit.
//!
//! Each turn is timed on the thread's CPU clock (what the turn cost) and on
//! the wall clock (what a client waited, preemption by other processes
//! included).
//!
//! Run with `cargo bench --bench expiry_stalls`.

use std::time::{Duration, Instant};

use common::Rng;
use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::sessions::Budget;
use ndb::internals::store::{MAX_CASCADE_MOVES_PER_TICK, MAX_EXPIRE_PER_TICK, ServerInfo, Store};
use ndb::internals::timer_wheel::TimerWheel;

mod common;

/// This thread's CPU time: unlike the wall clock, it does not count the
/// time the thread spent waiting for a core, so a busy machine does not
/// pass for a slow turn.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A turn being timed, on both clocks.
struct Timer(Instant, Duration);

impl Timer {
    fn start() -> Timer {
        Timer(Instant::now(), cpu_time())
    }
}

/// What one drain looked like.
struct Stalls {
    /// Per turn: (wall, CPU) time.
    turns: Vec<(Duration, Duration)>,
}

impl Stalls {
    fn new() -> Stalls {
        Stalls { turns: Vec::new() }
    }

    fn turn(&mut self, timer: Timer) {
        self.turns.push((timer.0.elapsed(), cpu_time().saturating_sub(timer.1)));
    }

    fn print(&self, what: &str) {
        let mut cpu: Vec<Duration> = self.turns.iter().map(|t| t.1).collect();
        cpu.sort_unstable();
        let at = |q: f64| cpu[((cpu.len() - 1) as f64 * q) as usize];
        let wall = self.turns.iter().map(|t| t.0).max().unwrap_or_default();
        let total: Duration = cpu.iter().sum();
        println!(
            "{what:<50} {:>7} turns  CPU: worst {:>9.3?} p99.99 {:>9.3?} total {:>8.1?}  (wall worst {:>9.3?})",
            self.turns.len(),
            at(1.0),
            at(0.9999),
            total,
            wall
        );
    }
}

fn main() {
    println!("one wheel, 1,000,000 timers, random deadlines over one hour");
    wheel(None).print("  poll (unbounded cascade), each call timed");
    for moves in [1_024, MAX_CASCADE_MOVES_PER_TICK, 16_384, 65_536] {
        let default = if moves == MAX_CASCADE_MOVES_PER_TICK { " (the server's)" } else { "" };
        wheel(Some(moves)).print(&format!("  poll_bounded, {moves} moves per turn{default}"));
    }

    println!(
        "store, Store::expire once per turn (budget {MAX_EXPIRE_PER_TICK} work, {MAX_CASCADE_MOVES_PER_TICK} moves)"
    );
    let spread = |i: usize, n: usize| Duration::from_micros(i as u64 * 1_000_000 / n as u64);
    for limited in [true, false] {
        let how = if limited { "budgeted" } else { "unlimited" };
        store(200_000, 2, limited, spread).print(&format!("  200,000 due within one second, {how}"));
        store(200_000, 2, limited, |_, _| Duration::ZERO).print(&format!("  200,000 due in the same ms, {how}"));
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let random = move |_, _| Duration::from_millis(rng.below(3_600_000));
        store(1_000_000, 60, limited, random).print(&format!("  1,000,000, random over an hour, {how}"));
    }
}

/// Fires a million random timers; each "turn" is what one loop turn does.
fn wheel(moves: Option<usize>) -> Stalls {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut wheel = TimerWheel::with_capacity(1_000_000);
    for i in 0..1_000_000u64 {
        wheel.insert(1 + rng.below(3_600_000), i);
    }
    let mut stalls = Stalls::new();
    while let Some(next) = wheel.next_deadline() {
        let now = next.max(wheel.current_tick());
        match moves {
            // Each call is timed on its own: a cascade happens inside one.
            None => loop {
                let timer = Timer::start();
                let fired = wheel.poll(now);
                stalls.turn(timer);
                if fired.is_none() {
                    break;
                }
            },
            Some(moves) => {
                let timer = Timer::start();
                let mut budget = moves;
                while wheel.poll_bounded(now, &mut budget).is_some() {}
                stalls.turn(timer);
            }
        }
    }
    stalls
}

/// Creates `n` sessions of `duration` seconds at `t0 + created(i, n)`, then
/// drains them as the server's loop does.
fn store(n: usize, duration: u64, limited: bool, mut created: impl FnMut(usize, usize) -> Duration) -> Stalls {
    let t0 = Instant::now();
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    let mut out = Vec::new();
    let request = format!(r#"{{"SH_NEW":{{"expiry":{{"duration":{duration},"deleteSession":true}}}}}}"#);
    for i in 0..n {
        out.clear();
        let mut reply = Reply::new(&mut out, Protocol::V07);
        if let Ok(command) = decode(&request) {
            let _ = store.execute(command, t0 + created(i, n), &mut reply);
        }
    }
    let mut stalls = Stalls::new();
    let mut now = t0;
    while let Some(next) = store.next_deadline() {
        now = now.max(next);
        let timer = Timer::start();
        if limited {
            store.expire(now);
        } else {
            store.expire_within(now, &mut Budget::UNLIMITED.clone());
        }
        stalls.turn(timer);
    }
    assert!(store.sessions().is_empty());
    stalls
}
