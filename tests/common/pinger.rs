//! A client that times `KV_GET` round trips while something else runs, for
//! the stress tests that measure what a save or a search costs everyone
//! else.

use std::time::{Duration, Instant};

/// Sends `KV_GET`s of `key:000000123456` back to back (one in flight) for
/// `limit` or until `done`; returns each round trip.
pub fn ping(client: &mut super::Client, limit: Duration, done: impl Fn() -> bool) -> Vec<Duration> {
    let until = Instant::now() + limit;
    let mut trips = Vec::new();
    while !done() && Instant::now() < until {
        let sent = Instant::now();
        let reply = client.call(r#"{"KV_GET":{"keys":["key:000000123456"]}}"#);
        trips.push(sent.elapsed());
        assert!(reply.ends_with(r#""st":1}}"#), "{reply}");
    }
    trips
}

/// Like [`ping`], but one `KV_GET` every `every` (the next is sent that long
/// after the previous one was, or at once if its reply came later): a
/// client that polls, as in issue 13's measurements, and that leaves the
/// CPU idle in between, so threads at a lower priority (the save and search
/// threads) get more of a host with few cores.
pub fn ping_every(
    client: &mut super::Client,
    every: Duration,
    limit: Duration,
    done: impl Fn() -> bool,
) -> Vec<Duration> {
    let until = Instant::now() + limit;
    let mut trips = Vec::new();
    while !done() && Instant::now() < until {
        let sent = Instant::now();
        let reply = client.call(r#"{"KV_GET":{"keys":["key:000000123456"]}}"#);
        trips.push(sent.elapsed());
        assert!(reply.ends_with(r#""st":1}}"#), "{reply}");
        if let Some(rest) = every.checked_sub(sent.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    trips
}

/// Round trips as `n round trips, median …, p99 …, p99.9 …, worst …`.
pub fn summary(mut trips: Vec<Duration>) -> String {
    trips.sort();
    let at = |q: f64| trips[((trips.len() as f64 * q) as usize).min(trips.len() - 1)];
    format!(
        "{} round trips, median {:?}, p99 {:?}, p99.9 {:?}, worst {:?}",
        trips.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        trips[trips.len() - 1]
    )
}
