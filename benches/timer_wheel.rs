//! TimerWheel at the scale ndb runs it: a million session timers.
//!
//! Each benchmark does one million operations per iteration, so divan's time per
//! iteration in milliseconds reads directly as nanoseconds per operation.
//! Deadlines are spread uniformly over one hour, like session TTLs set over time.
//!
//! Run with `cargo bench --bench timer_wheel`.

use common::Rng;
use divan::Bencher;
use ndb::internals::timer_wheel::{TimerKey, TimerWheel};

mod common;

fn main() {
    divan::main();
}

/// Timers per iteration.
const N: usize = 1_000_000;
/// Deadlines fall within one hour (in ms) of the wheel's current tick.
const SPREAD_MS: u64 = 3_600_000;

fn spread_deadlines(rng: &mut Rng) -> Vec<u64> {
    (0..N).map(|_| 1 + rng.below(SPREAD_MS)).collect()
}

/// A wheel holding `N` timers with spread deadlines, and their keys.
fn full_wheel(rng: &mut Rng) -> (TimerWheel<u64>, Vec<TimerKey>) {
    let mut wheel = TimerWheel::with_capacity(N);
    let keys = (0..N as u64).map(|i| wheel.insert(1 + rng.below(SPREAD_MS), i)).collect();
    (wheel, keys)
}

/// Inserts one million timers into a wheel sized for them.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn insert_1m(bencher: Bencher) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    bencher.with_inputs(|| (TimerWheel::with_capacity(N), spread_deadlines(&mut rng))).bench_local_values(
        |(mut wheel, deadlines)| {
            for (i, deadline) in deadlines.into_iter().enumerate() {
                wheel.insert(deadline, i as u64);
            }
            wheel
        },
    );
}

/// Inserts one million timers into an empty wheel that grows as it goes.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn insert_1m_growing(bencher: Bencher) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    bencher.with_inputs(|| spread_deadlines(&mut rng)).bench_local_values(|deadlines| {
        let mut wheel = TimerWheel::new();
        for (i, deadline) in deadlines.into_iter().enumerate() {
            wheel.insert(deadline, i as u64);
        }
        wheel
    });
}

/// Cancels one million timers in random order.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn cancel_1m(bencher: Bencher) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    bencher
        .with_inputs(|| {
            let (wheel, mut keys) = full_wheel(&mut rng);
            for i in (1..keys.len()).rev() {
                keys.swap(i, rng.below(i as u64 + 1) as usize);
            }
            (wheel, keys)
        })
        .bench_local_values(|(mut wheel, keys)| {
            for key in keys {
                divan::black_box(wheel.cancel(key));
            }
            wheel
        });
}

/// Fires one million timers the way an event loop does: sleep until
/// `next_deadline()`, then poll until `None`.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn expire_1m_at_next_deadline(bencher: Bencher) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    bencher.with_inputs(|| full_wheel(&mut rng).0).bench_local_values(|mut wheel| {
        let mut fired = 0;
        while let Some(now) = wheel.next_deadline() {
            while let Some(value) = wheel.poll(now) {
                fired += divan::black_box(value) & 1;
            }
        }
        divan::black_box(fired);
        wheel
    });
}

/// Like `expire_1m_at_next_deadline`, but deadlines rise with insertion order, as
/// when sessions with one TTL are created at a steady rate: a slot's timers then sit
/// close together in memory, and cascading them mostly hits the cache.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn expire_1m_in_insertion_order(bencher: Bencher) {
    bencher
        .with_inputs(|| {
            let mut wheel = TimerWheel::with_capacity(N);
            for i in 0..N as u64 {
                wheel.insert(1 + i * SPREAD_MS / N as u64, i);
            }
            wheel
        })
        .bench_local_values(|mut wheel| {
            let mut fired = 0;
            while let Some(now) = wheel.next_deadline() {
                while let Some(value) = wheel.poll(now) {
                    fired += divan::black_box(value) & 1;
                }
            }
            divan::black_box(fired);
            wheel
        });
}

/// Fires one million timers polling on a fixed 10 ms tick through the hour,
/// including the 360,000 polls that find nothing due.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn expire_1m_every_10ms(bencher: Bencher) {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    bencher.with_inputs(|| full_wheel(&mut rng).0).bench_local_values(|mut wheel| {
        let mut fired = 0;
        for now in (0..=SPREAD_MS + 10).step_by(10) {
            while let Some(value) = wheel.poll(now) {
                fired += divan::black_box(value) & 1;
            }
        }
        divan::black_box(fired);
        wheel
    });
}

/// Steady state with one million live timers: each operation cancels a random
/// live timer and inserts its replacement an hour-spread ahead (a session touch
/// that re-arms); time advances 1 ms every 1,000 operations and due timers fire.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn touch_1m_in_steady_state(bencher: Bencher) {
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    bencher
        .with_inputs(|| {
            let (wheel, keys) = full_wheel(&mut rng);
            let picks: Vec<usize> = (0..N).map(|_| rng.below(N as u64) as usize).collect();
            let ttls: Vec<u64> = (0..N).map(|_| 1 + rng.below(SPREAD_MS)).collect();
            (wheel, keys, picks, ttls)
        })
        .bench_local_values(|(mut wheel, mut keys, picks, ttls)| {
            let mut now = 0;
            for (i, (pick, ttl)) in picks.into_iter().zip(ttls).enumerate() {
                if i % 1_000 == 0 {
                    now += 1;
                    while let Some(value) = wheel.poll(now) {
                        // An expired session's slot gets a fresh timer too.
                        keys[value as usize] = wheel.insert(now + ttl, value);
                    }
                }
                if let Some(value) = wheel.cancel(keys[pick]) {
                    keys[pick] = wheel.insert(now + ttl, value);
                }
            }
            (wheel, keys)
        });
}
