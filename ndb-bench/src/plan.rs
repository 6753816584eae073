//! What each thread sends: its share of connections and requests, the
//! phases of a run, and how the keys of each request are chosen.
//!
//! Pure bookkeeping over counts and key numbers. The worker asks a [`Plan`]
//! whether it may send and which keys to use; nothing here touches a
//! socket or a clock.

use crate::args::Config;
use crate::request::{self, MAX_KEY_SPACE, Test};
use crate::schedule::Schedule;

/// Most keys in one preload request, and most bytes in one preload message:
/// well under the 8 KiB message limit of the original server.
const PRELOAD_KEYS_PER_REQUEST: usize = 100;
const PRELOAD_MESSAGE_BYTES: usize = 7 * 1024;

/// One step of the run, the same for every thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `KV_SET` of keys `0..--preload`, several per request.
    Preload,
    /// One test.
    Test(Test),
    /// The requests of `--body` and `--mix`, drawn by weight.
    Custom,
}

impl Phase {
    /// Name used in progress lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Preload => "preload",
            Phase::Test(test) => test.name(),
            Phase::Custom => "custom",
        }
    }

    /// Whether each connection needs a session (from `SH_NEW`) for it.
    pub fn needs_session(self, config: &Config) -> bool {
        match self {
            Phase::Preload => false,
            Phase::Test(test) => test.needs_session(),
            Phase::Custom => config.custom.iter().any(|entry| entry.request.needs_session()),
        }
    }
}

/// Keys each preload request sets, for values of `value_bytes`.
pub fn preload_keys_per_request(value_bytes: usize, preload: u64) -> usize {
    // "key:000000000000":"…", plus a comma.
    let per_key = request::KEY_DIGITS + 10 + value_bytes;
    (PRELOAD_MESSAGE_BYTES / per_key)
        .clamp(1, PRELOAD_KEYS_PER_REQUEST)
        .min(usize::try_from(preload).unwrap_or(usize::MAX).max(1))
}

/// A thread's part of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Thread number.
    pub index: usize,
    /// Run-wide number of this thread's first connection.
    pub first_conn: usize,
    /// Connections on this thread.
    pub conns: usize,
    /// Connections in the whole run.
    pub all_conns: usize,
}

impl Share {
    /// The shares of `threads` threads in `connections` connections, as even as possible.
    pub fn split(connections: usize, threads: usize) -> Vec<Share> {
        let mut first_conn = 0;
        (0..threads)
            .map(|index| {
                let conns = connections / threads + usize::from(index < connections % threads);
                let share = Share { index, first_conn, conns, all_conns: connections };
                first_conn += conns;
                share
            })
            .collect()
    }

    /// This thread's part of `total` requests, in proportion to its
    /// connections: `(first request number, count)`. The parts of all
    /// threads add up to `total` exactly.
    pub fn requests(&self, total: u64) -> (u64, u64) {
        let at = |conns: usize| (u128::from(total) * conns as u128 / self.all_conns as u128) as u64;
        let first = at(self.first_conn);
        (first, at(self.first_conn + self.conns) - first)
    }
}

/// How the keys of each request are chosen.
#[derive(Clone, Copy, Debug)]
enum Keys {
    /// Always `key:000000000000`.
    Fixed,
    /// Uniformly random in `[0, n)`.
    Random(u64),
    /// Consecutive from `next`, wrapping at `space` (preload).
    Sequential { next: u64, space: u64 },
}

/// What is left to send in the current phase.
#[derive(Debug)]
pub struct Plan {
    keys: Keys,
    /// Requests queued so far.
    pub sent: u64,
    /// Requests to send in all (`u64::MAX` until `stop_ns`).
    pub total: u64,
    /// Closed loop with `--duration`: no new request from this ns on.
    stop_ns: u64,
    /// Open loop: when each request is due; `None` in closed loop.
    pub schedule: Option<Schedule>,
    /// Requests in flight allowed per connection.
    pub pipeline: usize,
}

impl Plan {
    /// What thread `share` sends in `phase`.
    pub fn new(phase: Phase, config: &Config, share: Share) -> Plan {
        let unlimited = Plan {
            keys: Keys::Fixed,
            sent: 0,
            total: u64::MAX,
            stop_ns: u64::MAX,
            schedule: None,
            pipeline: config.pipeline,
        };
        if phase == Phase::Preload {
            let per_request = preload_keys_per_request(config.value_bytes, config.preload) as u64;
            let space = config.preload.max(1);
            let (first, count) = share.requests(config.preload.div_ceil(per_request));
            return Plan {
                keys: Keys::Sequential { next: (first * per_request) % space, space },
                total: count,
                ..unlimited
            };
        }
        let keys = match config.key_space {
            Some(n) => Keys::Random(n.min(MAX_KEY_SPACE)),
            None => Keys::Fixed,
        };
        let duration_ns = config.duration.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        match (config.rate, duration_ns) {
            (Some(rate), _) => {
                let schedule = Schedule::new(rate, share.all_conns, share.conns, share.index);
                let total = match duration_ns {
                    Some(ns) => schedule.count_before(ns),
                    None => share.requests(config.requests).1,
                };
                Plan { keys, total, schedule: Some(schedule), ..unlimited }
            }
            (None, Some(ns)) => Plan { keys, stop_ns: ns, ..unlimited },
            (None, None) => Plan { keys, total: share.requests(config.requests).1, ..unlimited },
        }
    }

    /// Whether nothing more may be sent at `now_ns`.
    pub fn is_exhausted(&self, now_ns: u64) -> bool {
        self.sent >= self.total || now_ns >= self.stop_ns
    }

    /// Chooses the keys of the next request, which holds `per_request`
    /// keys: `(first key, key space)`. `random(n)` draws a number in `[0, n)`.
    pub fn keys(&mut self, per_request: usize, random: impl FnOnce(u64) -> u64) -> (u64, u64) {
        match &mut self.keys {
            Keys::Fixed => (0, 1),
            Keys::Random(n) => (random(*n), *n),
            Keys::Sequential { next, space } => {
                let first = *next;
                *next = (*next + per_request as u64) % *space;
                (first, *space)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_and_requests_split_evenly_and_completely() {
        let shares = Share::split(50, 3);
        assert_eq!(shares.iter().map(|s| s.conns).collect::<Vec<_>>(), vec![17, 17, 16]);
        assert_eq!(shares.iter().map(|s| s.first_conn).collect::<Vec<_>>(), vec![0, 17, 34]);
        for total in [0, 1, 7, 100_000, 1_000_003] {
            let parts: Vec<(u64, u64)> = shares.iter().map(|s| s.requests(total)).collect();
            assert_eq!(parts.iter().map(|p| p.1).sum::<u64>(), total);
            assert_eq!(parts[0].0, 0);
            assert_eq!(parts[1].0, parts[0].1);
            assert_eq!(parts[2].0, parts[0].1 + parts[1].1);
        }
    }

    #[test]
    fn preload_across_threads_sets_every_key() {
        let config = Config { preload: 1050, connections: 5, threads: 3, ..Config::default() };
        let per_request = preload_keys_per_request(config.value_bytes, config.preload);
        let mut set = vec![false; 1050];
        for share in Share::split(config.connections, config.threads) {
            let mut plan = Plan::new(Phase::Preload, &config, share);
            while !plan.is_exhausted(0) {
                let (first, space) = plan.keys(per_request, |_| unreachable!());
                assert_eq!(space, 1050);
                for i in 0..per_request as u64 {
                    set[((first + i) % space) as usize] = true;
                }
                plan.sent += 1;
            }
        }
        assert!(set.iter().all(|&s| s));
    }

    #[test]
    fn tests_use_one_fixed_key_or_random_keys_in_the_space() {
        let share = Share::split(1, 1)[0];
        let mut fixed = Plan::new(Phase::Test(Test::KvGet), &Config::default(), share);
        assert_eq!(fixed.keys(1, |_| unreachable!()), (0, 1));
        let config = Config { key_space: Some(77), ..Config::default() };
        let mut random = Plan::new(Phase::Test(Test::KvGet), &config, share);
        assert_eq!(random.keys(1, |n| n - 1), (76, 77));
        assert_eq!(random.total, config.requests);
    }

    #[test]
    fn open_loop_with_a_duration_sends_what_the_schedule_holds() {
        let config =
            Config { rate: Some(1000), duration: Some(std::time::Duration::from_secs(2)), ..Config::default() };
        let shares = Share::split(config.connections, 2);
        let total: u64 = shares.iter().map(|&s| Plan::new(Phase::Test(Test::KvSet), &config, s).total).sum();
        assert_eq!(total, 2000);
        let closed = Config { duration: config.duration, ..Config::default() };
        let plan = Plan::new(Phase::Test(Test::KvSet), &closed, shares[0]);
        assert!(plan.schedule.is_none() && !plan.is_exhausted(1_999_999_999) && plan.is_exhausted(2_000_000_000));
    }

    #[test]
    fn preload_batches_stay_small_and_never_exceed_the_key_count() {
        assert_eq!(preload_keys_per_request(16, 1_000_000), 100);
        assert_eq!(preload_keys_per_request(1000, 1_000_000), 7);
        assert_eq!(preload_keys_per_request(100_000, 1_000_000), 1);
        assert_eq!(preload_keys_per_request(16, 3), 3);
    }
}
